"""Read the address library: one address by code, its versions, its children."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from addresses.coords import point
from addresses.model import MATCH_LEVEL, level_of_code
from boundaries.codes import DivisionCode
from boundaries.divisions import DivisionRef, chain_of
from data.errors import NotFound

DB = Session | Connection
ADMIN_KEYS = ("province_code", "city_code", "county_code", "town_code", "village_code")


def admin_codes(code: str | None, level: int | None = None) -> dict[str, str | None]:
    """The statistical code chain a division code implies, placeholders such as 110100 included:
    330106 gives province 330000, city 330100, county 330106 and no town or village. LEVEL overrides
    the level the digits say (441900 is a prefecture and, as a placeholder, a county too)."""
    codes = dict.fromkeys(ADMIN_KEYS)
    if code:
        chain = (code[:2] + "0000", code[:4] + "00", code[:6], code[:9], code)
        for key, value in zip(ADMIN_KEYS[:level or DivisionCode(code).level], chain, strict=False):
            codes[key] = value
    return codes


@dataclass(slots=True)
class AddressView:
    """One current (or historical) address element with its division chain."""

    address_id: int
    code: str
    level: str
    name: str
    local_address: str
    full_address: str
    village_code: str
    lon: float
    lat: float
    number: int | None
    suffix: str
    side: str | None
    reserved: bool
    parent_code: str | None
    street_code: str | None
    place_name_id: int | None
    source: str
    valid_from: str
    valid_to: str | None
    divisions: list[DivisionRef] = field(default_factory=list)

    def as_dict(self, coordsys: str = "cgcs2000") -> dict[str, Any]:
        """JSON-ready dict with a GeoJSON point in COORDSYS and the admin codes."""
        data = asdict(self)
        del data["lon"], data["lat"]
        data["match_level"] = MATCH_LEVEL[self.level]
        data["point"] = point(self.lon, self.lat, coordsys)
        data["coordsys"] = coordsys
        data["admin_codes"] = admin_codes(self.village_code)
        return data


_SELECT = """
SELECT a.address_id, a.code, a.level, a.name, a.local_address, a.full_address, a.village_code,
       ST_X(a.point) AS lon, ST_Y(a.point) AS lat, a.number, a.suffix, a.side, a.reserved,
       p.code AS parent_code, s.code AS street_code, a.place_name_id, a.source,
       a.valid_from::text AS valid_from, a.valid_to::text AS valid_to
FROM addresses a
LEFT JOIN addresses p ON p.address_id = a.parent_id AND p.valid_to IS NULL
LEFT JOIN addresses s ON s.address_id = a.street_id AND s.valid_to IS NULL
"""


def _view(row, divisions: list[DivisionRef] | None = None) -> AddressView:
    return AddressView(**row._mapping, divisions=divisions or [])


def get_address(db: DB, code: str) -> AddressView:
    """The current address with CODE and its division chain, or NotFound (also for retired codes)."""
    level_of_code(code)
    row = db.execute(text(_SELECT + "WHERE a.code = :code AND a.valid_to IS NULL"), {"code": code}).first()
    if row is None:
        retired = db.execute(text("SELECT max(valid_to)::text FROM addresses WHERE code = :code"),
                             {"code": code}).scalar()
        hint = f"; it was retired on {retired} (废码不用: codes are never reused)" if retired else ""
        raise NotFound(f"no current address has code {code}{hint}")
    return _view(row, chain_of(db, row.village_code, 5))


def history(db: DB, code: str) -> list[AddressView]:
    """Every version of the address element that carries CODE, oldest first."""
    level_of_code(code)
    rows = db.execute(text(_SELECT + """
        WHERE a.address_id IN (SELECT address_id FROM addresses WHERE code = :code)
        ORDER BY a.valid_from, a.version_id"""), {"code": code}).all()
    if not rows:
        raise NotFound(f"no address has ever had code {code}")
    return [_view(r) for r in rows]


def children(db: DB, code: str, *, limit: int = 100, after: str | None = None) -> list[AddressView]:
    """The current elements directly below CODE (plates of a street, rooms of a unit…), by code."""
    parent = get_address(db, code)
    rows = db.execute(text(_SELECT + """
        WHERE a.parent_id = :id AND a.valid_to IS NULL AND (CAST(:after AS text) IS NULL OR a.code > :after)
        ORDER BY a.code LIMIT :limit"""), {"id": parent.address_id, "after": after, "limit": limit}).all()
    return [_view(r) for r in rows]
