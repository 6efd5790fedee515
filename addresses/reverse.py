"""Reverse geocoding: the nearest standard address to a point and the full division chain, in one
SQL round trip (KNN on the address points, point-in-polygon for the county as a fallback)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from addresses.coords import point
from addresses.library import admin_codes
from addresses.model import MATCH_LEVEL
from boundaries.divisions import check_point
from data.errors import InvalidInput

DB = Session | Connection
MAX_RADIUS = 3000  # metres, as AMap's regeo
DEFAULT_RADIUS = 500
METRES_PER_DEGREE = 111_320.0
DIRECTIONS = ("北", "东北", "东", "东南", "南", "西南", "西", "西北")

# The nearest few by planar degrees, re-ranked by geodesic metres (degrees of longitude shrink
# with latitude); the county from polygons when no address is near; the chain of whichever wins.
_REVERSE = text("""
WITH pt AS (SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4490) AS g),
near AS (
    SELECT a.code, a.level, a.name, a.local_address, a.full_address, a.village_code,
           ST_X(a.point) AS lon, ST_Y(a.point) AS lat,
           ST_Distance(a.point::geography, pt.g::geography) AS distance,
           degrees(ST_Azimuth(pt.g::geography, a.point::geography)) AS bearing
    FROM addresses a, pt
    WHERE a.valid_to IS NULL AND a.level IN ('plate', 'building', 'compound') AND NOT a.reserved
      AND a.point && ST_Expand(pt.g, :dx, :dy)
    ORDER BY a.point <-> pt.g LIMIT 8
),
best AS (SELECT * FROM near WHERE distance <= :radius ORDER BY distance, code LIMIT 1),
county AS (
    SELECT p.code FROM division_parts p, pt WHERE p.level = 3 AND ST_Intersects(p.geom, pt.g) LIMIT 1
),
keys AS (
    SELECT unnest(ARRAY[left(v, 2) || '0000', left(v, 4) || '00', left(v, 6), left(v, 9), v]) AS code,
           unnest(ARRAY[1, 2, 3, 4, 5]) AS level
    FROM (SELECT coalesce((SELECT village_code FROM best), (SELECT code FROM county)) AS v) s
    WHERE v IS NOT NULL
)
SELECT (SELECT row_to_json(best) FROM best) AS address,
       (SELECT code FROM county) AS county,
       (SELECT json_agg(json_build_object('code', d.code, 'name', d.name, 'level', d.level,
                                          'kind', d.kind) ORDER BY d.level)
        FROM keys JOIN divisions d ON d.code = keys.code AND d.level = keys.level AND d.valid_to IS NULL
        WHERE NOT d.placeholder) AS chain
""")


@dataclass(slots=True)
class ReverseResult:
    """The nearest standard address (if any within the radius) and the divisions at the point."""

    lon: float
    lat: float
    radius: int
    address: dict[str, Any] | None
    divisions: list[dict[str, Any]] = field(default_factory=list)
    county_code: str | None = None
    warnings: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self, coordsys: str = "cgcs2000") -> dict[str, Any]:
        """JSON-ready result; the address point converted to COORDSYS."""
        address = None
        if self.address:
            address = {k: v for k, v in self.address.items() if k not in ("lon", "lat")}
            address["point"] = point(self.address["lon"], self.address["lat"], coordsys)
        return {"query": {"lon": self.lon, "lat": self.lat, "radius": self.radius}, "address": address,
                "divisions": self.divisions, "admin_codes": self._codes(), "coordsys": coordsys,
                "warnings": self.warnings}

    def _codes(self) -> dict[str, str | None]:
        if self.address:
            return admin_codes(self.address["village_code"])
        return admin_codes(self.county_code, level=3)


def check_radius(radius: int) -> int:
    """A radius in metres between 1 and MAX_RADIUS, or a 422."""
    if not 1 <= radius <= MAX_RADIUS:
        raise InvalidInput(f"radius must be between 1 and {MAX_RADIUS} metres",
                           errors=[{"field": "radius", "message": f"{radius} is out of range"}])
    return radius


def confidence(distance: float) -> float:
    """Pelias-style confidence steps by distance (≤1 m 1.0 … ≤1 km 0.6, beyond 0.5)."""
    for limit, value in ((1, 1.0), (10, 0.9), (100, 0.8), (250, 0.7), (1000, 0.6)):
        if distance <= limit:
            return value
    return 0.5


def direction_word(bearing: float) -> str:
    """The eight-way Chinese compass word for BEARING degrees (0 = north, clockwise)."""
    return DIRECTIONS[int(((bearing % 360) + 22.5) // 45) % 8]


def reverse(db: DB, lon: float, lat: float, *, radius: int = DEFAULT_RADIUS) -> ReverseResult:
    """Nearest standard address within RADIUS metres and the division chain (one round trip)."""
    check_point(lon, lat)
    check_radius(radius)
    dy = radius / METRES_PER_DEGREE
    dx = dy / max(math.cos(math.radians(lat)), 0.01)
    row = db.execute(_REVERSE, {"lon": lon, "lat": lat, "radius": radius, "dx": dx, "dy": dy}).one()
    address = _address(row.address)
    result = ReverseResult(lon, lat, radius, address, row.chain or [], row.county)
    if address and row.county and not address["village_code"].startswith(row.county):
        result.warnings.append({"kind": "冲突", "component": "county", "message":
                                f"the nearest address belongs to county {address['village_code'][:6]}, "
                                f"the point lies in {row.county} (near a boundary)"})
    if address is None:
        result.warnings.append({"kind": "缺失", "component": "address",
                                "message": f"no standard address within {radius} m"})
    return result


def _address(found: dict[str, Any] | None) -> dict[str, Any] | None:
    if not found:
        return None
    found["distance"] = round(found["distance"], 1)
    found["bearing"] = round(found["bearing"] or 0.0, 1)
    found["direction"] = direction_word(found["bearing"])
    found["match_level"] = MATCH_LEVEL[found["level"]]
    found["score"] = confidence(found["distance"])
    return found
