"""Address parser speed (and admin accuracy on the same inputs), ours against cpca 0.5.5.

Run with `.venv/bin/python bench/parse.py [--count N] [--seed S] [--calls C] [--repeats R]`. The
inputs are generated reproducibly from the real `divisions` table: a township drawn at random (70 %
in Zhejiang), written the way people write addresses — with or without the province and city, short
forms (浙江杭州, 萧山), with or without the township — then a road, a number, sometimes a compound,
building, unit and room. A second scenario is one prefecture's own register (one writing style, 20
roads per township), the shape of a municipal batch job. Both parsers run on the same inputs in this
process; the batch rate is the best of R runs, each of ours starting with empty prefix caches (the
lazily built per-county township tables stay, as in a running service); the single-call p50 uses
addresses the batch did not contain. Because the generator knows which divisions it wrote, the
table also shows how often each parser got the province, city and county codes right (a sanity
check, not the held-out accuracy: generator and parser share authors). Results are written to
bench/results/parse.json.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text

from addresses.admin import admin_index
from addresses.parse import parse, parse_one
from data.db import make_engine
from data.settings import get_settings

RESULTS = Path(__file__).resolve().parent / "results"
ROAD_WORDS = ("文一 文二 文三 学院 解放 建设 和平 丰收 翠柏 湖滨 春晖 人民 中山 延安 庆春 凤起 莫干山 天目山 古墩 "
              "紫金港 教工 保俶 曙光 求是 玉古 余杭塘 丰潭 益乐 文晖 德胜 石桥 东新 上塘 湖墅 江南 滨盛 江陵 长河 "
              "南环 环城 北京 南京 四川 新华 朝阳 光明 胜利 青年 工人 复兴 振兴 新安 育才 府前 体育场 钱江 "
              "江滨 望江 沿江 金鸡 百合 香樟 银杏 梧桐 桂花 芙蓉 丁香 兴业 创业 科技 同心 园林 新民").split()
ROAD_TYPES = ("路",) * 6 + ("街", "大道", "巷")
DIRECTIONS = ("",) * 6 + ("东", "西", "南", "北", "中")
POI_WORDS = ("阳光 金色 绿城 万科 华润 保利 世纪 国际 时代 滨江 钱江 春江 翠苑 嘉园 和家 桂花 兰亭 香樟 "
             "锦绣 金都 东方 南都 都市 名门 城市 景湖 蓝色 碧水 星河 月亮湾").split()
POI_TYPES = ("小区", "花园", "公寓", "大厦", "广场", "家园", "新村", "苑", "府", "中心")
SUFFIXES = ("特别行政区", "自治区", "省", "市", "区", "县", "旗", "盟", "地区")


@dataclass(frozen=True)
class Case:
    """A generated address and the codes it names."""

    text: str
    province: str
    city: str
    county: str
    town: str | None


def load(conn) -> tuple[dict, list[str]]:
    """Current divisions of levels 1–4 by (code, level), and all township codes in code order."""
    rows = conn.execute(text(
        "SELECT code, level, name, parent_code, placeholder FROM divisions "
        "WHERE valid_to IS NULL AND level <= 4 ORDER BY level, code")).all()
    return {(r.code, r.level): r for r in rows}, [r.code for r in rows if r.level == 4]


def short(name: str) -> str:
    """Drop a plain administrative suffix (杭州市 → 杭州) when two characters remain."""
    for suffix in SUFFIXES:
        if name.endswith(suffix) and len(name) - len(suffix) >= 2 and "族" not in name:
            return name[: -len(suffix)]
    return name


def generate(conn, count: int, seed: int) -> list[Case]:
    """COUNT reproducible addresses with their codes."""
    by_key, towns = load(conn)
    rng = random.Random(seed)
    zhejiang = [t for t in towns if t.startswith("33")]
    cases = []
    for _ in range(count):
        town = by_key[(rng.choice(zhejiang if rng.random() < 0.7 else towns), 4)]
        county = by_key[(town.parent_code, 3)]
        city = by_key[(county.parent_code, 2)]
        province = by_key[(city.parent_code, 1)]
        cases.append(_case(rng, province, city, county, town))
    return cases


def _case(rng: random.Random, province, city, county, town) -> Case:
    parts = []
    style = rng.random()
    if style < 0.55:
        parts.append(province.name if rng.random() < 0.8 else short(province.name))
    if style < 0.85 and not city.placeholder:
        parts.append(city.name if rng.random() < 0.75 else short(city.name))
    if not county.placeholder:
        parts.append(county.name if rng.random() < 0.85 or style < 0.55 else short(county.name))
    with_town = rng.random() < 0.6
    if with_town:
        parts.append(town.name)
    parts.append(_local(rng))
    return Case("".join(parts), province.code, city.code, county.code, town.code if with_town else None)


def _local(rng: random.Random) -> str:
    road = rng.choice(ROAD_WORDS) + rng.choice(DIRECTIONS) + rng.choice(ROAD_TYPES)
    out = f"{road}{rng.randint(1, 999)}号"
    if rng.random() < 0.5:
        out += rng.choice(POI_WORDS) + rng.choice(POI_TYPES)
    if rng.random() < 0.6:
        out += f"{rng.randint(1, 30)}幢{rng.randint(1, 4)}单元{rng.randint(1, 18)}0{rng.randint(1, 4)}室"
    return out


def cpca_codes(texts: list[str]) -> list[str | None]:
    """cpca's six-digit adcode per text, or None."""
    import cpca

    frame = cpca.transform(texts)
    return [None if code is None or code != code else str(code)[:6] for code in frame["adcode"]]


def accuracy(cases: list[Case], codes: list[tuple]) -> dict[str, float]:
    """Share of cases whose province, city, county codes (and all three) came out right."""
    hits = {"province": 0, "city": 0, "county": 0, "all": 0}
    for case, (province, city, county) in zip(cases, codes, strict=True):
        right = (province == case.province, city == case.city, county == case.county)
        for key, ok in zip(("province", "city", "county"), right, strict=True):
            hits[key] += ok
        hits["all"] += all(right)
    return {k: round(100 * v / len(cases), 2) for k, v in hits.items()}


def cpca_tuple(code: str | None) -> tuple:
    """(province, city, county) codes as the divisions table writes them, from a cpca adcode."""
    if not code:
        return (None, None, None)
    province = code[:2] + "0000"
    if code.endswith("0000"):
        return (province, None, None)
    city = code[:4] + "00"
    return (province, city, None if code.endswith("00") else code)


def timed_calls(func, items) -> float:
    """Median milliseconds of FUNC over ITEMS, one call each."""
    times = []
    for item in items:
        started = time.perf_counter()
        func(item)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def register(conn, count: int, seed: int, city: str) -> list[Case]:
    """COUNT addresses of one prefecture as its own register writes them: one style (province, city,
    county, township), 20 fixed roads per township, numbers, compounds and rooms varying."""
    by_key, towns = load(conn)
    rng = random.Random(seed)
    mine = [t for t in towns if by_key[(by_key[(t, 4)].parent_code, 3)].parent_code == city]
    roads = {t: [rng.choice(ROAD_WORDS) + rng.choice(DIRECTIONS) + rng.choice(ROAD_TYPES) for _ in range(20)]
             for t in mine}
    cases = []
    for _ in range(count):
        town = by_key[(rng.choice(mine), 4)]
        county = by_key[(town.parent_code, 3)]
        prefecture = by_key[(county.parent_code, 2)]
        province = by_key[(prefecture.parent_code, 1)]
        local = _local(rng).split("号", 1)[1]
        text_ = (f"{province.name}{prefecture.name}{county.name}{town.name}{rng.choice(roads[town.code])}"
                 f"{rng.randint(1, 999)}号{local}")
        cases.append(Case(text_, province.code, prefecture.code, county.code, town.code))
    return cases


def measure(cases: list[Case], singles: list[str], index, repeats: int) -> dict:
    """Both parsers on the same inputs: best-of-REPEATS batch rate, single-call p50, admin accuracy."""
    texts = [c.text for c in cases]
    rates = []
    for _ in range(repeats):
        index.forget()  # every batch starts without the prefixes the last one resolved
        started = time.perf_counter()
        ours = parse(texts, index)
        rates.append(len(texts) / (time.perf_counter() - started))
    index.forget()
    result = {"ours": {"addresses_per_s": round(max(rates)),
                       "p50_ms": round(timed_calls(lambda t: parse_one(t, index), singles), 4),
                       "accuracy": accuracy(cases, [(p.province_code, p.city_code, p.county_code)
                                                    for p in ours])}}
    try:
        import cpca  # noqa: F401
    except ImportError:
        return result
    rates = []
    for _ in range(repeats):
        started = time.perf_counter()
        theirs = cpca_codes(texts)
        rates.append(len(texts) / (time.perf_counter() - started))
    result["cpca"] = {"addresses_per_s": round(max(rates)),
                      "p50_ms": round(timed_calls(lambda t: cpca_codes([t]), singles), 4),
                      "accuracy": accuracy(cases, [cpca_tuple(c) for c in theirs])}
    return result


def main() -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000, help="batch size")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--calls", type=int, default=2_000, help="single calls for the p50")
    parser.add_argument("--repeats", type=int, default=3, help="batch runs per parser; the best counts")
    parser.add_argument("--city", default="330100", help="prefecture of the register scenario")
    args = parser.parse_args()
    engine = make_engine(get_settings())
    with engine.connect() as conn:
        started = time.perf_counter()
        index = admin_index(conn)
        build = time.perf_counter() - started
        national = generate(conn, args.count + args.calls, args.seed)
        city = register(conn, args.count + args.calls, args.seed, args.city)
    try:
        import cpca  # noqa: F401
    except ImportError:
        print("cpca is not installed: `.venv/bin/pip install cpca==0.5.5` (or `pip install -e '.[bench]'`)"
              " to compare with it; reporting ours only.")
    else:
        cpca_codes([c.text for c in national[:200]])  # its first call loads pandas
    parse([c.text for c in national[:200]], index)
    report = {"count": args.count, "seed": args.seed, "repeats": args.repeats, "index_build_s": round(build, 2),
              "scenarios": {}}
    # The single-call p50 uses addresses the batch has not seen (the index caches resolved prefixes).
    for name, cases in (("national", national), (f"register {args.city}", city)):
        report["scenarios"][name] = measure(cases[: args.count], [c.text for c in cases[args.count:]],
                                            index, args.repeats)
    _print(report)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "parse.json").write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n")


def _print(report) -> None:
    print(f"{report['count']} generated addresses per scenario, seed {report['seed']}, best of "
          f"{report['repeats']} batches; index built in {report['index_build_s']} s")
    print(f"{'scenario':<18}{'parser':<24}{'addr/s (batch)':>16}{'p50 ms/call':>13}{'prov %':>8}{'city %':>8}"
          f"{'county %':>10}{'all 3 %':>9}")
    for scenario, rows in report["scenarios"].items():
        for name, r in rows.items():
            a = r["accuracy"]
            label = "ours (addresses.parse)" if name == "ours" else "cpca 0.5.5 transform"
            print(f"{scenario:<18}{label:<24}{r['addresses_per_s']:>16,}{r['p50_ms']:>13.4f}{a['province']:>8}"
                  f"{a['city']:>8}{a['county']:>10}{a['all']:>9}")


if __name__ == "__main__":
    main()
