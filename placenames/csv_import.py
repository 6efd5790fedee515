"""Import census-style CSV (第二次全国地名普查 登记表 columns, §2) into the registry, all or nothing."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Connection, text

from data.errors import GazetteerError, InvalidInput
from placenames.categories import get_category
from placenames.registry import NameInput, register

# Header aliases: the census form's Chinese column names and plain English ones.
HEADERS = {
    "name": ("标准名称", "名称", "name"),
    "category": ("类别", "类别名称", "类别代码", "category"),
    "division_code": ("所在(跨)行政区", "所在（跨）行政区", "所在行政区", "行政区划代码", "division_code"),
    "romanization": ("罗马字母拼写", "romanization"),
    "minority_name": ("民族文字", "minority_name"),
    "minority_language": ("语种", "minority_language"),
    "lon": ("东经", "经度", "lon"),
    "lat": ("北纬", "纬度", "lat"),
    "meaning": ("地名含义", "含义", "meaning"),
    "history": ("历史沿革", "沿革", "history"),
    "status": ("使用时间", "状态", "status"),
    "established": ("设立年份", "established"),
    "aliases": ("别名", "aliases"),
    "former_names": ("曾用名", "former_names"),
    "specific": ("专名", "specific"),
    "generic": ("通名", "generic"),
    "source": ("来源", "source"),
}
STATUS_WORDS = {"现今": "standard", "历史": "historical", "注销": "cancelled",
                "standard": "standard", "historical": "historical", "cancelled": "cancelled", "": "standard"}
MAX_REPORTED = 50


@dataclass(slots=True)
class ImportReport:
    """What an import did."""

    added: int = 0
    skipped: int = 0
    name_ids: list[int] = field(default_factory=list)


def read_text(path: Path) -> str:
    """The file as text: UTF-8 (with or without BOM), else GB18030 as Excel writes it in China."""
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("gb18030")


def _columns(header: list[str]) -> dict[str, int]:
    found = {}
    for key, aliases in HEADERS.items():
        for i, title in enumerate(header):
            if title.strip() in aliases:
                found[key] = i
                break
    missing = [HEADERS[k][0] for k in ("name", "category", "division_code") if k not in found]
    if missing:
        raise InvalidInput(f"CSV needs the columns {', '.join(missing)} (census headers or name, category, "
                           f"division_code); found {', '.join(header)}")
    return found


def _split(value: str) -> tuple[str, ...]:
    parts = value.replace("；", ";").replace("、", ";").replace(",", ";").split(";")
    return tuple(p.strip() for p in parts if p.strip())


def _point(lon: str, lat: str) -> dict | None:
    if not lon and not lat:
        return None
    try:
        return {"type": "Point", "coordinates": [float(lon), float(lat)]}
    except ValueError as exc:
        raise InvalidInput(f"东经/北纬 must be decimal degrees, got {lon!r}, {lat!r}") from exc


def row_input(cells: dict[str, str], default_source: str) -> tuple[NameInput, dt.date | None]:
    """One CSV row as a NameInput and its valid-from date."""
    status = STATUS_WORDS.get(cells.get("status", ""))
    if status is None:
        raise InvalidInput(f"使用时间/status must be 现今, 历史 or 注销, got {cells['status']!r}")
    codes = _split(cells["division_code"])
    if not codes:
        raise InvalidInput("所在(跨)行政区 is empty")
    year = cells.get("established", "")
    if year and not (year.isascii() and year.isdigit() and 1 <= int(year) <= dt.date.today().year):
        raise InvalidInput(f"设立年份 must be a year, got {year!r}")
    item = NameInput(
        name=cells["name"], category=cells["category"], division_code=codes[0], division_codes=codes[1:],
        specific=cells.get("specific") or None, generic=cells.get("generic") if cells.get("specific") else None,
        romanization=cells.get("romanization") or None, minority_name=cells.get("minority_name") or None,
        minority_language=cells.get("minority_language") or None,
        geometry=_point(cells.get("lon", ""), cells.get("lat", "")), meaning=cells.get("meaning") or None,
        history=cells.get("history") or None, status=status, aliases=_split(cells.get("aliases", "")),
        former_names=_split(cells.get("former_names", "")), source=cells.get("source") or default_source,
    )
    return item, (dt.date(int(year), 1, 1) if year else None)


def _exists(conn: Connection, item: NameInput) -> bool:
    return conn.execute(text(
        "SELECT 1 FROM place_names WHERE valid_to IS NULL AND name = :n AND division_code = :d "
        "AND category LIKE left(:c, 2) || '%'"),
        {"n": item.name.strip(), "d": item.division_code,
         "c": get_category(item.category).code}).first() is not None


def import_csv(conn: Connection, path: Path, *, actor: str,
               on_progress: Callable[[int], None] | None = None) -> ImportReport:
    """Register every row of PATH in the caller's transaction; any bad row → InvalidInput listing all."""
    rows = list(csv.reader(io.StringIO(read_text(path))))
    if len(rows) < 2:
        raise InvalidInput(f"{path.name} has no data rows")
    columns = _columns(rows[0])
    report, errors = ImportReport(), []
    with conn.begin_nested() as everything:  # all or nothing, even for a caller that carries on
        for line, values in enumerate(rows[1:], start=2):
            if not any(v.strip() for v in values):
                continue
            cells = {k: (values[i].strip() if i < len(values) else "") for k, i in columns.items()}
            try:
                item, valid_from = row_input(cells, f"CSV import {path.name}")
                if _exists(conn, item):
                    report.skipped += 1
                else:
                    with conn.begin_nested():
                        report.name_ids.append(register(conn, item, actor=actor, valid_from=valid_from))
                    report.added += 1
            except GazetteerError as exc:
                errors.append({"field": f"line {line}", "message": exc.detail})
            if on_progress:
                on_progress(1)
        if errors:
            everything.rollback()
    if errors:
        shown = errors[:MAX_REPORTED]
        raise InvalidInput(f"{len(errors)} bad rows in {path.name}; nothing was imported. First: "
                           f"{shown[0]['field']}: {shown[0]['message']}", errors=shown)
    return report
