"""A reproducible demo address library on the real divisions, for demos and benchmarks.

`generate_demo(conn, count=N, seed=S, division=CODE)` builds plausible streets, plates, compounds,
buildings, units and rooms under a prefecture, county or township and loads them with COPY.

Geography: each county polygon is cut into township cells (Voronoi cells of one random point per real
township, clipped to the county) and each township cell into village cells (one per real village or
community, with its real 12-digit code), so every address point lies in its own village's cell.
Urban communities (居委会) get streets with plates and compounds (小区) with buildings, units and rooms;
rural villages (村委会) get village roads with plates and a few buildings.

Numbering follows Beijing's rules (DB11, domain.md §6.3): an east-west street is numbered from east to
west, odd on the north side and even on the south; a north-south street from north to south, odd on
the west and even on the east; numbers run without gaps per side, about 2 % of them are reserved
(预留号) and about 2 % of plates carry a suffix (100号之1); buildings, units and rooms are numbered
1, 2, 3 … (rooms 101, 102 … 201 …) without skipping 4, 13 or 14.

Determinism: every random draw comes from a numpy generator seeded with (seed, the code of the county,
township or village being drawn), visited in code order, so the same (count, seed, division) gives
the same codes, names and points on the same database (street and compound names already used in a
county are skipped, and serials continue after the largest ever used). Address and name ids come from
the database sequences.

Small counts: with fewer than 40 rows per village, every k-th village (in code order) gets 40, so a
small library still spreads over the whole division; a community's share is twice a village's.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import shapely
from sqlalchemy import Connection, text

from addresses.compose import (
    COMPOUND_CATEGORY,
    STREET_CATEGORY,
    DivisionNames,
    StandardName,
    building_name,
    division_chains,
    full_address,
    name_keys,
    plate_name,
    register_standard_names,
    room_name,
    unit_name,
)
from addresses.model import (
    COMPOUND_SERIALS,
    STREET_SERIALS,
    AddressRow,
    last_street_serials,
    load_rows,
    reserve_ids,
)
from data import audit
from data.errors import Conflict, InvalidInput, NotFound
from placenames.inputs import today

MAX_COUNT = 20_000_000
MIN_PER_VILLAGE = 40        # fewer rows than 40 × villages: use every k-th village, 40 rows each
URBAN_WEIGHT = 2.0          # a community gets twice a village's share
COMPOUND_MIN_BUDGET = 30    # smaller budgets get streets only
MAX_STREETS_PER_VILLAGE = 60
MIN_BUILDING_ROWS = 14      # 1 building + 1 unit + 6 floors × 2 rooms
SUFFIX_SHARE = 0.02
RESERVED_SHARE = 0.02
PLATE_OFFSET_M = 15.0
M_PER_DEG = 111_320.0
DEMO_LIBRARY = {"division": "330100", "count": 100_000, "seed": 1}  # `make run`: 杭州市
LEVEL_ORDER = ("street", "compound", "plate", "building", "unit", "room")

STREET_WORDS = tuple(dict.fromkeys("""
文一 文二 文三 学院 解放 建设 和平 丰收 翠柏 湖滨 春晖 人民 中山 延安 胜利 新华 东风 光明 幸福 友谊
团结 民主 复兴 振兴 繁荣 兴业 创业 科技 文化 体育 健康 长春 长青 长乐 长安 长庆 永安 永兴 永宁 安康
平安 太平 福寿 吉祥 华夏 华兴 华光 金沙 金山 金桥 金星 银杏 银湖 玉泉 玉兰 紫荆 紫金 紫阳 青云 青山
青松 青年 碧波 碧水 绿洲 翠竹 梅花 桂花 荷花 兰花 菊花 桃源 杏花 柳浪 枫林 松林 竹林 杨柳 梧桐 香樟
白云 白鹭 白沙 黄龙 红星 红旗 朝阳 向阳 晨光 曙光 东升 旭日 明月 星光 天目 天河 凤起 凤凰 龙井 龙泉
龙山 狮山 鹤鸣 莲花 荷塘 湖光 山水 清泉 清河 清波 溪口 溪南 河滨 江滨 滨河 沿江 沿河 临江 望江 观澜
听涛 秋涛 春江 秋月 夏荷 冬青 迎春 迎宾 迎晖 时代 世纪 新民 新安 新兴 新风 新港 古墩 石桥 石塘 石门
东湖 南湖 北湖 万松 万寿 万福 百合 百花 牡丹 芙蓉 海棠 丁香 茉莉 芳草 秀水 秀山 锦绣 锦江 锦华 瑞祥
瑞丰 丰乐 丰泽 丰潭 益民 惠民 利民 育才 育英 求是 启明 弘文 崇文 尚德 明德 立德 厚德 思源 致远 同心
同德 协和 和睦 和顺 和畅 顺风 宏图 振华 兴华 中华 华丰 华强 昌盛 隆兴 泰和 康乐 康宁 宁安 嘉禾 丰年
五星 三星 双龙 九龙 飞凤 栖霞 晓霞 彩虹 霞光 云栖 云海 云山 月明 月湖 星河 银河 天鹅 孔雀 杜鹃 芦花
稻香 麦香 茶香 果园 桑园 竹园 梨园 枣园 松园 荷园 北苑 南苑 东苑 西苑 景芳 景华 景和 庆丰 庆春 庆安
保俶 宝石 玉皇 凤山 吴山 孤山 九溪 梅岭 桐荫 樟荫 槐荫 竹影 枫桥 柳营 兴旺 丰盛 富春 富强 富民 安吉
""".split()))
DIRECTIONS = ("", "东", "西", "南", "北", "中")
STREET_GENERICS = ("路", "街", "大道", "巷", "弄")
# Street generics by length: long streets are 大道 or 路, short ones 巷 or 弄; all five are tried
# before a name is given up as taken.
GENERICS_BY_LENGTH = ((300.0, ("巷", "弄", "路", "街", "大道")), (900.0, ("路", "街", "巷", "弄", "大道")),
                      (math.inf, ("大道", "路", "街", "巷", "弄")))
ORDINALS = ("一路", "二路", "三路", "四路", "五路", "六路", "七路", "八路", "九路")
# Village roads are named after their village first (白沙村 → 白沙路, 白沙一路 …).
VILLAGE_ROAD_GENERICS = ("路", "街", "一路", "二路", "三路", "巷", "四路", "五路", "弄")
VILLAGE_SUFFIXES = ("村民委员会", "居民委员会", "村委会", "居委会", "社区", "村")
COMPOUND_WORDS = tuple(dict.fromkeys("""
阳光 金色 幸福 和谐 温馨 锦绣 明珠 水岸 湖畔 江南 绿城 丽景 丽都 嘉和 东方 西溪 南山 北城 春风 秋水
金地 银座 紫金 紫薇 蓝天 碧云 香榭 香颂 枫丹 桂语 兰亭 桃源 柳岸 荷风 月桂 星辰 云栖 云峰 晨曦 朝晖
旭辉 景瑞 瑞景 宝龙 龙湖 凤栖 鹭岛 天鹅 望湖 观山 听涛 揽月 映月 新世纪 都市 中央 时代 未来 颐和
怡和 怡景 怡安 清华 求是 书香 翰林 学府 状元 翠湖 翠微 翠竹 青枫 青松 绿洲 金桂 银桂 丹桂 玉兰 牡丹
海棠 芙蓉 百合 梧桐 香樟 银杏 春晓 夏园 秋实 冬暖 和平 安康 吉祥 如意 富丽 华美 华丰 华星 星光 星海
""".split()))
COMPOUND_GENERICS = ("小区", "花园", "苑", "公寓", "家园", "新村")
PHASES = ("", "二期", "三期", "四期", "五期", "六期", "七期", "八期", "九期")


@dataclass(slots=True)
class GenerateReport:
    """What a demo load did."""

    dataset: str
    division: str
    seed: int
    rows: int
    per_level: dict[str, int]
    streets: int
    compounds: int
    villages: int
    counties: list[str]
    counties_without_polygon: list[str]
    seconds: float

    def as_dict(self) -> dict:
        """JSON-ready form."""
        return {"dataset": self.dataset, "division": self.division, "seed": self.seed, "rows": self.rows,
                "per_level": self.per_level, "streets": self.streets, "compounds": self.compounds,
                "villages": self.villages, "counties": self.counties,
                "counties_without_polygon": self.counties_without_polygon, "seconds": round(self.seconds, 2)}


@dataclass(slots=True)
class _Street:
    serial: int
    name: str
    direction: str
    coords: str                 # LINESTRING text, from where numbering starts
    mid: tuple[float, float]
    plates: list[tuple[int, str, bool]]   # (number, suffix, reserved) in numbering order
    xs: np.ndarray
    ys: np.ndarray
    buildings: list[int]        # buildings on each plate (rural villages)
    bxs: np.ndarray
    bys: np.ndarray
    place_name_id: int = 0


@dataclass(slots=True)
class _Compound:
    serial: int
    name: str
    x: float
    y: float
    buildings: list[tuple[int, int, int]]      # (units, floors, rooms a floor)
    bxs: np.ndarray
    bys: np.ndarray
    place_name_id: int = 0


@dataclass(slots=True)
class _Village:
    code: str
    name: str
    kind: str
    town: str
    budget: int = 0
    streets: list[_Street] = field(default_factory=list)
    compounds: list[_Compound] = field(default_factory=list)

    @property
    def urban(self) -> bool:
        return self.kind.endswith("居委会")


@dataclass(slots=True)
class _County:
    code: str
    geom: shapely.Geometry
    towns: list[str]
    villages: list[_Village]
    taken: set[str]
    street_serial: int
    compound_serial: int
    street_pools: dict[str, list[str]] = field(default_factory=dict)
    compound_pairs: list[tuple[str, str]] = field(default_factory=list)


def dataset_name(division: str, count: int, seed: int) -> str:
    """The `datasets` name of a demo load: demo-addresses-<division>-<count>-<seed>."""
    return f"demo-addresses-{division}-{count}-{seed}"


DEMO_LIBRARY_DATASET = dataset_name(**DEMO_LIBRARY)


def generate_demo(conn: Connection, *, count: int, seed: int, division: str,
                  on_progress: Callable[[int], None] | None = None,
                  actor: str = audit.SYSTEM) -> GenerateReport:
    """Generate COUNT address rows (all levels) under DIVISION and load them in the caller's transaction."""
    started = time.perf_counter()
    division = _check_arguments(count, seed, division)
    name = dataset_name(division, count, seed)
    if conn.execute(text("SELECT 1 FROM datasets WHERE name = :n"), {"n": name}).first():
        raise Conflict(f"demo addresses {name} are loaded already; remove them first "
                       f"(`gazetteer demo remove-addresses {name}`) or choose another seed")
    counties, without_polygon = _geography(conn, division)
    villages = [v for c in counties for v in c.villages]
    if not villages:
        raise InvalidInput(f"no village or community under {division} lies in a county with a polygon "
                           f"(counties without one: {', '.join(without_polygon) or 'none'})")
    _allocate(villages, count)
    chains = division_chains(conn, [v.code for v in villages if v.budget])
    for county in counties:
        _plan_county(county, seed)
    valid_from = today()
    names = _register_names(conn, counties, name, actor, valid_from)
    per_level = dict.fromkeys(LEVEL_ORDER, 0)
    ids = iter(reserve_ids(conn, count))
    rows = _rows(counties, chains, ids, per_level, name, actor, valid_from)
    loaded = load_rows(conn, rows, on_progress)
    if loaded != count:
        raise RuntimeError(f"generated {loaded} rows for a plan of {count}")
    report = GenerateReport(
        dataset=name, division=division, seed=seed, rows=loaded, per_level=per_level,
        streets=per_level["street"], compounds=per_level["compound"],
        villages=sum(1 for v in villages if v.budget), counties=[c.code for c in counties],
        counties_without_polygon=without_polygon, seconds=time.perf_counter() - started)
    _record(conn, report, names, actor)
    report.seconds = time.perf_counter() - started
    return report


def load_demo_library(conn: Connection, on_progress: Callable[[int], None] | None = None) -> GenerateReport:
    """The `make run` demo library: 100,000 addresses in 杭州市 (seed 1)."""
    return generate_demo(conn, on_progress=on_progress, **DEMO_LIBRARY)


def remove_demo(conn: Connection, dataset: str, *, actor: str = audit.SYSTEM) -> int:
    """Delete a demo load (its addresses, street and compound names and `datasets` row); rows deleted.

    Demo rows are set-up data, not history, so they are deleted rather than closed as versions."""
    if not dataset.startswith("demo-addresses-") or not conn.execute(
            text("SELECT 1 FROM datasets WHERE name = :n"), {"n": dataset}).first():
        raise NotFound(f"no demo address load is named {dataset!r}")
    deleted = conn.execute(text("DELETE FROM addresses WHERE source = :s"), {"s": dataset}).rowcount
    names = conn.execute(text("DELETE FROM place_names WHERE source = :s"), {"s": dataset}).rowcount
    conn.execute(text("DELETE FROM datasets WHERE name = :n"), {"n": dataset})
    audit.record(conn, actor=actor, action="delete", entity_type="dataset", entity_id=dataset,
                 before={"addresses": deleted, "place_names": names})
    return deleted


def _check_arguments(count: int, seed: int, division: str) -> str:
    errors = []
    if not 1 <= count <= MAX_COUNT:
        errors.append({"field": "count", "message": f"must be between 1 and {MAX_COUNT:,}"})
    if seed < 0:
        errors.append({"field": "seed", "message": "must be 0 or more"})
    division = (division or "").strip()
    if not (division.isascii() and division.isdigit() and len(division) in (6, 9)):
        errors.append({"field": "division", "message": "a 6-digit prefecture or county code or a 9-digit "
                                                       "township code"})
    elif len(division) == 6 and division.endswith("0000"):
        errors.append({"field": "division", "message": "a province is too large for a demo; use a "
                                                       "prefecture such as 330100"})
    if errors:
        raise InvalidInput("; ".join(f"{e['field']}: {e['message']}" for e in errors), errors=errors)
    return division


# ------------------------------------------------------------------ divisions and cells

_COUNTIES_OF = {
    "township": "code = (SELECT parent_code FROM divisions WHERE code = :c AND level = 4 AND valid_to IS NULL)",
    "prefecture": "(parent_code = :c OR code = :c)",  # 东莞 441900: the level-3 copy of itself
    "county": "code = :c",
}


def _geography(conn: Connection, division: str) -> tuple[list[_County], list[str]]:
    """The counties under DIVISION (with polygons) and their townships and villages, in code order."""
    levels = {r.level for r in conn.execute(text(
        "SELECT level FROM divisions WHERE code = :c AND valid_to IS NULL"), {"c": division})}
    if not levels:
        raise NotFound(f"no current division has code {division}")
    township = len(division) == 9
    kind = "township" if township else "prefecture" if 2 in levels else "county"
    rows = conn.execute(text(
        f"SELECT code, ST_AsBinary(geom) AS wkb FROM divisions WHERE level = 3 AND valid_to IS NULL "
        f"AND {_COUNTIES_OF[kind]} ORDER BY code"), {"c": division}).all()
    without = [r.code for r in rows if r.wkb is None]
    counties = [_county(conn, r.code, bytes(r.wkb), division if township else None)
                for r in rows if r.wkb is not None]
    return counties, without


def _county(conn: Connection, code: str, wkb: bytes, township: str | None) -> _County:
    towns = [r.code for r in conn.execute(text(
        "SELECT code FROM divisions WHERE parent_code = :c AND level = 4 AND valid_to IS NULL "
        "AND NOT placeholder ORDER BY code"), {"c": code})]
    villages = [_Village(r.code, r.name, r.kind, r.parent_code) for r in conn.execute(text(
        "SELECT code, name, kind, parent_code FROM divisions WHERE parent_code = ANY(:t) AND level = 5 "
        "AND valid_to IS NULL AND NOT placeholder ORDER BY code"), {"t": towns})
        if township is None or r.parent_code == township]
    geom = shapely.make_valid(shapely.from_wkb(wkb))
    street_last, compound_last = last_street_serials(conn, code)
    return _County(code=code, geom=geom, towns=towns, villages=villages, taken=_taken_names(conn, code),
                   street_serial=street_last, compound_serial=compound_last)


def _taken_names(conn: Connection, county: str) -> set[str]:
    """Street and compound names already in use in the county (library or registry)."""
    return {r.name for r in conn.execute(text(
        "SELECT name FROM addresses WHERE valid_to IS NULL AND level IN ('street', 'compound') "
        "AND county_code = :c UNION SELECT name FROM place_names WHERE valid_to IS NULL "
        "AND category IN ('0801', '0703') AND division_code LIKE :c || '%'"), {"c": county})}


def _points_in(region: shapely.Geometry, n: int, rng: np.random.Generator) -> np.ndarray:
    """N random points inside REGION (rejection sampling in its bounding box), shape (n, 2)."""
    if n == 0:
        return np.empty((0, 2))
    shapely.prepare(region)
    minx, miny, maxx, maxy = region.bounds
    ratio = max(region.area / max((maxx - minx) * (maxy - miny), 1e-18), 0.02)
    found: list[np.ndarray] = []
    have = 0
    for _ in range(40):
        k = int((n - have) / ratio * 1.3) + 16
        xy = np.column_stack([rng.uniform(minx, maxx, k), rng.uniform(miny, maxy, k)])
        xy = xy[shapely.contains_xy(region, xy[:, 0], xy[:, 1])]
        found.append(xy)
        have += len(xy)
        if have >= n:
            return np.concatenate(found)[:n]
    # A sliver the sampler keeps missing: fall back to points on its surface.
    inside = shapely.get_coordinates(region.representative_point())
    return np.concatenate([*found, np.repeat(inside, n - have, axis=0)])[:n]


def _cells(region: shapely.Geometry, points: np.ndarray) -> list[shapely.Geometry]:
    """The Voronoi cells of POINTS clipped to REGION, in the order of the points."""
    if len(points) == 1:
        return [region]
    diagram = shapely.voronoi_polygons(shapely.multipoints(points), extend_to=region, ordered=True)
    parts = shapely.get_parts(diagram)
    if len(parts) != len(points):  # coincident fallback points: share the region
        return [region] * len(points)
    clipped = shapely.intersection(parts, region)
    return [_polygonal(c, region) for c in clipped]


def _polygonal(geom: shapely.Geometry, fallback: shapely.Geometry) -> shapely.Geometry:
    polygons = [g for g in shapely.get_parts(geom) if g.geom_type == "Polygon" and not g.is_empty]
    return shapely.multipolygons(polygons) if polygons else fallback


# ------------------------------------------------------------------ how many rows where

def _allocate(villages: list[_Village], count: int) -> None:
    """Spread COUNT over the villages: every village when there are enough rows, else every k-th one."""
    active = min(len(villages), max(1, count // MIN_PER_VILLAGE))
    chosen = [villages[int((i + 0.5) * len(villages) / active)] for i in range(active)]
    weights = np.array([URBAN_WEIGHT if v.urban else 1.0 for v in chosen])
    for village, budget in zip(chosen, _split(count, weights), strict=True):
        village.budget = int(budget)


def _split(total: int, weights: np.ndarray) -> np.ndarray:
    """TOTAL split in proportion to WEIGHTS, whole numbers that add up (largest remainder)."""
    raw = total * weights / weights.sum()
    base = np.floor(raw).astype(np.int64)
    rest = total - int(base.sum())
    base[np.argsort(base - raw, kind="stable")[:rest]] += 1
    return base


def _compound_plans(budget: int, rng: np.random.Generator) -> list[list[tuple[int, int, int]]]:
    """Compounds of 4–20 buildings (1–3 units, 6–18 floors, 2–4 rooms a floor) within BUDGET rows."""
    plans = []
    left = budget
    while left >= 1 + MIN_BUILDING_ROWS:
        left -= 1
        style = (int(rng.integers(1, 4)), int(rng.integers(6, 19)), int(rng.integers(2, 5)))
        wanted = int(rng.integers(4, 21))
        plan: list[tuple[int, int, int]] = []
        while len(plan) < wanted and left >= MIN_BUILDING_ROWS:
            building = _fit(style, left)
            plan.append(building)
            left -= _building_rows(building)
        plans.append(plan)
    return plans


def _building_rows(building: tuple[int, int, int]) -> int:
    units, floors, rooms = building
    return 1 + units * (1 + floors * rooms)


def _fit(style: tuple[int, int, int], left: int) -> tuple[int, int, int]:
    """The building style made smaller (floors, then rooms, then units) until it fits in LEFT rows."""
    units, floors, rooms = style
    while _building_rows((units, floors, rooms)) > left:
        if floors > 6:
            floors -= 1
        elif rooms > 2:
            rooms -= 1
        else:
            units -= 1
    return units, floors, rooms


# ------------------------------------------------------------------ streets, plates, compounds

def _plan_county(county: _County, seed: int) -> None:
    """Cells, names, streets and compounds for the villages of a county that have a budget."""
    if not any(v.budget for v in county.villages):
        return
    rng = np.random.default_rng([seed, int(county.code)])
    stems = [w + d for w in STREET_WORDS for d in DIRECTIONS]
    county.street_pools = {g: [stems[i] for i in rng.permutation(len(stems))] for g in STREET_GENERICS}
    county.street_pools.update({g: [STREET_WORDS[i] for i in rng.permutation(len(STREET_WORDS))]
                                for g in ORDINALS})
    county.compound_pairs = [(w, g) for w in COMPOUND_WORDS for g in COMPOUND_GENERICS]
    county.compound_pairs = [county.compound_pairs[i] for i in rng.permutation(len(county.compound_pairs))]
    town_cells = dict(zip(county.towns, _cells(county.geom, _points_in(county.geom, len(county.towns), rng)),
                          strict=True))
    by_town: dict[str, list[_Village]] = {}
    for village in county.villages:
        by_town.setdefault(village.town, []).append(village)
    for town, villages in by_town.items():
        if not any(v.budget for v in villages):
            continue
        town_rng = np.random.default_rng([seed, int(town)])
        cells = _cells(town_cells[town], _points_in(town_cells[town], len(villages), town_rng))
        for village, cell in zip(villages, cells, strict=True):
            if village.budget:
                _plan_village(county, village, cell, np.random.default_rng([seed, int(village.code)]))


def _plan_village(county: _County, village: _Village, cell: shapely.Geometry,
                  rng: np.random.Generator) -> None:
    budget = village.budget
    plans = _compound_plans(int(budget * rng.uniform(0.6, 0.8)), rng) \
        if village.urban and budget >= COMPOUND_MIN_BUDGET else []
    rest = budget - sum(1 + sum(_building_rows(b) for b in plan) for plan in plans)
    streets = int(min(rest, MAX_STREETS_PER_VILLAGE, max(1, round(rest / int(rng.integers(30, 70))))))
    left = rest - streets
    buildings = int(left * 0.08) if not village.urban and left >= 12 else 0
    plates = _split(left - buildings, rng.uniform(0.5, 1.5, streets)) if streets else []
    lat = cell.centroid.y
    inner = _inner(cell, lat)
    stem = "" if village.urban else _village_stem(village.name)
    for n in plates:
        village.streets.append(_street(county, inner, int(n), lat, stem, rng))
    _add_rural_buildings(village.streets, buildings, lat, rng)
    for plan in plans:
        village.compounds.append(_compound(county, inner, plan, lat, rng))
    _keep_inside(village, cell, rng)


def _inner(cell: shapely.Geometry, lat: float) -> shapely.Geometry:
    """The cell shrunk by 40 m (20 m, or not at all for small cells), so plates offset from a street
    stay in their village."""
    for metres in (40.0, 20.0):
        inner = cell.buffer(-metres / M_PER_DEG)
        if not inner.is_empty and inner.area > cell.area * 0.05:
            return inner
    return cell


def _scale(lat: float) -> tuple[float, float]:
    """Degrees per metre east and north at latitude LAT."""
    return 1.0 / (M_PER_DEG * math.cos(math.radians(lat))), 1.0 / M_PER_DEG


def _village_stem(name: str) -> str:
    """The 专名 of a village for naming its roads (白沙村 → 白沙); empty when it does not make one."""
    for suffix in VILLAGE_SUFFIXES:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return name if 2 <= len(name) <= 5 and all("\u4e00" <= ch <= "\u9fff" for ch in name) else ""


def _street(county: _County, inner: shapely.Geometry, plates: int, lat: float, stem: str,
            rng: np.random.Generator) -> _Street:
    if plates >= 10_000:
        raise InvalidInput(f"{plates} plates on one street do not fit 4 code digits; use a larger division "
                           "or a smaller count")
    direction = "EW" if rng.random() < 0.5 else "NS"
    numbers = _plate_numbers(plates, rng)
    per_side = max(sum(1 for p in numbers if p[0] % 2), sum(1 for p in numbers if not p[0] % 2), 1)
    length_m = max(80.0, per_side * float(rng.uniform(15.0, 35.0)))
    (x0, y0), (x1, y1) = _segment(inner, direction, length_m, lat, rng)
    length_m = math.hypot((x1 - x0) / _scale(lat)[0], (y1 - y0) / _scale(lat)[1])
    name = _street_name(county, length_m, stem)
    xs, ys = _plate_points(numbers, direction, (x0, y0, x1, y1), lat)
    county.street_serial += 1
    if county.street_serial not in STREET_SERIALS:
        raise InvalidInput(f"county {county.code} has no street serials left (00001–79999)")
    return _Street(serial=county.street_serial, name=name, direction=direction,
                   coords=f"LINESTRING({x0:.7f} {y0:.7f},{x1:.7f} {y1:.7f})",
                   mid=((x0 + x1) / 2, (y0 + y1) / 2), plates=numbers, xs=xs, ys=ys,
                   buildings=[0] * len(numbers), bxs=np.empty(0), bys=np.empty(0))


def _segment(inner: shapely.Geometry, direction: str, length_m: float, lat: float,
             rng: np.random.Generator) -> tuple[tuple[float, float], tuple[float, float]]:
    """A straight EW or NS segment through a random point of INNER, clipped to it; from its numbering
    start (east end of an EW street, north end of an NS street) to its other end."""
    (cx, cy), = _points_in(inner, 1, rng)
    dx, dy = _scale(lat)
    half = length_m / 2
    if direction == "EW":
        line = shapely.linestrings([[cx + half * dx, cy], [cx - half * dx, cy]])
    else:
        line = shapely.linestrings([[cx, cy + half * dy], [cx, cy - half * dy]])
    pieces = shapely.get_parts(shapely.intersection(line, inner))
    pieces = [p for p in pieces if p.geom_type == "LineString" and p.length > 0]
    if pieces:
        centre = shapely.points(cx, cy)
        piece = min(pieces, key=lambda p: p.distance(centre))
        (ax, ay), (bx, by) = shapely.get_coordinates(piece)[[0, -1]]
    else:  # the cell is too thin for any length: a 20 m stub
        ax, ay, bx, by = (cx + 10 * dx, cy, cx - 10 * dx, cy) if direction == "EW" else \
            (cx, cy + 10 * dy, cx, cy - 10 * dy)
    if (direction == "EW" and ax < bx) or (direction == "NS" and ay < by):
        ax, ay, bx, by = bx, by, ax, ay
    return (float(ax), float(ay)), (float(bx), float(by))


def _street_name(county: _County, length_m: float, stem: str) -> str:
    """A street name not yet used in the county: after its village (rural), else from the word pools
    with a generic that fits the street's length, else an ordinal (翠柏三路)."""
    candidates = (stem + g for g in VILLAGE_ROAD_GENERICS) if stem else ()
    for name in candidates:
        if name not in county.taken:
            county.taken.add(name)
            return name
    for generic in (*next(g for limit, g in GENERICS_BY_LENGTH if length_m < limit), *ORDINALS):
        pool = county.street_pools[generic]
        while pool:
            name = pool.pop() + generic
            if name not in county.taken:
                county.taken.add(name)
                return name
    raise InvalidInput(f"county {county.code} has run out of unique demo street names; "
                       "use a smaller count or a larger division")


def _plate_numbers(n: int, rng: np.random.Generator) -> list[tuple[int, str, bool]]:
    """(number, suffix, reserved) for N plates: odd numbers on one side, even on the other,
    each side numbered 1, 3, 5 … / 2, 4, 6 … with ~2 % suffixed (之1) and ~2 % reserved numbers."""
    draws = rng.random((n, 2))
    out: list[tuple[int, str, bool]] = []
    last = {"odd": (-1, True), "even": (0, True)}  # (last number, can it take a suffix)
    for i in range(n):
        side = "odd" if i % 2 == 0 else "even"
        number, open_for_suffix = last[side]
        if open_for_suffix and number > 0 and draws[i, 0] < SUFFIX_SHARE:
            out.append((number, "之1", False))
            last[side] = (number, False)
            continue
        number += 2
        reserved = bool(draws[i, 1] < RESERVED_SHARE)
        out.append((number, "", reserved))
        last[side] = (number, not reserved)
    return out


def _plate_points(numbers, direction: str, line: tuple[float, float, float, float],
                  lat: float) -> tuple[np.ndarray, np.ndarray]:
    """Plate points spread along the line from its start, 15 m off to their side."""
    x0, y0, x1, y1 = line
    dx, dy = _scale(lat)
    odd = np.array([n % 2 == 1 for n, _, _ in numbers], dtype=bool)
    slot = np.zeros(len(numbers))
    for mask in (odd, ~odd):
        slot[mask] = (np.arange(mask.sum()) + 0.5) / max(mask.sum(), 1)
    xs = x0 + slot * (x1 - x0)
    ys = y0 + slot * (y1 - y0)
    # Beijing: EW streets odd north, even south; NS streets odd west, even east.
    sign = np.where(odd, 1.0, -1.0)
    if direction == "EW":
        ys = ys + sign * PLATE_OFFSET_M * dy
    else:
        xs = xs - sign * PLATE_OFFSET_M * dx
    return xs, ys


def _side(direction: str, number: int) -> str:
    if direction == "EW":
        return "N" if number % 2 else "S"
    return "W" if number % 2 else "E"


def _add_rural_buildings(streets: list[_Street], buildings: int, lat: float, rng: np.random.Generator) -> None:
    """Spread BUILDINGS over the village's unreserved plates, each 20 m behind its plate."""
    if not buildings:
        return
    slots = [(s, i) for s in streets for i, p in enumerate(s.plates) if not p[2]]
    if not slots:  # every plate reserved (vanishingly rare): the first becomes a real one
        number, suffix, _ = streets[0].plates[0]
        streets[0].plates[0] = (number, suffix, False)
        slots = [(streets[0], 0)]
    picks = list(rng.choice(len(slots), size=min(buildings, len(slots)), replace=False))
    picks += list(rng.integers(len(slots), size=buildings - len(picks)))
    for pick in picks:
        street, i = slots[pick]
        street.buildings[i] += 1
    dx, dy = _scale(lat)
    for street in streets:
        counts = np.array(street.buildings)
        if not counts.any():
            continue
        owner = np.repeat(np.arange(len(counts)), counts)
        step = np.concatenate([np.arange(c) for c in counts if c]) + 1
        away_x = np.sign(street.xs[owner] - street.mid[0]) if street.direction == "NS" else 0.0
        away_y = np.sign(street.ys[owner] - street.mid[1]) if street.direction == "EW" else 0.0
        street.bxs = street.xs[owner] + away_x * 20.0 * step * dx
        street.bys = street.ys[owner] + away_y * 20.0 * step * dy


def _compound(county: _County, inner: shapely.Geometry, plan: list[tuple[int, int, int]], lat: float,
              rng: np.random.Generator) -> _Compound:
    (cx, cy), = _points_in(inner, 1, rng)
    dx, dy = _scale(lat)
    columns = math.ceil(math.sqrt(len(plan))) or 1
    rows = math.ceil(len(plan) / columns) or 1
    k = np.arange(len(plan))
    row = k // columns
    # Buildings in an S from the north-east corner (DB11): even rows east to west, odd rows back.
    col = np.where(row % 2 == 0, k % columns, columns - 1 - k % columns)
    bxs = cx + ((columns - 1) / 2 - col) * 35.0 * dx
    bys = cy + ((rows - 1) / 2 - row) * 35.0 * dy
    county.compound_serial += 1
    if county.compound_serial not in COMPOUND_SERIALS:
        raise InvalidInput(f"county {county.code} has no compound serials left (80000–99999)")
    return _Compound(serial=county.compound_serial, name=_compound_name(county), x=float(cx), y=float(cy),
                     buildings=plan, bxs=bxs, bys=bys)


def _compound_name(county: _County) -> str:
    for phase in PHASES:
        for word, generic in county.compound_pairs:
            name = word + generic + phase
            if name not in county.taken:
                county.taken.add(name)
                return name
    raise InvalidInput(f"county {county.code} has run out of unique demo compound names")


def _keep_inside(village: _Village, cell: shapely.Geometry, rng: np.random.Generator) -> None:
    """Move any point that fell outside the village's cell (thin cells, big compounds) inside it."""
    shapely.prepare(cell)
    for street in village.streets:
        _fix(cell, street.xs, street.ys, rng)
        _fix(cell, street.bxs, street.bys, rng)
        if not shapely.contains_xy(cell, *street.mid):
            (x, y), = _points_in(cell, 1, rng)
            street.mid = (float(x), float(y))
    for compound in village.compounds:
        _fix(cell, compound.bxs, compound.bys, rng)


def _fix(cell: shapely.Geometry, xs: np.ndarray, ys: np.ndarray, rng: np.random.Generator) -> None:
    if not len(xs):
        return
    outside = ~shapely.contains_xy(cell, xs, ys)
    if outside.any():
        replacement = _points_in(cell, int(outside.sum()), rng)
        xs[outside], ys[outside] = replacement[:, 0], replacement[:, 1]


# ------------------------------------------------------------------ names and rows

def _register_names(conn: Connection, counties: list[_County], source: str, actor: str,
                    valid_from: dt.date) -> int:
    """Register every street and compound as a standard name and remember its name id."""
    owners: list[_Street | _Compound] = []
    items: list[StandardName] = []
    for county in counties:
        for village in county.villages:
            for street in village.streets:
                owners.append(street)
                items.append(StandardName(street.name, STREET_CATEGORY, village.town, street.coords, source, actor,
                                          valid_from))
            for compound in village.compounds:
                owners.append(compound)
                items.append(StandardName(compound.name, COMPOUND_CATEGORY, village.town,
                                          f"POINT({compound.x:.7f} {compound.y:.7f})", source, actor,
                                          valid_from))
    for owner, name_id in zip(owners, register_standard_names(conn, items), strict=True):
        owner.place_name_id = name_id
    return len(items)


def _rows(counties: list[_County], chains: dict[str, DivisionNames], ids: Iterator[int],
          per_level: dict[str, int], source: str, actor: str, valid_from: dt.date) -> Iterator[AddressRow]:
    for county in counties:
        for village in county.villages:
            if not village.budget:
                continue
            names = chains[village.code]
            head = full_address(names, "")
            emit = _Emitter(village.code, head, ids, per_level, source, actor, valid_from)
            for street in village.streets:
                yield from emit.street(street)
            for compound in village.compounds:
                yield from emit.compound(compound)


@dataclass(slots=True)
class _Emitter:
    """Turns one village's plan into AddressRows (positional construction: this is the hot loop)."""

    village: str
    head: str                   # the full address up to the local part
    ids: Iterator[int]
    per_level: dict[str, int]
    source: str
    actor: str
    valid_from: dt.date

    def _row(self, address_id, code, level, name, local, point, *, parent=None, street=None, compound=None,
             number=None, suffix="", side=None, direction=None, reserved=False, place_name_id=None,
             keys=("", ""), geom=None) -> AddressRow:
        self.per_level[level] += 1
        return AddressRow(address_id, code, level, self.village, name, local, self.head + local, point,
                          self.source, self.valid_from, self.actor, parent, street, compound, number, suffix,
                          side, direction, reserved, place_name_id, keys[0], keys[1], geom)

    def street(self, street: _Street) -> Iterator[AddressRow]:
        street_id = next(self.ids)
        code = f"{self.village}{street.serial:05d}"
        keys = name_keys(street.name, STREET_CATEGORY, self.village)[3:]
        yield self._row(street_id, code, "street", street.name, street.name, _wkt(*street.mid),
                        direction=street.direction, place_name_id=street.place_name_id, keys=keys,
                        geom=street.coords)
        b = 0
        for serial, ((number, suffix, reserved), x, y, buildings) in enumerate(
                zip(street.plates, street.xs, street.ys, street.buildings, strict=True), start=1):
            plate_id = next(self.ids)
            plate = plate_name(number, suffix)
            plate_code = f"{code}{serial:04d}"
            local = street.name + plate
            yield self._row(plate_id, plate_code, "plate", plate, local, _wkt(x, y), parent=street_id,
                            street=street_id, number=number, suffix=suffix,
                            side=_side(street.direction, number), reserved=reserved)
            for k in range(1, buildings + 1):
                name = building_name(k)
                yield self._row(next(self.ids), f"{plate_code}{k:03d}", "building", name, local + name,
                                _wkt(street.bxs[b], street.bys[b]), parent=plate_id, street=street_id, number=k)
                b += 1

    def compound(self, compound: _Compound) -> Iterator[AddressRow]:
        compound_id = next(self.ids)
        code = f"{self.village}{compound.serial:05d}"
        point = _wkt(compound.x, compound.y)
        keys = name_keys(compound.name, COMPOUND_CATEGORY, self.village)[3:]
        yield self._row(compound_id, code, "compound", compound.name, compound.name, point,
                        place_name_id=compound.place_name_id, keys=keys, geom=point)
        for b, ((units, floors, rooms), x, y) in enumerate(
                zip(compound.buildings, compound.bxs, compound.bys, strict=True), start=1):
            yield from self._building(compound_id, f"{code}0000{b:03d}", b, compound.name, _wkt(x, y),
                                      units, floors, rooms)

    def _building(self, compound_id, code, number, above, point, units, floors, rooms) -> Iterator[AddressRow]:
        building_id = next(self.ids)
        local = above + building_name(number)
        yield self._row(building_id, code, "building", building_name(number), local, point,
                        parent=compound_id, compound=compound_id, number=number)
        for u in range(1, units + 1):
            unit_id = next(self.ids)
            unit_code = f"{code}{u:02d}"
            unit_local = local + unit_name(u)
            yield self._row(unit_id, unit_code, "unit", unit_name(u), unit_local, point, parent=building_id,
                            compound=compound_id, number=u)
            serial = 0
            for floor in range(1, floors + 1):
                for r in range(1, rooms + 1):
                    serial += 1
                    room = floor * 100 + r
                    name = room_name(room)
                    yield self._row(next(self.ids), f"{unit_code}{serial:04d}", "room", name, unit_local + name,
                                    point, parent=unit_id, compound=compound_id, number=room)


def _wkt(x: float, y: float) -> str:
    return f"POINT({x:.7f} {y:.7f})"


def _record(conn: Connection, report: GenerateReport, names: int, actor: str) -> None:
    details = {**report.as_dict(), "place_names": names}
    conn.execute(text(
        "INSERT INTO datasets (name, version, source, terms, row_count, details) "
        "VALUES (:n, :v, :s, :t, :c, CAST(:d AS jsonb))"),
        {"n": report.dataset, "v": f"seed {report.seed}",
         "s": "gazetteer demo generator (addresses/generate.py) on the real division codes and demo polygons",
         "t": "synthetic demo data: the streets, compounds and numbers are invented", "c": report.rows,
         "d": _json(details)})
    audit.record(conn, actor=actor, action="import", entity_type="dataset", entity_id=report.dataset,
                 after=details)


def _json(value) -> str:
    return json.dumps(value, ensure_ascii=False)
