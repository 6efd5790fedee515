"""The walking network: import (GeoPackage/GeoJSON lines in any CRS → EPSG:4490, noded), a demo lattice,
and the pgRouting check.

There is one network; an import replaces it. Edges meet only at their ends (`ST_Node`), vertices are
their distinct end points, and both costs are the edge's length in metres (walking goes both ways).
pgRouting (Debian `postgresql-15-pgrouting`) is needed only to route on it (`facilities.coverage`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyogrio
import shapely
from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from data import audit
from data.errors import InvalidInput

SRID = 4490
FORMATS = {".gpkg": "GPKG", ".geojson": "GeoJSON", ".json": "GeoJSON"}
PGROUTING_HINT = ("pgRouting is not installed in this database: install the Debian package "
                  "postgresql-15-pgrouting (sudo apt-get install -y postgresql-15-pgrouting), then run "
                  "`gazetteer setup` (or CREATE EXTENSION pgrouting)")
DEMO_DATASET = "demo-network-330100"
DEMO_SPACING_DEG = 0.0015   # the demo lattice: ≈ 145 m × 165 m blocks around the demo addresses
DEMO_MARGIN_CELLS = 1       # … reaching one block (≈ 150 m) beyond the outermost address
SNAP_GRID = 1e-8            # end points closer than this (≈ 1 mm) are one vertex


@dataclass(frozen=True)
class NetworkReport:
    """What an import or a demo build stored."""

    dataset: str
    lines_read: int
    edges: int
    vertices: int
    length_km: float
    seconds: float

    def as_dict(self) -> dict:
        """JSON-ready form."""
        return {"dataset": self.dataset, "lines_read": self.lines_read, "edges": self.edges,
                "vertices": self.vertices, "length_km": round(self.length_km, 1), "seconds": round(self.seconds, 2)}


def pgrouting_installed(db: Session | Connection) -> bool:
    """Whether the pgrouting extension is created in this database."""
    return db.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'pgrouting'")).first() is not None


def require_pgrouting(db: Session | Connection) -> None:
    """Create the pgrouting extension when its files are installed; otherwise a 422 saying how."""
    if pgrouting_installed(db):
        return
    available = db.execute(text("SELECT 1 FROM pg_available_extensions WHERE name = 'pgrouting'")).first()
    if available is None:
        raise InvalidInput(PGROUTING_HINT, errors=[{"field": "network", "message": "pgRouting missing"}])
    db.execute(text("CREATE EXTENSION IF NOT EXISTS pgrouting"))


def network_edges_in(db: Session | Connection, envelope: tuple[float, float, float, float]) -> int:
    """How many network edges lie (partly) inside ENVELOPE (minlon, minlat, maxlon, maxlat)."""
    return db.execute(text(
        "SELECT count(*) FROM network_edges WHERE geom && ST_MakeEnvelope(:a, :b, :c, :d, 4490)"),
        dict(zip("abcd", envelope, strict=True))).scalar_one()


def read_network_file(path: Path) -> list[shapely.LineString]:
    """The lines of a GeoPackage or GeoJSON file in CGCS2000 lon/lat (multi-lines split; other geometries → 422)."""
    if path.suffix.lower() not in FORMATS:
        raise InvalidInput(f"{path.name}: a network is a {', '.join(sorted(FORMATS))} file of lines",
                           errors=[{"field": "file", "message": "unsupported format"}])
    frame = pyogrio.read_dataframe(path)
    if frame.crs is None:
        raise InvalidInput(f"{path.name} has no CRS; give the file one (e.g. EPSG:4490)",
                           errors=[{"field": "file", "message": "no CRS"}])
    if frame.crs.to_epsg() != SRID:
        frame = frame.to_crs(epsg=SRID)
    lines: list[shapely.LineString] = []
    for number, geom in enumerate(frame.geometry, start=1):
        if geom is None or geom.is_empty:
            continue
        if geom.geom_type not in ("LineString", "MultiLineString"):
            raise InvalidInput(f"{path.name} feature {number}: a {geom.geom_type}, not a line (EPSG:{SRID} after "
                               f"reprojecting from {frame.crs.to_string()})",
                               errors=[{"field": f"feature {number}", "message": "not a line"}])
        lines.extend(shapely.get_parts(geom).tolist())
    if not lines:
        raise InvalidInput(f"{path.name} has no lines", errors=[{"field": "file", "message": "no lines"}])
    return lines


def _clear(conn: Connection | Session) -> None:
    # DELETE, not TRUNCATE: readers (coverage requests) keep working while a network is replaced
    conn.execute(text("DELETE FROM network_edges"))
    conn.execute(text("DELETE FROM network_vertices"))


def load_network(conn: Connection | Session, lines: list[shapely.LineString], *, dataset: str, actor: str,
                 on_progress: Callable[[int], None] | None = None) -> NetworkReport:
    """Replace the network by LINES (EPSG:4490), noded, with vertices and metre costs. Audited."""
    started = time.perf_counter()
    _clear(conn)
    conn.execute(text("DROP TABLE IF EXISTS pg_temp.network_raw"))
    conn.execute(text("CREATE TEMP TABLE network_raw (geom geometry(LineString, 4490)) ON COMMIT DROP"))
    conn.execute(text("INSERT INTO network_raw SELECT ST_GeomFromWKB(decode(:wkb, 'hex'), 4490)"),
                 [{"wkb": shapely.to_wkb(line, hex=True)} for line in lines])
    if on_progress:
        on_progress(len(lines))
    conn.execute(text("DROP TABLE IF EXISTS pg_temp.network_seg"))
    conn.execute(text(
        "CREATE TEMP TABLE network_seg ON COMMIT DROP AS "
        "SELECT geom, ST_SnapToGrid(ST_StartPoint(geom), :g) AS s, ST_SnapToGrid(ST_EndPoint(geom), :g) AS e "
        "FROM (SELECT (ST_Dump(ST_Node(ST_Collect(geom)))).geom AS geom FROM network_raw) n "
        "WHERE ST_Length(geom) > 0"), {"g": SNAP_GRID})
    conn.execute(text(
        "INSERT INTO network_vertices (id, geom) SELECT row_number() OVER (ORDER BY x, y), "
        "ST_SetSRID(ST_MakePoint(x, y), 4490) FROM (SELECT ST_X(s) AS x, ST_Y(s) AS y FROM network_seg "
        "UNION SELECT ST_X(e), ST_Y(e) FROM network_seg) p"))
    conn.execute(text(
        "INSERT INTO network_edges (source, target, cost, reverse_cost, geom, dataset) "
        "SELECT vs.id, ve.id, ST_Length(g.geom::geography), ST_Length(g.geom::geography), g.geom, :dataset "
        "FROM network_seg g JOIN network_vertices vs ON ST_X(vs.geom) = ST_X(g.s) AND ST_Y(vs.geom) = ST_Y(g.s) "
        "JOIN network_vertices ve ON ST_X(ve.geom) = ST_X(g.e) AND ST_Y(ve.geom) = ST_Y(g.e)"),
        {"dataset": dataset})
    return _finish(conn, dataset, len(lines), actor, started)


def _finish(conn: Connection | Session, dataset: str, lines_read: int, actor: str, started: float) -> NetworkReport:
    conn.execute(text("ANALYZE network_vertices"))
    conn.execute(text("ANALYZE network_edges"))
    edges, length, vertices = conn.execute(text(
        "SELECT count(*), coalesce(sum(cost), 0) / 1000, (SELECT count(*) FROM network_vertices) "
        "FROM network_edges")).one()
    report = NetworkReport(dataset, lines_read, edges, vertices, float(length), time.perf_counter() - started)
    conn.execute(text(
        "INSERT INTO datasets (name, version, source, terms, row_count, details) VALUES (:n, '1', :n, "
        "'as supplied', :c, '{}') ON CONFLICT (name) DO UPDATE SET row_count = excluded.row_count, "
        "loaded_at = now()"), {"n": dataset, "c": edges})
    audit.record(conn, actor=actor, action="network.import", entity_type="dataset", entity_id=dataset,
                 after=report.as_dict())
    return report


def build_demo_network(conn: Connection | Session, prefix: str = "3301", *, dataset: str = DEMO_DATASET,
                       spacing_deg: float = DEMO_SPACING_DEG, margin: int = DEMO_MARGIN_CELLS) -> NetworkReport:
    """Replace the network by a street lattice around the residential addresses under PREFIX (reproducible:
    no randomness, lattice corners on multiples of SPACING_DEG)."""
    started = time.perf_counter()
    _clear(conn)
    conn.execute(text("DROP TABLE IF EXISTS pg_temp.lattice"))
    conn.execute(text(
        "CREATE TEMP TABLE lattice ON COMMIT DROP AS "
        "WITH cells AS (SELECT DISTINCT floor(ST_X(point) / :s)::int AS i, floor(ST_Y(point) / :s)::int AS j "
        "  FROM addresses WHERE valid_to IS NULL AND level IN ('plate', 'building') AND NOT reserved "
        "  AND village_code LIKE :prefix) "
        "SELECT row_number() OVER (ORDER BY i, j) AS id, i, j FROM ("
        "  SELECT DISTINCT c.i + dx AS i, c.j + dy AS j FROM cells c, generate_series(-:m, :m + 1) dx, "
        "  generate_series(-:m, :m + 1) dy) g"), {"s": spacing_deg, "prefix": prefix + "%", "m": margin})
    conn.execute(text("CREATE INDEX ON pg_temp.lattice (i, j)"))
    conn.execute(text(
        "INSERT INTO network_vertices (id, geom) SELECT id, ST_SetSRID(ST_MakePoint(i * :s, j * :s), 4490) "
        "FROM lattice"), {"s": spacing_deg})
    conn.execute(text(
        "INSERT INTO network_edges (source, target, cost, reverse_cost, geom, dataset) "
        "SELECT a_id, b_id, ST_Length(g::geography), ST_Length(g::geography), g, :dataset FROM ("
        "  SELECT a.id AS a_id, b.id AS b_id, ST_SetSRID(ST_MakeLine(ST_MakePoint(a.i * :s, a.j * :s), "
        "  ST_MakePoint(b.i * :s, b.j * :s)), 4490) AS g FROM lattice a JOIN lattice b "
        "  ON b.i = a.i + 1 AND b.j = a.j "
        "  UNION ALL SELECT a.id, b.id, ST_SetSRID(ST_MakeLine(ST_MakePoint(a.i * :s, a.j * :s), "
        "  ST_MakePoint(b.i * :s, b.j * :s)), 4490) FROM lattice a JOIN lattice b ON b.i = a.i AND b.j = a.j + 1"
        ") e ORDER BY a_id, b_id"), {"s": spacing_deg, "dataset": dataset})
    return _finish(conn, dataset, 0, audit.SYSTEM, started)
