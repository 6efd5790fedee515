"""Compose address text from its parts and register the standard names streets and compounds carry.

Shared by the demo generator, the importer and the single-address API, so that every address in the
library is written the same way: province + city + county + township (+ village for village roads) +
the local part (文一西路100号3幢2单元301室, 阳光小区3幢2单元301室).

Writing rules (decided here, domain.md §6.2):
- placeholder divisions (市辖区, 县, 省直辖县级行政区划 and the county-level copies of 东莞/中山/儋州/
  嘉峪关) are not written; a municipality is written once (上海市黄浦区…), its city is itself;
- urban addresses (居委会, 类似居委会) do not write the community name: streets and compounds are known
  in the township; rural addresses (村委会, 类似村委会) write the village name before the local part,
  because a village road is only known inside its village (临安区太湖源镇白沙村翠柏路12号).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from data.copy import copy_rows
from data.errors import NotFound
from placenames.seed import derive_keys

DB = Session | Connection
RURAL_KINDS = ("村委会", "类似村委会")
STREET_CATEGORY = "0801"    # 街路巷
COMPOUND_CATEGORY = "0703"  # 住宅区
# Suffixes written inside the number (100-1号, 100A号); the others follow 号 (100号之1, 100号附2).
_INNER_SUFFIX_START = "-ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass(frozen=True, slots=True)
class DivisionNames:
    """The division chain of one village/community: names as written (placeholders empty) and codes."""

    province: str
    province_code: str
    city: str
    city_code: str
    county: str
    county_code: str
    town: str
    town_code: str
    village: str
    village_code: str
    village_kind: str

    @property
    def rural(self) -> bool:
        """Whether the village is a 村委会 (its name is written before village-road addresses)."""
        return self.village_kind in RURAL_KINDS

    @property
    def village_written(self) -> str:
        """The village as addresses write it: the statistical name without 委会 (新浦村委会 → 新浦村)."""
        name = self.village
        for suffix, keep in (("村民委员会", "村"), ("村委会", "村"), ("居民委员会", ""), ("居委会", "")):
            if name.endswith(suffix) and len(name) > len(suffix):
                stem = name[: -len(suffix)]
                return stem if stem.endswith(keep) else stem + keep
        return name

    @property
    def prefix(self) -> str:
        """Province to township as written, each name once: 浙江省杭州市西湖区北山街道."""
        parts: list[str] = []
        for name in (self.province, self.city, self.county, self.town):
            if name and (not parts or parts[-1] != name):
                parts.append(name)
        return "".join(parts)


_CHAIN = """
SELECT v.code AS village_code, v.name AS village, v.kind AS village_kind,
       t.code AS town_code, t.name AS town,
       c.code AS county_code, c.name AS county, c.placeholder AS county_placeholder,
       p.code AS city_code, p.name AS city, p.placeholder AS city_placeholder,
       r.code AS province_code, r.name AS province, r.kind AS province_kind
FROM divisions v
JOIN divisions t ON t.code = v.parent_code AND t.level = 4 AND t.valid_to IS NULL
JOIN divisions c ON c.code = t.parent_code AND c.level = 3 AND c.valid_to IS NULL
JOIN divisions p ON p.code = c.parent_code AND p.level = 2 AND p.valid_to IS NULL
JOIN divisions r ON r.code = p.parent_code AND r.level = 1 AND r.valid_to IS NULL
WHERE v.code = ANY(:codes) AND v.level = 5 AND v.valid_to IS NULL
"""

_cache: dict[str, DivisionNames] = {}
CACHE_LIMIT = 200_000  # a third of all villages; past it the cache starts again


def _names_of(row) -> DivisionNames:
    if row.province_kind == "直辖市":
        city = row.province
    else:
        city = "" if row.city_placeholder else row.city
    return DivisionNames(
        province=row.province, province_code=row.province_code, city=city, city_code=row.city_code,
        county="" if row.county_placeholder else row.county, county_code=row.county_code,
        town=row.town, town_code=row.town_code, village=row.village, village_code=row.village_code,
        village_kind=row.village_kind,
    )


def division_chains(db: DB, village_codes: Iterable[str]) -> dict[str, DivisionNames]:
    """DivisionNames of every current village code given (unknown codes are left out); cached."""
    wanted = {c for c in village_codes if c}
    missing = [c for c in wanted if c not in _cache]
    if missing:
        if len(_cache) + len(missing) > CACHE_LIMIT:
            _cache.clear()
        for row in db.execute(text(_CHAIN), {"codes": missing}):
            _cache[row.village_code] = _names_of(row)
    return {c: _cache[c] for c in wanted if c in _cache}


def division_chain_names(db: DB, village_code: str) -> DivisionNames:
    """Province → village names and codes of a current 12-digit village code; NotFound otherwise."""
    found = division_chains(db, [village_code]).get(village_code)
    if found is None:
        raise NotFound(f"no current village or community has code {village_code!r}")
    return found


def clear_division_cache() -> None:
    """Forget the cached chains (after divisions were renamed or re-parented in this process)."""
    _cache.clear()


def full_address(names: DivisionNames, local: str, *, village_road: bool | None = None) -> str:
    """Province + city + county + township (+ village on village roads) + LOCAL.

    VILLAGE_ROAD None means: write the village name for rural villages (村委会), not for communities."""
    rural = names.rural if village_road is None else village_road
    return names.prefix + (names.village_written if rural else "") + local


def plate_name(number: int, suffix: str = "") -> str:
    """A plate as written: 100号, 100号之1, 100号附2; inner suffixes 100-1号, 100A号."""
    if suffix and suffix[0] in _INNER_SUFFIX_START:
        return f"{number}{suffix}号"
    return f"{number}号{suffix}"


def building_name(number: int | str) -> str:
    """A building as written: 3幢 (a name that already carries its marker is kept: A座, 5栋)."""
    return f"{number}幢" if str(number).isdigit() else str(number)


def unit_name(number: int | str) -> str:
    """A unit as written: 2单元."""
    return f"{number}单元" if str(number).isdigit() else str(number)


def room_name(number: int | str) -> str:
    """A room as written: 301室."""
    return f"{number}室" if str(number).isdigit() else str(number)


def local_address(*, street: str = "", plate: str = "", compound: str = "", building: str = "",
                  unit: str = "", room: str = "") -> str:
    """The part below the village from element names: 文一西路100号3幢2单元301室, 阳光小区3幢2单元301室."""
    return f"{street}{plate}{compound}{building}{unit}{room}"


@dataclass(frozen=True, slots=True)
class StandardName:
    """A street (0801) or compound (0703) name to register as a standard name."""

    name: str
    category: str
    division_code: str       # the township (9 digits) the street or compound lies in
    geom_wkt: str | None     # the street line / compound point, lon/lat CGCS2000
    source: str
    created_by: str
    valid_from: dt.date


_NAME_COLUMNS = ("name_id", "name", "specific", "generic", "category", "romanization", "geom",
                 "division_code", "division_codes", "status", "source", "pinyin_key", "initials",
                 "valid_from", "created_by", "change_note")


def name_keys(name: str, category: str, division_code: str) -> tuple[str, str, str | None, str, str]:
    """(专名, 通名, romanization, pinyin key, initials) of a street or compound name (cached per county)."""
    return _keys(name, category, division_code[:6])


@lru_cache(maxsize=65_536)
def _keys(name: str, category: str, county: str) -> tuple[str, str, str | None, str, str]:
    return derive_keys(name, category, county)


def register_standard_names(conn: Connection, items: Sequence[StandardName]) -> list[int]:
    """Insert ITEMS as current standard names (COPY); their name_ids in the order given.

    The caller records the audit entry for the load these names belong to."""
    if not items:
        return []
    first = conn.execute(text(
        "SELECT setval('place_name_ids', nextval('place_name_ids') + :n - 1) - :n + 1"),
        {"n": len(items)}).scalar_one()
    ids = list(range(first, first + len(items)))
    copy_rows(conn, "place_names", _NAME_COLUMNS, (_name_row(i, item) for i, item in zip(ids, items, strict=True)))
    return ids


def _name_row(name_id: int, item: StandardName) -> tuple:
    specific, generic, roman, pinyin, initials = name_keys(item.name, item.category, item.division_code)
    geom = f"SRID=4490;{item.geom_wkt}" if item.geom_wkt else None
    return (name_id, item.name, specific, generic, item.category, roman, geom, item.division_code,
            "{" + item.division_code + "}", "standard", item.source, pinyin, initials, item.valid_from,
            item.created_by, "registered with the address library")
