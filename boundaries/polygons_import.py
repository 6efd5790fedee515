"""Attach polygons to divisions: the approximate demo county shapes, or official 勘界 files.

Counties get polygons from a source; prefectures and provinces are unions of their children
unless an official polygon was imported for them. Official polygons are never overwritten by
demo ones. After every change `division_parts` (subdivided copies for locate) is rebuilt.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path

import shapely
from sqlalchemy import Connection, text

from boundaries.codes import DivisionCode, InvalidCode
from boundaries.polygon_match import MatchReport, format_report, match_county_polygons
from data import audit
from data.copy import copy_rows
from data.errors import InvalidInput
from data.models import SRID
from data.sources import echarts_shapes
from data.sources.china_division import read_vendored

DEMO_DATASET = "demo-polygons"
DEMO_SOURCE = (f"approximate demo polygon: npm {echarts_shapes.CITIES_PACKAGE}@"
               f"{echarts_shapes.CITIES_VERSION} / {echarts_shapes.ECHARTS_PACKAGE}@"
               f"{echarts_shapes.ECHARTS_VERSION} (AMap-derived, GCJ-02 → CGCS2000)")
SUBDIVIDE_VERTICES = 256
UNION_SOURCE = "union of child polygons"


@dataclass
class DemoPolygonReport:
    """What the demo polygon load did."""

    match: MatchReport
    updated: int

    def summary(self) -> str:
        """Human-readable summary with the match rate and what did not match."""
        return f"{format_report(self.match)}\n\ncounty rows updated: {self.updated}"


@dataclass
class BoundaryImportResult:
    """What an official boundary import did."""

    file: str
    updated: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def summary(self) -> str:
        """One line per outcome."""
        lines = [f"{self.file}: {len(self.updated)} divisions updated, {len(self.skipped)} skipped"]
        lines += [f"  skipped {value!r}: {why}" for value, why in self.skipped[:50]]
        return "\n".join(lines)


def _ewkb(geom: shapely.Geometry) -> str:
    return shapely.to_wkb(shapely.set_srid(geom, SRID), hex=True, include_srid=True)


def _stage(conn: Connection, rows) -> None:
    conn.execute(text(
        "CREATE TEMP TABLE staged_shapes (code varchar(12), geom geometry(MultiPolygon, 4490))"
        " ON COMMIT DROP"
    ))
    copy_rows(conn, "staged_shapes", ("code", "geom"), rows)


def load_demo_polygons(conn: Connection, cache_dir: Path, progress=None) -> DemoPolygonReport:
    """Fetch, convert and match the demo shapes; attach them where no official polygon is."""
    task = progress.add_task("demo polygons", total=4) if progress else None
    step = (lambda: progress.advance(task)) if progress else (lambda: None)
    packages = echarts_shapes.fetch(cache_dir)
    step()
    six_digit = itertools.takewhile(lambda r: len(r.code) == 6, read_vendored())
    report = match_county_polygons(six_digit, echarts_shapes.iter_features(packages))
    step()
    _stage(conn, ((p.code, _ewkb(p.geometry)) for p in report.polygons.values()))
    updated = conn.execute(text(
        "UPDATE divisions d SET geom = s.geom, geom_source = :source, geom_approximate = true "
        "FROM staged_shapes s WHERE d.code = s.code AND d.level = 3 AND d.valid_to IS NULL "
        "AND (d.geom IS NULL OR d.geom_approximate)"
    ), {"source": DEMO_SOURCE}).rowcount
    step()
    rebuild_unions(conn)
    rebuild_parts(conn)
    step()
    _record(conn, report, updated)
    return DemoPolygonReport(report, updated)


def _record(conn: Connection, report: MatchReport, updated: int) -> None:
    details = {
        "rate": round(report.rate, 4), "county_total": report.county_total,
        "matched": len(report.polygons),
        "missing_codes": [list(m) for m in report.missing_codes],
        "unmatched_features": [list(u) for u in report.unmatched_features],
    }
    conn.execute(text(
        "INSERT INTO datasets (name, version, source, terms, row_count, details) "
        "VALUES (:n, :v, :s, :t, :c, CAST(:d AS jsonb)) ON CONFLICT (name) DO UPDATE SET "
        "version = EXCLUDED.version, source = EXCLUDED.source, terms = EXCLUDED.terms, "
        "row_count = EXCLUDED.row_count, details = EXCLUDED.details, loaded_at = now()"
    ), {"n": DEMO_DATASET, "v": echarts_shapes.CITIES_VERSION, "s": echarts_shapes.PROVENANCE,
        "t": echarts_shapes.TERMS, "c": updated, "d": _json(details)})
    audit.record(conn, actor=audit.SYSTEM, action="import", entity_type="dataset",
                 entity_id=DEMO_DATASET, after={"county_rows": updated, "rate": details["rate"]})


def _json(value) -> str:
    return json.dumps(value, ensure_ascii=False)


_UNION_LEVEL = """
UPDATE divisions p SET geom = u.geom, geom_approximate = u.approximate,
       geom_source = :union
FROM (
    SELECT c.parent_code AS code,
           ST_Multi(ST_CollectionExtract(ST_UnaryUnion(ST_Collect(c.geom)), 3)) AS geom,
           bool_or(c.geom_approximate) AS approximate
    FROM divisions c
    WHERE c.level = :child_level AND c.valid_to IS NULL AND c.geom IS NOT NULL
      AND (CAST(:codes AS text[]) IS NULL OR c.parent_code = ANY(:codes))
    GROUP BY c.parent_code
) u
WHERE p.code = u.code AND p.level = :child_level - 1 AND p.valid_to IS NULL
  AND (p.geom IS NULL OR p.geom_approximate OR p.geom_source = :union)
"""


def ancestors(codes: list[str]) -> list[str]:
    """The prefecture and province codes above the given county/township codes."""
    found = set()
    for code in codes:
        found.update({code[:2] + "0000", code[:4] + "00"})
    return sorted(found - set(codes)) + sorted(set(codes))


def rebuild_unions(conn: Connection, codes: list[str] | None = None) -> None:
    """Prefecture polygons from counties, then provinces from prefectures (official kept).

    With CODES, only the unions above those codes (and their label points) are rebuilt.
    """
    scope = ancestors(codes) if codes is not None else None
    for child_level in (3, 2):
        conn.execute(text(_UNION_LEVEL),
                     {"child_level": child_level, "union": UNION_SOURCE, "codes": scope})
    conn.execute(text(
        "UPDATE divisions SET label_point = ST_PointOnSurface(geom) "
        "WHERE geom IS NOT NULL AND level <= 4 AND valid_to IS NULL "
        "AND (CAST(:codes AS text[]) IS NULL OR code = ANY(:codes))"
    ), {"codes": scope})


def rebuild_parts(conn: Connection, codes: list[str] | None = None) -> None:
    """Re-create the subdivided polygons that locate() searches.

    A union polygon is covered exactly by its children's parts, so only polygons of county
    level and below, and prefecture/province polygons from a source of their own, are cut.
    With CODES, only those divisions and the ones above them are redone.
    """
    scope = ancestors(codes) if codes is not None else None
    conn.execute(text(
        "DELETE FROM division_parts WHERE CAST(:codes AS text[]) IS NULL OR code = ANY(:codes)"
    ), {"codes": scope})
    conn.execute(text(
        "INSERT INTO division_parts (code, level, geom) "
        "SELECT code, level, ST_Subdivide(geom, :n) FROM divisions "
        "WHERE geom IS NOT NULL AND valid_to IS NULL AND level <= 4 "
        "AND (level >= 3 OR geom_source IS DISTINCT FROM :union) "
        "AND (CAST(:codes AS text[]) IS NULL OR code = ANY(:codes))"
    ), {"n": SUBDIVIDE_VERTICES, "union": UNION_SOURCE, "codes": scope})
    if scope is None:
        conn.execute(text("ANALYZE division_parts"))


# --- official boundaries -------------------------------------------------------------------


def read_layer(path: Path, code_field: str, layer: str | None):
    """A GIS file as a GeoDataFrame in EPSG:4490, checked to have CODE_FIELD and a CRS."""
    import pyogrio

    try:
        frame = pyogrio.read_dataframe(path, layer=layer)
    except Exception as exc:  # pyogrio raises several GDAL error types
        raise InvalidInput(f"cannot read {path.name}: {exc}") from None
    if code_field not in frame.columns:
        raise InvalidInput(f"{path.name} has no field {code_field!r}; fields: "
                           + ", ".join(c for c in frame.columns if c != "geometry"))
    if frame.crs is None:
        raise InvalidInput(f"{path.name} has no CRS; expected EPSG:{SRID} (CGCS2000) "
                           "or a CRS that can be transformed to it")
    if frame.crs.to_epsg() != SRID:
        frame = frame.to_crs(epsg=SRID)
    return frame


def _boundary_rows(frame, code_field: str, result: BoundaryImportResult):
    for value, geom in zip(frame[code_field], frame.geometry, strict=True):
        try:
            code = DivisionCode.parse(str(value).split(".")[0] if value is not None else "")
        except InvalidCode as exc:
            result.skipped.append((str(value), exc.detail))
            continue
        if geom is None or geom.is_empty:
            result.skipped.append((code.value, "empty geometry"))
            continue
        polygonal = shapely.make_valid(geom)
        parts = [g for g in getattr(polygonal, "geoms", [polygonal]) if g.geom_type in
                 ("Polygon", "MultiPolygon")]
        if not parts:
            result.skipped.append((code.value, f"not a polygon ({geom.geom_type})"))
            continue
        yield code.value, _ewkb(shapely.MultiPolygon(_flatten(parts)))


def _flatten(parts) -> list:
    out = []
    for part in parts:
        out.extend(part.geoms if part.geom_type == "MultiPolygon" else [part])
    return out


def import_boundary_file(conn: Connection, path: Path, code_field: str, *,
                         layer: str | None = None, actor: str = audit.SYSTEM
                         ) -> BoundaryImportResult:
    """Replace polygons with the file's official ones for every code it covers."""
    frame = read_layer(path, code_field, layer)
    result = BoundaryImportResult(path.name)
    _stage(conn, _boundary_rows(frame, code_field, result))
    rows = conn.execute(text(
        "UPDATE divisions d SET geom = s.geom, geom_source = :source, geom_approximate = false "
        "FROM staged_shapes s WHERE d.code = s.code AND d.valid_to IS NULL AND d.level <= 4 "
        "RETURNING d.code"
    ), {"source": f"official import: {path.name}"}).scalars().all()
    result.updated = sorted(set(rows))
    unknown = conn.execute(text(
        "SELECT code FROM staged_shapes s WHERE NOT EXISTS (SELECT 1 FROM divisions d "
        "WHERE d.code = s.code AND d.valid_to IS NULL)"
    )).scalars().all()
    result.skipped += [(code, "no current division has this code") for code in unknown]
    if result.updated:
        rebuild_unions(conn, result.updated)
        rebuild_parts(conn, result.updated)
    audit.record(conn, actor=actor, action="import-boundaries", entity_type="dataset",
                 entity_id=path.name, after={"updated": result.updated,
                                             "skipped": len(result.skipped)})
    return result
