"""The address library's shape: levels, address codes (GB/T 39609 component order) and bulk rows.

Code layout (see migration 0003): village 12 + street/compound 5 + plate 4 + building 3 + unit 2 +
room 4 digits; a street or compound code has 17 digits, a plate 21, a building 24, a unit 26, a room 30.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sqlalchemy import Connection, text

from data.copy import copy_rows
from data.errors import InvalidInput

LEVELS = ("street", "compound", "plate", "building", "unit", "room")
CODE_LENGTH = {"street": 17, "compound": 17, "plate": 21, "building": 24, "unit": 26, "room": 30}
# The digits each level adds after its parent's code (streets and compounds follow the village code).
COMPONENT_DIGITS = {"street": 5, "compound": 5, "plate": 4, "building": 3, "unit": 2, "room": 4}
STREET_SERIALS = range(1, 80_000)       # 00001–79999
COMPOUND_SERIALS = range(80_000, 100_000)  # 80000–99999
# AMap-compatible match level of each element (reference-systems §3.4).
MATCH_LEVEL = {"street": "道路", "compound": "住宅区", "plate": "门牌号", "building": "楼栋",
               "unit": "单元", "room": "户室"}


def component(level: str, serial: int) -> str:
    """The zero-padded digits LEVEL adds for SERIAL; InvalidInput when it does not fit."""
    digits = COMPONENT_DIGITS[level]
    allowed = COMPOUND_SERIALS if level == "compound" else STREET_SERIALS if level == "street" \
        else range(1 if level != "plate" else 0, 10 ** digits)
    if serial not in allowed:
        raise InvalidInput(f"{level} serial {serial} is outside {allowed.start}–{allowed.stop - 1}")
    return f"{serial:0{digits}d}"


def street_code(village_code: str, serial: int) -> str:
    """Code of a street (serial 1–79999) or compound (80000–99999) homed in VILLAGE_CODE."""
    level = "compound" if serial in COMPOUND_SERIALS else "street"
    return village_code + component(level, serial)


def child_code(parent_code: str, level: str, serial: int) -> str:
    """Code of a plate, building, unit or room below PARENT_CODE.

    A plate's parent code is its village code + its street's 5 digits; a building directly in a
    compound gets plate digits 0000.
    """
    if level == "building" and len(parent_code) == CODE_LENGTH["compound"]:
        parent_code += "0000"
    code = parent_code + component(level, serial)
    if len(code) != CODE_LENGTH[level]:
        raise InvalidInput(f"a {level} code needs {CODE_LENGTH[level]} digits, got {code}")
    return code


def level_of_code(code: str) -> str:
    """The level an address code's length says (streets and compounds by their serial)."""
    by_length = {21: "plate", 24: "building", 26: "unit", 30: "room"}
    if not code.isdigit() or (len(code) != 17 and len(code) not in by_length):
        raise InvalidInput(f"an address code has 17, 21, 24, 26 or 30 digits, got {code!r}")
    if len(code) == 17:
        return "compound" if int(code[12:]) in COMPOUND_SERIALS else "street"
    return by_length[len(code)]


@dataclass(slots=True)
class AddressRow:
    """One address element ready for bulk loading (the columns of `addresses`)."""

    address_id: int
    code: str
    level: str
    village_code: str
    name: str
    local_address: str
    full_address: str
    point_wkt: str
    source: str
    valid_from: dt.date
    created_by: str
    parent_id: int | None = None
    street_id: int | None = None
    compound_id: int | None = None
    number: int | None = None
    suffix: str = ""
    side: str | None = None
    direction: str | None = None
    reserved: bool = False
    place_name_id: int | None = None
    pinyin_key: str = ""
    initials: str = ""
    geom_wkt: str | None = None
    extra: dict = field(default_factory=dict)


COLUMNS = ("address_id", "code", "level", "parent_id", "street_id", "compound_id", "village_code",
           "name", "number", "suffix", "side", "direction", "reserved", "place_name_id",
           "local_address", "full_address", "pinyin_key", "initials", "geom", "point", "source",
           "valid_from", "created_by")


def _copy_tuple(row: AddressRow) -> tuple:
    geom = f"SRID=4490;{row.geom_wkt}" if row.geom_wkt else None
    return (row.address_id, row.code, row.level, row.parent_id, row.street_id, row.compound_id,
            row.village_code, row.name, row.number, row.suffix, row.side, row.direction, row.reserved,
            row.place_name_id, row.local_address, row.full_address, row.pinyin_key, row.initials,
            geom, f"SRID=4490;{row.point_wkt}", row.source, row.valid_from, row.created_by)


def reserve_ids(conn: Connection, count: int) -> range:
    """COUNT consecutive fresh address ids from the `address_ids` sequence (one round trip)."""
    if count <= 0:
        return range(0)
    last = conn.execute(text(
        "SELECT setval('address_ids', nextval('address_ids') + :n - 1)"), {"n": count}).scalar_one()
    return range(last - count + 1, last + 1)


def load_rows(conn: Connection, rows: Iterable[AddressRow],
              on_progress: Callable[[int], None] | None = None) -> int:
    """COPY address rows into `addresses` in the caller's transaction; returns the count."""
    return copy_rows(conn, "addresses", COLUMNS, (_copy_tuple(r) for r in rows), on_row=on_progress)


def last_street_serials(conn: Connection, county_code: str) -> tuple[int, int]:
    """(largest street serial, largest compound serial) ever used in a county, retired codes included;
    0 and 79999 when there are none, so the next serials are 1 and 80000."""
    row = conn.execute(text(
        "SELECT max(s) FILTER (WHERE s < 80000), max(s) FILTER (WHERE s >= 80000) FROM ("
        "  SELECT substr(code, 13, 5)::int AS s FROM addresses"
        "  WHERE code LIKE :county || '%' AND length(code) = 17) c"), {"county": county_code}).one()
    return row[0] or 0, row[1] or COMPOUND_SERIALS.start - 1


def last_child_serials(conn: Connection, county_code: str) -> dict[str, int]:
    """Largest serial ever used directly below each parent code in a county (plates, buildings, units,
    rooms; retired codes included). A plate's parent is village + street digits, a compound building's
    the compound code + 0000, as in `child_code`."""
    rows = conn.execute(text(
        "SELECT left(code, length(code) - d) AS parent, max(right(code, d)::int) AS last FROM ("
        "  SELECT code, CASE length(code) WHEN 21 THEN 4 WHEN 24 THEN 3 WHEN 26 THEN 2 ELSE 4 END AS d"
        "  FROM addresses WHERE code LIKE :county || '%' AND length(code) > 17) c GROUP BY 1"),
        {"county": county_code})
    return {r.parent: r.last for r in rows}
