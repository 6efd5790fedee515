"""建成区 (built-up area) polygons: the scope of the street and building duplicate check (§9 rule 5)."""

from __future__ import annotations

from pathlib import Path

import shapely
from shapely.geometry import MultiPolygon, Polygon
from sqlalchemy import Connection, text

from boundaries.codes import DivisionCode
from boundaries.polygons_import import read_layer
from data import audit
from data.errors import InvalidInput

SRID = 4490


def _polygonal(geom) -> MultiPolygon | None:
    if geom is None or geom.is_empty:
        return None
    geom = shapely.make_valid(geom)
    parts = [g for g in getattr(geom, "geoms", [geom]) if isinstance(g, Polygon | MultiPolygon)]
    polygons = [p for g in parts for p in getattr(g, "geoms", [g])]
    return MultiPolygon(polygons) if polygons else None


def import_builtup_areas(conn: Connection, path: Path, *, name_field: str, division_field: str | None = None,
                         layer: str | None = None, actor: str = audit.SYSTEM) -> int:
    """Replace the built-up areas from PATH (any CRS pyproj knows; stored as EPSG:4490); all or nothing."""
    frame = read_layer(path, name_field, layer)
    if division_field and division_field not in frame.columns:
        raise InvalidInput(f"{path.name} has no field {division_field!r}")
    rows, errors = [], []
    for index, record in frame.iterrows():
        name = str(record[name_field] or "").strip()
        geom = _polygonal(record.geometry)
        code = str(record[division_field]).strip() if division_field and record[division_field] else None
        if not name or geom is None:
            errors.append({"field": f"feature {index}", "message": "needs a name and a polygon"})
            continue
        if code:
            DivisionCode.parse(code)
        rows.append({"name": name, "code": code, "wkb": shapely.to_wkb(geom, hex=True), "source": path.name})
    if errors:
        raise InvalidInput(f"{len(errors)} features in {path.name} cannot be used; nothing was imported",
                           errors=errors[:50])
    conn.execute(text("DELETE FROM builtup_areas WHERE source = :s"), {"s": path.name})
    conn.execute(text("INSERT INTO builtup_areas (name, division_code, geom, source) "
                      "VALUES (:name, :code, ST_Multi(ST_GeomFromWKB(decode(:wkb, 'hex'), 4490)), :source)"),
                 rows)
    audit.record(conn, actor=actor, action="import", entity_type="builtup_areas", entity_id=path.name,
                 after={"features": len(rows)})
    return len(rows)
