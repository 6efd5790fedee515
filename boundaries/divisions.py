"""Read divisions: one code with its parent chain, children, name search, point location.

Placeholder rows (市辖区/县 under municipalities, 省直辖县级行政区划, the county-level copies of
东莞/中山/儋州/嘉峪关) exist in the statistics but are skipped in chains and child lists.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from boundaries.codes import LEVELS, DivisionCode
from data.errors import InvalidInput, NotFound

DB = Session | Connection
MAX_PAGE = 1000


@dataclass(frozen=True, slots=True)
class DivisionRef:
    """A division as a link: code, name, level, kind."""

    code: str
    name: str
    level: int
    kind: str

    @property
    def level_name(self) -> str:
        """province / prefecture / county / township / village."""
        return LEVELS[self.level]


@dataclass(slots=True)
class DivisionView:
    """One current division with its chain up to the province and its child count."""

    code: str
    name: str
    level: int
    kind: str
    placeholder: bool
    parent_code: str | None
    valid_from: str
    source: str
    chain: list[DivisionRef]
    children: int
    has_geometry: bool
    geometry_source: str | None
    geometry_approximate: bool
    geometry: dict[str, Any] | None = None
    label_point: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict (chain items as dicts with level names)."""
        data = asdict(self)
        data["level_name"] = LEVELS[self.level]
        data["chain"] = [asdict(ref) | {"level_name": ref.level_name} for ref in self.chain]
        return data


@dataclass(frozen=True, slots=True)
class Location:
    """The divisions containing a point, province first."""

    lon: float
    lat: float
    chain: list[DivisionRef] = field(default_factory=list)

    def at(self, level: int) -> DivisionRef | None:
        """The chain member of LEVEL, if any."""
        return next((ref for ref in self.chain if ref.level == level), None)


_CHAIN = """
WITH RECURSIVE chain AS (
    SELECT code, level, name, kind, parent_code, placeholder FROM divisions
    WHERE code = :code AND level = :level AND valid_to IS NULL
    UNION ALL
    SELECT d.code, d.level, d.name, d.kind, d.parent_code, d.placeholder
    FROM divisions d JOIN chain c ON d.code = c.parent_code AND d.level = c.level - 1
    WHERE d.valid_to IS NULL
)
SELECT code, name, level, kind FROM chain WHERE NOT placeholder ORDER BY level
"""

_ONE = """
SELECT code, name, level, kind, placeholder, parent_code, valid_from::text AS valid_from, source,
       geom IS NOT NULL AS has_geometry, geom_source, geom_approximate,
       CASE WHEN :geometry THEN ST_AsGeoJSON(geom, 6) END AS geometry,
       CASE WHEN :geometry THEN ST_AsGeoJSON(label_point, 6) END AS label_point
FROM divisions WHERE code = :code AND valid_to IS NULL
ORDER BY placeholder, level LIMIT 1
"""

# Children, looking through placeholder rows to the real units below them.
_CHILDREN = """
WITH RECURSIVE kids AS (
    SELECT code, level, name, kind, placeholder FROM divisions
    WHERE parent_code = :code AND level = :level + 1 AND valid_to IS NULL
    UNION ALL
    SELECT d.code, d.level, d.name, d.kind, d.placeholder
    FROM divisions d JOIN kids k ON d.parent_code = k.code AND d.level = k.level + 1
    WHERE k.placeholder AND d.valid_to IS NULL
)
SELECT code, name, level, kind FROM kids WHERE NOT placeholder
"""


def _refs(rows) -> list[DivisionRef]:
    return [DivisionRef(r.code, r.name, r.level, r.kind) for r in rows]


def _geojson(value: str | None) -> dict[str, Any] | None:
    return json.loads(value) if value else None


def chain_of(db: DB, code: str, level: int) -> list[DivisionRef]:
    """The division and its ancestors, province first, placeholders skipped."""
    return _refs(db.execute(text(_CHAIN), {"code": code, "level": level}))


def count_children(db: DB, code: str, level: int) -> int:
    """How many real (non-placeholder) child units a division has."""
    sql = f"SELECT count(*) FROM ({_CHILDREN}) c"
    return db.execute(text(sql), {"code": code, "level": level}).scalar_one()


def get_division(db: DB, code: DivisionCode, *, geometry: bool = False) -> DivisionView:
    """The current version of CODE, or NotFound."""
    row = db.execute(text(_ONE), {"code": code.value, "geometry": geometry}).one_or_none()
    if row is None:
        raise NotFound(f"no current division has code {code.value}")
    return DivisionView(
        code=row.code, name=row.name, level=row.level, kind=row.kind,
        placeholder=row.placeholder, parent_code=row.parent_code, valid_from=row.valid_from,
        source=row.source, chain=chain_of(db, row.code, row.level),
        children=count_children(db, row.code, row.level), has_geometry=row.has_geometry,
        geometry_source=row.geom_source, geometry_approximate=row.geom_approximate,
        geometry=_geojson(row.geometry), label_point=_geojson(row.label_point),
    )


def children_of(db: DB, code: DivisionCode, *, limit: int = MAX_PAGE,
                after: str | None = None) -> list[DivisionRef]:
    """Real child units of CODE ordered by code, keyset-paged by AFTER."""
    parent = get_division(db, code)
    sql = (f"SELECT * FROM ({_CHILDREN}) c "
           "WHERE CAST(:after AS text) IS NULL OR code > :after ORDER BY code LIMIT :n")
    rows = db.execute(text(sql), {"code": parent.code, "level": parent.level,
                                  "after": after, "n": limit})
    return _refs(rows)


def search(db: DB, q: str, *, level: int | None = None, parent: DivisionCode | None = None,
           limit: int = 50, after: str | None = None,
           allow_empty: bool = False) -> list[DivisionRef]:
    """Divisions whose name contains Q (6-digit codes first), optionally within PARENT/LEVEL."""
    q = q.strip()
    if not q and not allow_empty:
        raise InvalidInput("q must not be empty", errors=[{"field": "q", "message": "empty"}])
    sql = """
        SELECT code, name, level, kind FROM divisions
        WHERE valid_to IS NULL AND NOT placeholder AND name LIKE :pattern
          AND (CAST(:level AS int) IS NULL OR level = :level)
          AND (CAST(:prefix AS text) IS NULL OR code LIKE :prefix)
          AND (CAST(:after AS text) IS NULL
               OR (length(code), code) > (length(CAST(:after AS text)), CAST(:after AS text)))
        ORDER BY length(code), code LIMIT :n
    """
    prefix = descendant_prefix(parent) if parent else None
    rows = db.execute(text(sql), {"pattern": f"%{escape_like(q)}%", "level": level,
                                  "prefix": prefix, "after": after, "n": limit})
    return _refs(rows)


def escape_like(value: str) -> str:
    """VALUE with LIKE wildcards and the escape character escaped (a literal inside a pattern)."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def descendant_prefix(code: DivisionCode) -> str:
    """LIKE pattern matching a division's descendants by code structure."""
    v = code.value
    stem = {1: v[:2], 2: v[:4], 3: v[:6], 4: v[:9], 5: v}[code.level]
    return stem + "%"


_LOCATE = """
WITH RECURSIVE hit AS (
    SELECT code, level FROM division_parts
    WHERE ST_Intersects(geom, ST_SetSRID(ST_MakePoint(:lon, :lat), 4490))
    ORDER BY level DESC LIMIT 1
), chain AS (
    SELECT d.code, d.level, d.name, d.kind, d.parent_code, d.placeholder
    FROM divisions d JOIN hit USING (code, level) WHERE d.valid_to IS NULL
    UNION ALL
    SELECT d.code, d.level, d.name, d.kind, d.parent_code, d.placeholder
    FROM divisions d JOIN chain c ON d.code = c.parent_code AND d.level = c.level - 1
    WHERE d.valid_to IS NULL
)
SELECT code, name, level, kind FROM chain WHERE NOT placeholder ORDER BY level
"""


def check_point(lon: float, lat: float) -> None:
    """Reject coordinates outside lon [-180, 180] / lat [-90, 90] (NaN included)."""
    errors = []
    if not -180 <= lon <= 180:
        errors.append({"field": "lon", "message": "longitude must be between -180 and 180"})
    if not -90 <= lat <= 90:
        errors.append({"field": "lat", "message": "latitude must be between -90 and 90"})
    if errors:
        raise InvalidInput("coordinates out of range", errors=errors)


def locate(db: DB, lon: float, lat: float) -> Location:
    """The province → prefecture → county chain containing the point (one SQL round trip)."""
    check_point(lon, lat)
    chain = _refs(db.execute(text(_LOCATE), {"lon": lon, "lat": lat}))
    if not chain:
        raise NotFound(f"no division polygon contains lon={lon}, lat={lat}")
    return Location(lon, lat, chain)


_MAP_FEATURES = """
SELECT code, name, level, kind, geom_approximate AS approximate,
       ST_AsGeoJSON(ST_SimplifyPreserveTopology(geom, :tolerance), 5) AS geometry,
       ST_AsGeoJSON(label_point, 5) AS label_point
FROM divisions WHERE valid_to IS NULL AND code = ANY(:codes) AND level = ANY(:levels)
"""


def _display_tolerance(level: int) -> float:
    """Simplification in degrees for drawing a division of LEVEL with its children."""
    return {1: 0.01, 2: 0.002}.get(level, 0.0005)


def map_features(db: DB, code: DivisionCode) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The division and its children as plain dicts with GeoJSON (for the map page)."""
    view = get_division(db, code)
    kids = children_of(db, code)
    by_key = _map_rows(db, view, kids)
    return by_key[(view.code, view.level)], [by_key[(k.code, k.level)] for k in kids]


def map_outline(db: DB, code: DivisionCode) -> dict[str, Any]:
    """The division alone as a plain dict with GeoJSON (for pages that draw other things inside it)."""
    view = get_division(db, code)
    return _map_rows(db, view, [])[(view.code, view.level)]


def _map_rows(db: DB, view: DivisionView, kids: list) -> dict[tuple[str, int], dict[str, Any]]:
    codes = [view.code, *(k.code for k in kids)]
    levels = sorted({view.level, *(k.level for k in kids)})
    rows = db.execute(text(_MAP_FEATURES), {"codes": codes, "levels": levels,
                                            "tolerance": _display_tolerance(view.level)})
    return {(r.code, r.level): _feature_dict(r) for r in rows}


def _feature_dict(row) -> dict[str, Any]:
    return {"code": row.code, "name": row.name, "level": row.level, "kind": row.kind,
            "approximate": row.approximate, "geometry": _geojson(row.geometry),
            "label_point": _geojson(row.label_point)}
