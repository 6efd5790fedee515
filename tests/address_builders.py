"""Tiny address-library builders with keyword defaults: streets, plates, compounds, buildings, units, rooms.

Each builder writes one current row with `addresses.model.load_rows` in the caller's connection and
returns its `AddressRow`. Codes take the next serial under their parent (largest ever used + 1). Plates
default to Beijing's parity (EW street: north odd, south even; NS street: west odd, east even) and to
points numbered east→west / north→south, so one street is clean under every jurisdiction's rules.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection, text

from addresses.compose import (
    building_name,
    division_chain_names,
    full_address,
    plate_name,
    room_name,
    unit_name,
)
from addresses.model import (
    AddressRow,
    child_code,
    last_child_serials,
    last_street_serials,
    load_rows,
    reserve_ids,
    street_code,
)
from data.errors import NotFound
from placenames.romanize import RomanizationError, initials_key, pinyin_key

DEFAULT_VILLAGE = "620102001001"   # 兰州市城关区 畅家巷社区: default rules, outside any demo library
HANGZHOU_VILLAGE = "330502001005"  # 湖州市吴兴区 浮星桥社区: default rules
BEIJING_VILLAGE = "110101001001"   # 北京市东城区 多福巷社区
NINGBO_VILLAGE = "330203001001"    # 宁波市海曙区 澄浪社区
SHANGHAI_VILLAGE = "310101002001"  # 上海市黄浦区 云南中路居委会
STEP = 0.0002     # degrees between consecutive numbers along a street
OFFSET = 0.0001   # degrees from the street line to a side
BEIJING_SIDES = {"EW": ("N", "S"), "NS": ("W", "E"), "dead_end": ("N", "S")}
VALID_FROM = dt.date(2024, 1, 1)


def add_standard_name(conn: Connection, name: str, *, category: str = "0801", division_code: str | None = None,
                      status: str = "standard") -> int:
    """Register NAME in `place_names` (current version) and return its name_id."""
    name_id = conn.execute(text("SELECT nextval('place_name_ids')")).scalar_one()
    conn.execute(text(
        "INSERT INTO place_names (name_id, name, specific, category, status, source, pinyin_key, initials, "
        "division_code, valid_from, created_by) VALUES (:id, :name, :name, :category, :status, 'test', "
        ":pinyin, :initials, :division, :valid_from, 'test')"),
        {"id": name_id, "name": name, "category": category, "status": status, "pinyin": pinyin_key(name),
         "initials": initials_key(name), "division": division_code, "valid_from": VALID_FROM})
    return name_id


def add_street(conn: Connection, *, village_code: str = DEFAULT_VILLAGE, name: str = "文一路",
               direction: str | None = "EW", named: bool = True, lon: float = 103.83, lat: float = 36.06,
               place_name_id: int | None = None) -> AddressRow:
    """A street homed in VILLAGE_CODE carrying NAME, registered as a standard name unless NAMED is false."""
    if named and place_name_id is None:
        place_name_id = add_standard_name(conn, name, division_code=village_code[:9])
    serial = _next_serial(conn, village_code, compound=False)
    geom = (f"LINESTRING({lon + STEP} {lat}, {lon - 50 * STEP} {lat})" if direction != "NS"
            else f"LINESTRING({lon} {lat + STEP}, {lon} {lat - 50 * STEP})")
    return _load(conn, code=street_code(village_code, serial), level="street", village_code=village_code,
                 name=name, local=name, lon=lon, lat=lat, direction=direction, place_name_id=place_name_id,
                 geom_wkt=geom, **_keys(name))


def add_compound(conn: Connection, *, village_code: str = DEFAULT_VILLAGE, name: str = "阳光小区",
                 named: bool = True, lon: float = 103.84, lat: float = 36.07) -> AddressRow:
    """A compound (小区) homed in VILLAGE_CODE."""
    place_name_id = add_standard_name(conn, name, category="0703", division_code=village_code[:9]) \
        if named else None
    serial = _next_serial(conn, village_code, compound=True)
    return _load(conn, code=street_code(village_code, serial), level="compound", village_code=village_code,
                 name=name, local=name, lon=lon, lat=lat, place_name_id=place_name_id,
                 **_keys(name))


def add_plate(conn: Connection, street: AddressRow, number: int, *, side: str | None = "auto",
              suffix: str = "", reserved: bool = False, village_code: str | None = None,
              lon: float | None = None, lat: float | None = None) -> AddressRow:
    """Plate NUMBER(+SUFFIX) on STREET; side and point follow Beijing's rules unless given."""
    village = village_code or street.village_code
    direction = street.direction or "EW"
    if side == "auto":
        odd_side, even_side = BEIJING_SIDES[direction]
        side = odd_side if number % 2 else even_side
    x, y = _plate_point(street, number, side)
    prefix = village + street.code[12:17]
    code = child_code(prefix, "plate", _next_child(conn, prefix, "plate"))
    name = plate_name(number, suffix)
    return _load(conn, code=code, level="plate", village_code=village, name=name,
                 local=street.local_address + name, lon=x if lon is None else lon, lat=y if lat is None else lat,
                 parent_id=street.address_id, street_id=street.address_id, number=number, suffix=suffix,
                 side=side, reserved=reserved)


def add_building(conn: Connection, parent: AddressRow, number: int) -> AddressRow:
    """Building NUMBER under a plate or a compound."""
    prefix = parent.code + ("0000" if parent.level == "compound" else "")
    code = child_code(parent.code, "building", _next_child(conn, prefix, "building"))
    return _child(conn, parent, code, "building", number, building_name(number))


def add_unit(conn: Connection, building: AddressRow, number: int) -> AddressRow:
    """Unit NUMBER in BUILDING."""
    code = child_code(building.code, "unit", _next_child(conn, building.code, "unit"))
    return _child(conn, building, code, "unit", number, unit_name(number))


def add_room(conn: Connection, parent: AddressRow, number: int) -> AddressRow:
    """Room NUMBER (floor × 100 + k) in a unit, or in a building without units (unit digits 00)."""
    prefix = parent.code if parent.level == "unit" else parent.code + "00"
    code = child_code(prefix, "room", _next_child(conn, prefix, "room"))
    return _child(conn, parent, code, "room", number, room_name(number))


def close(conn: Connection, row: AddressRow, on: dt.date = dt.date(2025, 1, 1)) -> None:
    """End the current version of ROW (the address is retired)."""
    conn.execute(text("UPDATE addresses SET valid_to = :on WHERE address_id = :id AND valid_to IS NULL"),
                 {"on": on, "id": row.address_id})


def _keys(name: str) -> dict[str, str]:
    """Pinyin and initials search keys of a street or compound name ('' when it cannot be romanized)."""
    try:
        return {"pinyin_key": pinyin_key(name), "initials": initials_key(name)}
    except RomanizationError:
        return {"pinyin_key": "", "initials": ""}


def _plate_point(street: AddressRow, number: int, side: str | None) -> tuple[float, float]:
    lon, lat = (float(v) for v in street.point_wkt[len("POINT("):-1].split())
    shift = {"N": (0, OFFSET), "S": (0, -OFFSET), "E": (OFFSET, 0), "W": (-OFFSET, 0)}.get(side or "", (0, 0))
    if street.direction == "NS":
        return lon + shift[0], lat - number * STEP + shift[1]
    return lon - number * STEP + shift[0], lat + shift[1]


def _child(conn: Connection, parent: AddressRow, code: str, level: str, number: int, name: str) -> AddressRow:
    lon, lat = (float(v) for v in parent.point_wkt[len("POINT("):-1].split())
    return _load(conn, code=code, level=level, village_code=parent.village_code, name=name,
                 local=parent.local_address + name, lon=lon, lat=lat, parent_id=parent.address_id,
                 street_id=parent.street_id,
                 compound_id=parent.address_id if parent.level == "compound" else parent.compound_id,
                 number=number)


def _next_serial(conn: Connection, village_code: str, *, compound: bool) -> int:
    """The next street (1–79999) or compound (80000–99999) serial in the county, never one used before."""
    streets, compounds = last_street_serials(conn, village_code[:6])
    return (compounds if compound else streets) + 1


def _next_child(conn: Connection, prefix: str, level: str) -> int:
    """The next serial below PREFIX (retired codes included), as the importer allocates them."""
    return last_child_serials(conn, prefix[:6]).get(prefix, 0) + 1


def _load(conn: Connection, *, code: str, level: str, village_code: str, name: str, local: str, lon: float,
          lat: float, **columns) -> AddressRow:
    try:
        written = full_address(division_chain_names(conn, village_code), local)
    except NotFound:  # a village code that is not current (rule 46 tests): only the local part
        written = local
    row = AddressRow(address_id=reserve_ids(conn, 1)[0], code=code, level=level, village_code=village_code,
                     name=name, local_address=local, full_address=written, point_wkt=f"POINT({lon} {lat})",
                     source="test", valid_from=VALID_FROM, created_by="test", **columns)
    load_rows(conn, [row])
    return row
