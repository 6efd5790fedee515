"""Standard names to draw on a map: the current names with a geometry inside a division."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from boundaries.codes import DivisionCode
from boundaries.divisions import descendant_prefix
from placenames.categories import Category, get_category

DB = Session | Connection


@dataclass(frozen=True, slots=True)
class MapName:
    """A current standard name with its geometry (GeoJSON, lon/lat CGCS2000)."""

    id: int
    name: str
    specific: str
    generic: str
    category: str
    category_name: str
    romanization: str | None
    meaning: str | None
    division_code: str | None
    geometry: dict[str, Any]


_NAMES = text("""
SELECT name_id AS id, name, specific, generic, category, romanization, meaning, division_code,
       ST_AsGeoJSON(geom, 6) AS geometry, count(*) OVER () AS total
FROM place_names
WHERE valid_to IS NULL AND status = 'standard' AND geom IS NOT NULL
  AND (division_code LIKE :prefix OR :code = ANY(division_codes))
  AND (CAST(:category AS text) IS NULL OR category LIKE :category || '%')
ORDER BY name_id = CAST(:focus AS bigint) IS NOT TRUE, category, name_id
LIMIT :limit
""")


def names_for_map(db: DB, division: DivisionCode, *, category: Category | None = None, limit: int = 5000,
                  focus: int | None = None) -> tuple[list[MapName], int]:
    """Current standard names with a geometry in DIVISION (and CATEGORY), FOCUS first, at most LIMIT;
    returns them with the number there is in all."""
    rows = db.execute(_NAMES, {"prefix": descendant_prefix(division), "code": division.value,
                               "category": category.code if category else None, "focus": focus,
                               "limit": limit}).all()
    names = [MapName(id=r.id, name=r.name, specific=r.specific, generic=r.generic, category=r.category,
                     category_name=get_category(r.category).name, romanization=r.romanization,
                     meaning=r.meaning, division_code=r.division_code, geometry=json.loads(r.geometry))
             for r in rows]
    return names, (rows[0].total if rows else 0)
