"""Search-as-you-type: streets, compounds and plates by prefix, full pinyin or initials."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from addresses.coords import point
from addresses.model import MATCH_LEVEL
from addresses.normalize import normalize
from boundaries.divisions import escape_like
from data.errors import InvalidInput

DB = Session | Connection
MAX_QUERY = 50
_LATIN = re.compile(r"^[a-z']+$")

_NAMED = text("""
SELECT a.code, a.level, a.name, a.full_address, ST_X(a.point) AS lon, ST_Y(a.point) AS lat
FROM addresses a
WHERE a.valid_to IS NULL AND a.level IN ('street', 'compound') AND a.county_code LIKE :scope || '%'
  AND (a.name LIKE :prefix || '%' OR (:latin AND (a.pinyin_key LIKE :key || '%' OR a.initials LIKE :key || '%')))
ORDER BY (a.name = :prefix OR a.initials = :key) DESC, char_length(a.name), a.code
LIMIT :limit
""")

_PLATES = text("""
SELECT a.code, a.level, a.name, a.full_address, ST_X(a.point) AS lon, ST_Y(a.point) AS lat
FROM addresses a
WHERE a.valid_to IS NULL AND a.level IN ('plate', 'building') AND NOT a.reserved
  AND a.local_address LIKE :prefix || '%' AND a.county_code LIKE :scope || '%'
ORDER BY char_length(a.local_address), a.code
LIMIT :limit
""")


@dataclass(slots=True)
class Suggestion:
    """One completion."""

    code: str
    level: str
    name: str
    full_address: str
    lon: float
    lat: float

    def as_dict(self, coordsys: str = "cgcs2000") -> dict[str, Any]:
        """JSON-ready completion with its point in COORDSYS."""
        return {"code": self.code, "match_level": MATCH_LEVEL[self.level], "level": self.level,
                "name": self.name, "full_address": self.full_address, "point": point(self.lon, self.lat, coordsys)}


def suggest(db: DB, q: str, *, scope: str = "", limit: int = 10) -> list[Suggestion]:
    """Completions of Q inside the county-code prefix SCOPE: names by prefix, pinyin or initials;
    plates and buildings when Q continues past a street name (文一路1 → 文一路1号, 文一路10号…)."""
    cleaned = normalize(q or "")
    if not cleaned or len(cleaned) > MAX_QUERY:
        raise InvalidInput(f"q needs 1–{MAX_QUERY} characters",
                           errors=[{"field": "q", "message": "empty or too long"}])
    key = cleaned.lower().replace("'", "")
    params = {"prefix": escape_like(cleaned), "key": escape_like(key), "latin": bool(_LATIN.match(key)),
              "scope": scope, "limit": limit}
    rows = db.execute(_PLATES if any(c.isdigit() for c in cleaned) else _NAMED, params).all()
    return [Suggestion(r.code, r.level, r.name, r.full_address, r.lon, r.lat) for r in rows]
