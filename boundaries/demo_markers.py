"""Demo boundaries: the lines derived nationally from the demo polygons, and synthetic markers (界桩) on the
county lines of 杭州市 and the 浙江—安徽 provincial line.

Markers are spread along each demo line about every `SPACING_M` (at least 2, at most 40 a line) and
numbered from 001 in the line's §5.3 order (`marker_register.line_axis`), so rule 40 holds. Most are
单立 (Q); every `PAIR_EVERY`-th sequence is a 同号双立 pair, A about 5 m into the party with the smaller
code and B into the other. Each tri-junction whose three lines include the demo line as the one with the
smallest line_id gets a C/D/E set (type 三交点), one marker in each of its three divisions.

Invented attributes, all drawn from a seed per line (the same lines always give the same markers):
managing party alternating between the two parties by sequence (the party a marker stands in for pairs
and tri-junction sets), precision 0.05–0.5 m, 1–3 reference objects (方位物), erected 2003–2015, and
`last_inspection` between 2019 and 2024 (so some lines are overdue). Statuses: about 91 % 完好; 4 %
损坏, 3 % 丢失 and 2 % 移位 "from an earlier check", each set through `change_marker(source="demo")` with
its repair task opened (rule 37). The demo joint inspections are replayed on top of these later.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection, text

from boundaries.findings import open_repair_task
from boundaries.lines import LEVELS, derive_lines, derive_tri_junctions
from boundaries.marker_register import axis_key, line_axis
from boundaries.markers import NewMarker, change_marker, register_marker
from data import audit

DEMO_DATASET = "demo-boundaries"
ACTOR = "demo"
SEED = 20261124
SCOPE_PREFIX = "3301"                 # 杭州市
PROVINCIAL_LINE = "330000-340000"     # 浙江—安徽
SPACING_M = 3000.0
MIN_PER_LINE, MAX_PER_LINE = 2, 40
PAIR_EVERY = 6
OFFSET_M = 5.0
METRES_PER_DEGREE = 111_320.0  # of latitude; "about 5 m" needs no better
ERECTED = (dt.date(2003, 1, 1), dt.date(2015, 12, 31))
INSPECTED = (dt.date(2019, 1, 1), dt.date(2024, 12, 31))
STATUS_PERCENT = (("损坏", 4), ("丢失", 3), ("移位", 2))
REFERENCE_OBJECTS = ("电杆", "通信杆", "古树", "房屋墙角", "桥墩", "涵洞口", "水渠闸门", "独立岩石", "里程碑", "路口")


@dataclass(frozen=True, slots=True)
class _Line:
    line_id: str
    level: str
    left_code: str
    right_code: str
    line_number: str


@dataclass(frozen=True, slots=True)
class _Station:
    lon: float
    lat: float
    tri_junction: str | None = None
    codes: tuple[str, ...] = ()


def demo_line_ids(conn: Connection) -> list[str]:
    """The current county lines with a party in 杭州市, and the 浙江—安徽 provincial line."""
    return conn.execute(text(
        "SELECT line_id FROM boundary_lines WHERE valid_to IS NULL AND ((level = 'county' AND "
        "(left_code LIKE :p OR right_code LIKE :p)) OR line_id = :provincial) ORDER BY line_id"),
        {"p": SCOPE_PREFIX + "%", "provincial": PROVINCIAL_LINE}).scalars().all()


def _date(rng: random.Random, span: tuple[dt.date, dt.date]) -> dt.date:
    return span[0] + dt.timedelta(days=rng.randrange((span[1] - span[0]).days + 1))


def _stations(conn: Connection, line: _Line) -> list[_Station]:
    """Points spread evenly over the line's length (over all its parts), and its tri-junctions."""
    length = conn.execute(text("SELECT length_m FROM boundary_lines WHERE line_id = :id AND valid_to IS NULL"),
                          {"id": line.line_id}).scalar_one()
    count = max(MIN_PER_LINE, min(MAX_PER_LINE, round(length / SPACING_M)))
    rows = conn.execute(text("""
        WITH parts AS (
            SELECT d.path[1] AS idx, d.geom AS g, ST_Length(d.geom::geography) AS len
            FROM boundary_lines l, ST_Dump(l.geom) d WHERE l.line_id = :id AND l.valid_to IS NULL
        ), cum AS (
            SELECT g, len, sum(len) OVER (ORDER BY idx) - len AS start, sum(len) OVER () AS total FROM parts
        ), at AS (
            SELECT (i + 0.5) * (SELECT max(total) FROM cum) / :n AS m FROM generate_series(0, :n - 1) i
        )
        SELECT ST_X(p), ST_Y(p) FROM at
        JOIN cum ON at.m >= cum.start AND at.m < cum.start + cum.len
        CROSS JOIN LATERAL ST_LineInterpolatePoint(cum.g, least(1.0, (at.m - cum.start) / cum.len)) p
    """), {"id": line.line_id, "n": count}).all()
    tri = conn.execute(text(
        "SELECT id, codes, ST_X(geom), ST_Y(geom) FROM tri_junctions WHERE level = :level AND codes[1] = :l "
        "AND codes[2] = :r ORDER BY id"), {"level": line.level, "l": line.left_code, "r": line.right_code}).all()
    return [_Station(x, y) for x, y in rows] + [_Station(x, y, tid, tuple(codes)) for tid, codes, x, y in tri]


def _inside_near(conn: Connection, level: str, code: str, lon: float, lat: float) -> tuple[float, float]:
    """A point inside division CODE about OFFSET_M from its boundary point nearest to (LON, LAT)."""
    pattern = code[:2] + "%" if level == "province" else code
    part_level = LEVELS["township"] if level == "township" else LEVELS["county"]
    row = conn.execute(text("""
        WITH pt AS (SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4490) AS g),
        part AS (SELECT p.geom FROM division_parts p, pt WHERE p.level = :plevel AND p.code LIKE :pattern
                   AND p.geom && ST_Expand(pt.g, 0.05) ORDER BY ST_Distance(p.geom, pt.g) LIMIT 1),
        near AS (SELECT part.geom, ST_ClosestPoint(part.geom, pt.g) AS q FROM part, pt)
        SELECT ST_X(s), ST_Y(s) FROM near
        CROSS JOIN LATERAL ST_PointOnSurface(ST_Intersection(near.geom, ST_Buffer(near.q, :r))) s
    """), {"lon": lon, "lat": lat, "plevel": part_level, "pattern": pattern, "r": 2 * OFFSET_M / METRES_PER_DEGREE}).one()
    return row[0], row[1]


def _reference_objects(rng: random.Random) -> tuple[dict, ...]:
    return tuple({"name": rng.choice(REFERENCE_OBJECTS), "bearing_deg": round(rng.uniform(0, 360), 1),
                  "distance_m": round(rng.uniform(3, 60), 1)} for _ in range(rng.randint(1, 3)))


def _markers_at(conn: Connection, line: _Line, seq: int, station: _Station) -> list[tuple[str, str, str | None,
                                                                                           float, float]]:
    """(type, type code, side, lon, lat) of the markers at one numbered station."""
    if station.tri_junction:
        return [("三交点", code, side, *_inside_near(conn, line.level, side, station.lon, station.lat))
                for code, side in zip("CDE", station.codes, strict=True)]
    if seq % PAIR_EVERY == 0:
        return [("同号双立", code, side, *_inside_near(conn, line.level, side, station.lon, station.lat))
                for code, side in (("A", line.left_code), ("B", line.right_code))]
    return [("单立", "Q", None, station.lon, station.lat)]


def _place_line(conn: Connection, line: _Line) -> int:
    rng = random.Random(f"{SEED}:{line.line_id}")
    axis = line_axis(conn, line.line_id)
    stations = sorted(_stations(conn, line), key=lambda s: axis_key(axis, s.lon, s.lat))
    placed = 0
    for seq, station in enumerate(stations, start=1):
        for kind, code, side, lon, lat in _markers_at(conn, line, seq, station):
            party = side or (line.left_code if seq % 2 else line.right_code)
            marker = register_marker(conn, NewMarker(
                f"{line.line_number}{seq:03d}{code}", line.line_id, kind, lon, lat, party,
                precision_m=round(rng.uniform(0.05, 0.5), 2), side_code=side, tri_junction_id=station.tri_junction,
                reference_objects=_reference_objects(rng), erected_on=_date(rng, ERECTED).isoformat()),
                actor=ACTOR, source="demo")
            _earlier_check(conn, marker, rng.randrange(100))
            placed += 1
    conn.execute(text("UPDATE boundary_lines SET last_inspection = :d WHERE line_id = :id AND valid_to IS NULL"),
                 {"d": _date(rng, INSPECTED), "id": line.line_id})
    return placed


def _earlier_check(conn: Connection, marker, draw: int) -> None:
    for status, percent in STATUS_PERCENT:
        if draw < percent:
            marker = change_marker(conn, marker.id, {"status": status}, source="demo", actor=ACTOR,
                                   reason="示例数据：早期巡查发现")
            open_repair_task(conn, marker, status, actor=ACTOR)
            return
        draw -= percent


def place_demo_markers(conn: Connection, line_ids: list[str],
                       on_progress: Callable[[int], None] | None = None) -> int:
    """Register demo markers on each of LINE_IDS that has none yet; returns how many were placed."""
    placed = 0
    for line_id in line_ids:
        row = conn.execute(text(
            "SELECT line_id, level, left_code, right_code, line_number FROM boundary_lines l "
            "WHERE line_id = :id AND valid_to IS NULL AND NOT EXISTS (SELECT 1 FROM markers m "
            "WHERE m.line_id = l.line_id)"), {"id": line_id}).first()
        if row is not None:
            placed += _place_line(conn, _Line(*row))
        if on_progress:
            on_progress(1)
    return placed


def load_demo_boundaries(conn: Connection, on_progress: Callable[[int], None] | None = None) -> int:
    """Derive county and provincial lines and tri-junctions nationally, place the demo markers; returns
    the current lines plus the markers placed."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    county = derive_lines(conn, level="county", on_progress=on_progress)
    province = derive_lines(conn, level="province", on_progress=on_progress)
    timings["lines"] = round(time.perf_counter() - started, 2)
    started = time.perf_counter()
    tri = [derive_tri_junctions(conn, level) for level in ("county", "province")]
    timings["tri_junctions"] = round(time.perf_counter() - started, 2)
    started = time.perf_counter()
    lines = demo_line_ids(conn)
    markers = place_demo_markers(conn, lines, on_progress)
    timings["markers"] = round(time.perf_counter() - started, 2)
    details = {"county_lines": county.lines, "provincial_lines": province.lines,
               "tri_junctions": {t.level: t.count for t in tri}, "demo_lines": len(lines), "markers": markers,
               "timings_s": timings, "derive": {"county": county.as_dict(), "province": province.as_dict()}}
    total = county.lines + province.lines + markers
    conn.execute(text(
        "INSERT INTO datasets (name, version, source, terms, row_count, details) "
        "VALUES (:n, '1', :s, :t, :c, CAST(:d AS jsonb)) ON CONFLICT (name) DO UPDATE SET "
        "row_count = EXCLUDED.row_count, details = EXCLUDED.details, loaded_at = now()"),
        {"n": DEMO_DATASET, "c": total, "d": json.dumps(details, ensure_ascii=False),
         "s": "gazetteer demo (boundaries/demo_markers.py): lines derived from the demo polygons, synthetic markers",
         "t": "lines are approximate (derived from the AMap-derived demo polygons); marker numbers, positions, "
              "attributes, statuses and inspection dates are invented"})
    audit.record(conn, actor=audit.SYSTEM, action="import", entity_type="dataset", entity_id=DEMO_DATASET,
                 after={k: v for k, v in details.items() if k != "derive"})
    return total
