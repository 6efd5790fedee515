"""Builders for boundary tests: a line between two real counties, markers along it, a surveyor.

`add_line` inserts a current `boundary_lines` row whose geometry is the two real county polygons'
shared edge (the smaller code's boundary within ~100 m of the other), so positions taken from it lie
inside both parties; the derived line of the same pair, if set-up loaded one, is closed inside the test's
transaction. The default pairs are in 湖州市, where the demo data has no markers or inspections, and the
test line numbers start with T, far above the base-36 serials the derivation hands out, so demo rows never
mix into a test's line. `add_markers` registers N single markers spread along it through
`boundaries.markers.register_marker`, numbered 001… in the line's own order.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from boundaries.markers import Marker, NewMarker, register_marker

LEFT, RIGHT = "330502", "330503"          # 湖州市吴兴区 | 南浔区: adjacent, both with demo polygons
FAR_LEFT, FAR_RIGHT = "330522", "330523"  # 长兴县 | 安吉县
THIRD_LEFT, THIRD_RIGHT = "330521", "330523"  # 德清县 | 安吉县


def add_line(session: Session, left: str = LEFT, right: str = RIGHT, *, level: str = "county",
             line_number: str = "T001", last_inspection: str | None = None) -> str:
    """Insert the line between LEFT and RIGHT (codes in any order); returns its line_id."""
    left, right = sorted((left, right))
    line_id = f"{left}-{right}"
    session.execute(text("UPDATE boundary_lines SET valid_to = current_date "
                         "WHERE valid_to IS NULL AND (line_id = :id OR line_number = :number)"),
                    {"id": line_id, "number": line_number})
    session.execute(text("""
        INSERT INTO boundary_lines (line_id, level, left_code, right_code, line_number, name, geom, length_m,
                                    approving_authority, last_inspection, geom_source)
        SELECT :line_id, :level, a.code, b.code, :number, a.name || '—' || b.name || '线', g,
               ST_Length(g::geography), '浙江省人民政府', CAST(:last AS date), 'test: shared edge'
        FROM divisions a, divisions b,
             LATERAL (SELECT ST_Multi(ST_CollectionExtract(
                 ST_Intersection(ST_Boundary(a.geom), ST_Buffer(b.geom, 0.001)), 2)) AS g) edge
        WHERE a.code = :left AND b.code = :right AND a.valid_to IS NULL AND b.valid_to IS NULL
    """), {"line_id": line_id, "level": level, "number": line_number, "last": last_inspection,
           "left": left, "right": right})
    return line_id


def points_along(session: Session, line_id: str, count: int) -> list[tuple[float, float]]:
    """COUNT points evenly spaced along the line's longest part, (lon, lat)."""
    rows = session.execute(text("""
        WITH part AS (
            SELECT (ST_Dump(geom)).geom AS g FROM boundary_lines WHERE line_id = :id AND valid_to IS NULL
            ORDER BY ST_Length((ST_Dump(geom)).geom) DESC LIMIT 1)
        SELECT ST_X(p), ST_Y(p) FROM part,
               LATERAL (SELECT ST_LineInterpolatePoint(g, (i + 0.5) / :n) AS p
                        FROM generate_series(0, :n - 1) i) pts
    """), {"id": line_id, "n": count}).all()
    return [(row[0], row[1]) for row in rows]


def add_markers(session: Session, line_id: str, count: int = 3, *, line_number: str = "T001",
                managing_party: str | None = None) -> list[Marker]:
    """Register COUNT single markers (单立, type code Q) along the line, numbered from 001."""
    party = managing_party or line_id.split("-")[0]
    return [register_marker(session, NewMarker(f"{line_number}{seq:03d}Q", line_id, "单立", lon, lat, party,
                                               precision_m=0.05), actor="test")
            for seq, (lon, lat) in enumerate(points_along(session, line_id, count), start=1)]
