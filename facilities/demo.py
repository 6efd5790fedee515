"""A reproducible demo set of facilities for 杭州市 (330100), placed at demo address points.

Densities are plausible for a city of the plans in domain.md §8, not real: roughly one meal point per
two to three communities and one per three villages, a community care station in half the communities,
a mutual-care centre in most villages, a regional care centre, a social-work station and a minors'
protection station in most townships (a few left out, so the gap list has entries), an elderly home in
half the townships, a 儿童之家 in a third of villages and communities, and one child-welfare home, relief
station, marriage registry, funeral home and one or two cemeteries per county. Most are operating; some
are planned or suspended. Every draw comes from a generator seeded with (SEED, the division's code), so
the same address library gives the same facilities.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sqlalchemy import Connection, text

from data import audit
from facilities.divisions import Division, get_division, townships, village_kind, villages

DEMO_DIVISION = "330100"
SEED = 7
DATASET = "demo-facilities-330100"
SOURCE = "demo (synthetic, seeded; not real facilities)"
RESIDENTIAL_SQL = (
    "SELECT code, village_code, ST_X(point) AS lon, ST_Y(point) AS lat, full_address FROM addresses "
    "WHERE valid_to IS NULL AND level IN ('plate', 'building') AND NOT reserved AND village_code LIKE :prefix "
    "ORDER BY code")
# (type, the share of divisions that get one, capacity column, capacity range, name pattern)
VILLAGE_PLAN = {
    "community": (("MEAL_POINT", 0.45, "meal_seats", (20, 80), "{v}幸福食堂"),
                  ("COMMUNITY_CARE", 0.5, "beds", (0, 20), "{v}居家养老服务站"),
                  ("CHILDREN_HOME", 0.35, None, None, "{v}儿童之家")),
    "village": (("MEAL_POINT", 0.33, "meal_seats", (15, 50), "{v}老年食堂"),
                ("RURAL_CARE", 0.7, "beds", (5, 30), "{v}居家养老服务照料中心"),
                ("CHILDREN_HOME", 0.3, None, None, "{v}儿童之家")),
}
TOWNSHIP_PLAN = (("ELDERLY_CENTRE", 0.9, "beds", (30, 120), "{t}区域性养老服务中心"),
                 ("SOCIAL_WORK", 0.9, None, None, "{t}社会工作站"),
                 ("MINOR_PROTECT", 0.85, None, None, "{t}未成年人保护工作站"),
                 ("ELDERLY_HOME", 0.5, "beds", (50, 400), "{t}敬老院"))
COUNTY_PLAN = (("CHILD_WELFARE", 1, "beds", (50, 250), "{c}儿童福利院"),
               ("RELIEF_STATION", 1, "beds", (20, 120), "{c}救助管理站"),
               ("MARRIAGE_REG", 1, None, None, "{c}婚姻登记处"),
               ("FUNERAL_HOME", 1, None, None, "{c}殡仪馆"),
               ("CEMETERY", 1.5, None, None, "{c}公益性公墓"),
               ("ELDERLY_HOME", 1, "beds", (200, 800), "{c}社会福利中心"))
OPERATORS = ("{t}人民政府", "{t}社区居家养老服务中心", "杭州市某养老服务有限公司", "民办非企业单位", "{c}民政局")


@dataclass(frozen=True)
class _Address:
    code: str
    village: str
    lon: float
    lat: float
    full_address: str


def _status(rng: np.random.Generator) -> tuple[str, dt.date | None]:
    draw = rng.random()
    if draw < 0.07:
        return "planned", None
    opened = dt.date(2008, 1, 1) + dt.timedelta(days=int(rng.integers(0, 365 * 17)))
    return ("suspended" if draw < 0.1 else "operating"), opened


class _Builder:
    """Collects facility rows, numbering ids per type and county."""

    def __init__(self, names: dict[str, str]) -> None:
        self.rows: list[dict] = []
        self.serials: dict[tuple[str, str], int] = defaultdict(int)
        self.names = names

    def add(self, rng: np.random.Generator, plan: tuple, at: _Address, fmt: dict[str, str]) -> None:
        type_code, _share, column, span, pattern = plan
        county = at.village[:6]
        self.serials[type_code, county] += 1
        status, opened = _status(rng)
        capacity = int(rng.integers(span[0], span[1] + 1)) if span else None
        operator = OPERATORS[int(rng.integers(len(OPERATORS)))].format(**fmt)
        self.rows.append({
            "facility_id": f"{type_code}-{county}-{self.serials[type_code, county]:04d}",
            "name": pattern.format(**fmt)[:100], "type_code": type_code, "lon": at.lon, "lat": at.lat,
            "address": at.full_address, "address_code": at.code, "division_code": at.village,
            "beds": capacity if column == "beds" else None,
            "meal_seats": capacity if column == "meal_seats" else None,
            "operator": operator, "opened_on": opened, "status": status,
            "valid_from": opened or dt.date(2025, 1, 1)})


def _rng(code: str, salt: int = 0) -> np.random.Generator:
    return np.random.default_rng([SEED, int(code), salt])


def _addresses(conn: Connection, prefix: str) -> dict[str, list[_Address]]:
    by_village: dict[str, list[_Address]] = defaultdict(list)
    for row in conn.execute(text(RESIDENTIAL_SQL), {"prefix": prefix + "%"}):
        by_village[row.village_code].append(_Address(row.code, row.village_code, row.lon, row.lat,
                                                     row.full_address))
    return by_village


def _pick(rng: np.random.Generator, pool: list[_Address]) -> _Address:
    return pool[int(rng.integers(len(pool)))]


def plan_demo(conn: Connection, division: str = DEMO_DIVISION) -> list[dict]:
    """The demo facility rows for DIVISION (deterministic for a given address library)."""
    top = get_division(conn, division)
    by_village = _addresses(conn, top.prefix)
    names = {d.code: d.name for d in (*villages(conn, top), *townships(conn, top))}
    builder = _Builder(names)
    county_names = dict(conn.execute(text(
        "SELECT code, name FROM divisions WHERE level = 3 AND valid_to IS NULL AND code LIKE :p"),
        {"p": top.prefix + "%"}).all())
    for village in sorted(by_village):
        rng = _rng(village)
        fmt = {"v": names.get(village, village), "t": names.get(village[:9], ""), "c": county_names.get(
            village[:6], "")}
        for plan in VILLAGE_PLAN[village_kind(village)]:
            if rng.random() < plan[1]:
                builder.add(rng, plan, _pick(rng, by_village[village]), fmt)
    _townships(conn, top, by_village, builder, county_names)
    _counties(by_village, builder, county_names)
    return builder.rows


def _townships(conn: Connection, top: Division, by_village: dict[str, list[_Address]], builder: _Builder,
               county_names: dict[str, str]) -> None:
    for township in townships(conn, top):
        pool = [a for v, items in by_village.items() if v.startswith(township.code) for a in items]
        if not pool:
            continue
        rng = _rng(township.code, 1)
        fmt = {"t": township.name, "c": county_names.get(township.code[:6], ""), "v": ""}
        for plan in TOWNSHIP_PLAN:
            if rng.random() < plan[1]:
                builder.add(rng, plan, _pick(rng, pool), fmt)


def _counties(by_village: dict[str, list[_Address]], builder: _Builder, county_names: dict[str, str]) -> None:
    for county, name in sorted(county_names.items()):
        pool = [a for v, items in by_village.items() if v.startswith(county) for a in items]
        if not pool:
            continue
        rng = _rng(county, 2)
        for plan in COUNTY_PLAN:
            count = int(plan[1]) + (1 if rng.random() < plan[1] % 1 else 0)
            for _ in range(count):
                builder.add(rng, plan, _pick(rng, pool), {"c": name, "t": name, "v": ""})


def load_demo_facilities(conn: Connection, on_progress: Callable[[int], None] | None = None,
                         division: str = DEMO_DIVISION) -> int:
    """Store the demo facilities of DIVISION and a `datasets` row; returns how many. Audited as one import."""
    rows = plan_demo(conn, division)
    if rows:
        conn.execute(text(
            "INSERT INTO facilities (facility_id, name, type_code, geom, address, address_code, division_code, "
            "beds, meal_seats, operator, opened_on, status, valid_from, source, created_by) VALUES (:facility_id, "
            ":name, :type_code, ST_SetSRID(ST_MakePoint(:lon, :lat), 4490), :address, :address_code, "
            ":division_code, :beds, :meal_seats, :operator, :opened_on, :status, :valid_from, :source, 'system')"),
            [{**row, "source": SOURCE} for row in rows])
    counts: dict[str, int] = defaultdict(int)
    for row in rows:
        counts[row["type_code"]] += 1
    conn.execute(text(
        "INSERT INTO datasets (name, version, source, terms, row_count, details) VALUES (:n, '1', :s, "
        "'synthetic demo data', :c, CAST(:d AS jsonb)) ON CONFLICT (name) DO UPDATE SET row_count = excluded.row_count, "
        "details = excluded.details, loaded_at = now()"),
        {"n": DATASET, "s": SOURCE, "c": len(rows), "d": _json({"division": division, "seed": SEED,
                                                                 "per_type": dict(sorted(counts.items()))})})
    audit.record(conn, actor=audit.SYSTEM, action="facility.import", entity_type="dataset", entity_id=DATASET,
                 after={"facilities": len(rows), "per_type": dict(counts)})
    if on_progress:
        on_progress(len(rows))
    return len(rows)


def _json(value: dict) -> str:
    return json.dumps(value, ensure_ascii=False)
