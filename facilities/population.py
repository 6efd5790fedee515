"""Population per division: a CSV import (code, population, elderly_population, year, source), all or
nothing, and the demo estimate for 杭州市.

The demo estimate is not a statistic: 杭州市's 2020 census resident population (11,936,010, 第七次全国人口
普查) spread over its villages and communities in proportion to their residential addresses in the demo
library (a sample of the city's addresses), with 20 % aged 60 or over (design choice). Its `source` says so.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from data import audit
from data.errors import InvalidInput

COLUMNS = {
    "code": ("code", "division_code", "区划代码", "代码", "统计用区划代码"),
    "population": ("population", "人口", "常住人口", "户籍人口", "总人口"),
    "elderly_population": ("elderly_population", "elderly", "老年人口", "60岁以上人口", "老年人数"),
    "year": ("year", "年份", "年度"),
    "source": ("source", "来源", "数据来源"),
}
DEMO_DATASET = "demo-population-330100"
DEMO_TOTAL = 11_936_010          # 杭州市 2020 census resident population
DEMO_ELDERLY_SHARE = 0.20        # design choice
DEMO_SOURCE = ("demo estimate, not a statistic: 杭州市 2020 census total (11,936,010) spread over villages by "
               "their residential addresses in the demo library; 60+ = 20 %")
MAX_REPORTED = 50


def _header_map(header: list[str]) -> dict[str, int]:
    found = {}
    for index, name in enumerate(header):
        key = name.strip().lstrip("\ufeff").lower()
        for target, aliases in COLUMNS.items():
            if key in aliases and target not in found:
                found[target] = index
    missing = [t for t in ("code", "population") if t not in found]
    if missing:
        raise InvalidInput(f"the population file needs columns {', '.join(missing)} (e.g. code,population,"
                           "elderly_population,year,source or 区划代码,常住人口,老年人口,年份,来源)",
                           errors=[{"field": m, "message": "column missing"} for m in missing])
    return found


def _whole(value: str, field: str, line: int, errors: list[dict[str, str]], required: bool) -> int | None:
    text_value = (value or "").strip().replace(",", "")
    if not text_value:
        if required:
            errors.append({"field": f"line {line}", "message": f"{field} is empty"})
        return None
    try:
        number = float(text_value)
    except ValueError:
        number = float("nan")
    if not number.is_integer():
        errors.append({"field": f"line {line}", "message": f"{field} {value!r} is not a whole number"})
        return None
    number = int(number)
    if number < 0:
        errors.append({"field": f"line {line}", "message": f"{field} {number} is negative"})
        return None
    return number


def parse_population_csv(data: bytes | str, *, default_year: int, default_source: str) -> list[dict]:
    """The rows of a population CSV (UTF-8, BOM allowed), or a 422 listing every bad line by number."""
    content = data.decode("utf-8-sig") if isinstance(data, bytes) else data.lstrip("\ufeff")
    reader = csv.reader(io.StringIO(content))
    header = next(reader, None)
    if not header:
        raise InvalidInput("the population file is empty", errors=[{"field": "file", "message": "empty"}])
    where = _header_map(header)
    rows, errors, seen = [], [], {}
    for line, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue

        def cell(name: str, cells=cells) -> str:
            return cells[where[name]].strip() if name in where and where[name] < len(cells) else ""

        code = cell("code")
        if not (code.isdigit() and len(code) in (6, 9, 12)):
            errors.append({"field": f"line {line}", "message": f"code {code!r} is not a 6-, 9- or 12-digit code"})
        elif code in seen:
            errors.append({"field": f"line {line}", "message": f"code {code} repeats line {seen[code]}"})
        seen.setdefault(code, line)
        population = _whole(cell("population"), "population", line, errors, True)
        elderly = _whole(cell("elderly_population"), "elderly_population", line, errors, False)
        year = _whole(cell("year"), "year", line, errors, False) or default_year
        if population is not None and elderly is not None and elderly > population:
            errors.append({"field": f"line {line}", "message": "elderly_population is larger than population"})
        rows.append({"code": code, "population": population, "elderly_population": elderly, "year": year,
                     "source": cell("source") or default_source})
    if errors:
        raise InvalidInput(f"{len(errors)} errors in the population file, nothing loaded; first: "
                           f"{errors[0]['field']}: {errors[0]['message']}", errors=errors[:MAX_REPORTED])
    return rows


def store_population(db: Session | Connection, rows: list[dict], *, actor: str, dataset: str,
                     dry_run: bool = False) -> int:
    """Upsert ROWS into `division_population` after checking every code is a current division; audited."""
    codes = [r["code"] for r in rows]
    known = set(db.execute(text("SELECT code FROM divisions WHERE valid_to IS NULL AND code = ANY(:c)"),
                           {"c": codes}).scalars())
    unknown = [c for c in codes if c not in known]
    if unknown:
        raise InvalidInput(f"{len(unknown)} codes are not current divisions, nothing loaded; first: {unknown[0]}",
                           errors=[{"field": "code", "message": f"unknown division {c}"}
                                   for c in unknown[:MAX_REPORTED]])
    if dry_run or not rows:
        return len(rows)
    db.execute(text(
        "INSERT INTO division_population (code, population, elderly_population, year, source) VALUES (:code, "
        ":population, :elderly_population, :year, :source) ON CONFLICT (code) DO UPDATE SET "
        "population = excluded.population, elderly_population = excluded.elderly_population, year = excluded.year, "
        "source = excluded.source, loaded_at = now()"), rows)
    audit.record(db, actor=actor, action="population.import", entity_type="dataset", entity_id=dataset,
                 after={"rows": len(rows)})
    return len(rows)


def import_population_file(db: Session | Connection, path: Path, *, actor: str, year: int,
                           dry_run: bool = False) -> int:
    """Read and store a population CSV, all or nothing."""
    rows = parse_population_csv(path.read_bytes(), default_year=year, default_source=f"file {path.name}")
    return store_population(db, rows, actor=actor, dataset=f"population:{path.name}", dry_run=dry_run)


def load_demo_population(conn: Connection, on_progress: Callable[[int], None] | None = None,
                         prefix: str = "3301") -> int:
    """Store the demo population estimate of 杭州市's villages (see the module text); returns how many."""
    counts = conn.execute(text(
        "SELECT village_code, count(*) FROM addresses WHERE valid_to IS NULL AND level IN ('plate', 'building') "
        "AND NOT reserved AND village_code LIKE :p GROUP BY village_code ORDER BY village_code"),
        {"p": prefix + "%"}).all()
    total = sum(n for _, n in counts)
    rows = [{"code": code, "population": round(DEMO_TOTAL * n / total),
             "elderly_population": round(DEMO_TOTAL * n / total * DEMO_ELDERLY_SHARE), "year": 2020,
             "source": DEMO_SOURCE} for code, n in counts] if total else []
    count = store_population(conn, rows, actor=audit.SYSTEM, dataset=DEMO_DATASET)
    conn.execute(text(
        "INSERT INTO datasets (name, version, source, terms, row_count) VALUES (:n, '2020', :s, "
        "'demo estimate', :c) ON CONFLICT (name) DO UPDATE SET row_count = excluded.row_count, loaded_at = now()"),
        {"n": DEMO_DATASET, "s": DEMO_SOURCE, "c": count})
    if on_progress:
        on_progress(count)
    return count

