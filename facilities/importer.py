"""Import facilities from CSV (lon/lat columns), GeoJSON or GeoPackage (points), all or nothing.

Columns are recognised by English or Chinese headers (名称, 类型, 经度, 纬度, 地址, 床位数 …); a type may be
given by code (MEAL_POINT) or by name (老年食堂/助餐点(幸福食堂), or a name it starts with). Every row is
checked first; any error stops the import with every bad row named by its line (CSV) or feature number,
and nothing is written. A facility without an address code is matched to the nearest standard address
within 30 m.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyogrio
from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from data.errors import GazetteerError, InvalidInput
from facilities.store import FacilityInput, check_input, create_facility
from facilities.types import list_types

FORMATS = {".csv": "CSV", ".gpkg": "GPKG", ".geojson": "GeoJSON", ".json": "GeoJSON"}
MAX_REPORTED = 50
COLUMNS: dict[str, tuple[str, ...]] = {
    "facility_id": ("facility_id", "id", "设施编号", "编号"),
    "name": ("name", "名称", "设施名称", "机构名称"),
    "type_code": ("type_code", "type", "类型", "设施类型", "类型代码"),
    "lon": ("lon", "lng", "longitude", "x", "经度"),
    "lat": ("lat", "latitude", "y", "纬度"),
    "address": ("address", "地址", "详细地址"),
    "address_code": ("address_code", "地址编码", "标准地址编码", "地址代码"),
    "division_code": ("division_code", "区划代码", "所属区划", "村社区代码", "村(社区)代码"),
    "beds": ("beds", "床位", "床位数"),
    "meal_seats": ("meal_seats", "餐位", "餐位数", "助餐座位"),
    "operator": ("operator", "运营方", "运营单位", "举办单位", "运营机构"),
    "opened_on": ("opened_on", "开业日期", "启用日期", "建成日期", "成立日期"),
    "status": ("status", "状态", "运营状态"),
}
STATUS_WORDS = {"运营": "operating", "运营中": "operating", "在营": "operating", "正常": "operating",
                "规划": "planned", "筹建": "planned", "在建": "planned", "拟建": "planned",
                "暂停": "suspended", "停业": "suspended", "暂停运营": "suspended"}


@dataclass(frozen=True)
class ImportReport:
    """What an import checked and stored."""

    file: str
    rows: int
    stored: int
    matched_addresses: int
    dry_run: bool
    per_type: dict[str, int]

    def as_dict(self) -> dict:
        """JSON-ready form."""
        return {"file": self.file, "rows": self.rows, "stored": self.stored,
                "matched_addresses": self.matched_addresses, "dry_run": self.dry_run, "per_type": self.per_type}


def _plain(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, str):
        return value.strip() or None
    return value


def read_rows(path: Path) -> tuple[list[dict[str, Any]], str]:
    """The file's rows as {header: value} with `lon`/`lat` from point geometries, and how rows are named."""
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise InvalidInput(f"{path.name}: facility files are {', '.join(sorted(FORMATS))}",
                           errors=[{"field": "file", "message": "unsupported format"}])
    if kind == "CSV":
        with path.open(encoding="utf-8-sig", newline="") as handle:
            return [{k.strip(): _plain(v) for k, v in row.items() if k} for row in csv.DictReader(handle)], "line"
    frame = pyogrio.read_dataframe(path)
    if frame.crs is not None and frame.crs.to_epsg() != 4490:
        frame = frame.to_crs(epsg=4490)
    rows = []
    columns = [c for c in frame.columns if c != "geometry"]
    for values, geom in zip(frame[columns].itertuples(index=False, name=None), frame.geometry, strict=True):
        row = {c: _plain(v) for c, v in zip(columns, values, strict=True)}
        if geom is not None and not geom.is_empty:
            point = geom if geom.geom_type == "Point" else geom.representative_point()
            row["lon"], row["lat"] = point.x, point.y
        rows.append(row)
    return rows, "feature"


def _mapping(headers: list[str]) -> dict[str, str]:
    found = {}
    for header in headers:
        key = header.strip().lower()
        for target, aliases in COLUMNS.items():
            if key in aliases and target not in found:
                found[target] = header
    return found


def _type_code(value: str | None, names: dict[str, str]) -> str:
    if not value:
        return ""
    text_value = str(value).strip()
    if text_value.upper() in names.values():
        return text_value.upper()
    if text_value in names:
        return names[text_value]
    starts = [code for name, code in names.items() if name.startswith(text_value) or text_value in name.split("/")]
    return starts[0] if len(starts) == 1 else text_value


def _number(value: Any, field: str, errors: list[str]) -> int | None:
    if value is None:
        return None
    try:
        number = float(str(value).replace(",", ""))
    except ValueError:
        number = math.nan
    if not number.is_integer():
        errors.append(f"{field}: {value!r} is not a whole number")
        return None
    return int(number)


def _date(value: Any, errors: list[str]) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value)[:10].replace("/", "-"))
    except ValueError:
        errors.append(f"opened_on: {value!r} is not a date like 2024-05-01")
        return None


def _coordinate(value: Any, field: str, errors: list[str]) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        errors.append(f"{field}: {value!r} is not a number")
        return None


def to_input(row: dict[str, Any], mapping: dict[str, str], names: dict[str, str], source: str,
             errors: list[str]) -> FacilityInput:
    """One file row as a facility input; value errors go to ERRORS."""
    def get(field: str) -> Any:
        return row.get(mapping[field]) if field in mapping else row.get(field)

    status = get("status") or "operating"
    status = STATUS_WORDS.get(str(status), str(status).lower())
    return FacilityInput(
        name=str(get("name") or ""), type_code=_type_code(get("type_code"), names),
        lon=_coordinate(get("lon"), "lon", errors), lat=_coordinate(get("lat"), "lat", errors),
        address=get("address"), address_code=_text(get("address_code")), division_code=_text(get("division_code")),
        beds=_number(get("beds"), "beds", errors), meal_seats=_number(get("meal_seats"), "meal_seats", errors),
        operator=get("operator"), opened_on=_date(get("opened_on"), errors), status=status, source=source,
        facility_id=_text(get("facility_id")))


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip() or None


def import_facilities(db: Session | Connection, path: Path, *, actor: str, dry_run: bool = False,
                      on_progress: Callable[[int], None] | None = None) -> ImportReport:
    """Check every row of PATH, then (unless DRY_RUN) store them all; any bad row → 422, nothing stored."""
    rows, unit = read_rows(path)
    if not rows:
        raise InvalidInput(f"{path.name} has no rows", errors=[{"field": "file", "message": "empty"}])
    mapping = _mapping(list({k for row in rows for k in row}))
    names = {t.name: t.code for t in list_types(db)}
    source = f"import {path.name}"
    checked, problems, seen = [], [], {}
    for number, row in enumerate(rows, start=2 if unit == "line" else 1):
        errors: list[str] = []
        value = to_input(row, mapping, names, source, errors)
        try:
            value, placed = check_input(db, value)
            checked.append((value, placed))
        except GazetteerError as exc:
            errors.extend(f"{e['field']}: {e['message']}" for e in exc.errors or [{"field": "row",
                                                                                    "message": exc.detail}])
        if value.facility_id:
            if value.facility_id in seen:
                errors.append(f"facility_id: {value.facility_id} repeats {unit} {seen[value.facility_id]}")
            seen.setdefault(value.facility_id, number)
        problems.extend({"field": f"{unit} {number}", "message": message} for message in errors)
        if on_progress:
            on_progress(1)
    taken = _taken(db, list(seen))
    problems.extend({"field": f"{unit} {seen[i]}", "message": f"facility_id: {i} exists already"} for i in taken)
    if problems:
        first = problems[0]
        raise InvalidInput(f"{path.name}: {len(problems)} errors, nothing imported; first: {first['field']}: "
                           f"{first['message']}", errors=problems[:MAX_REPORTED])
    per_type: dict[str, int] = {}
    for value, _ in checked:
        per_type[value.type_code] = per_type.get(value.type_code, 0) + 1
    matched = sum(1 for value, placed in checked if placed.address_code and not value.address_code)
    if not dry_run:
        for value, _ in checked:
            create_facility(db, value, actor=actor)
    return ImportReport(path.name, len(rows), 0 if dry_run else len(checked), matched, dry_run,
                        dict(sorted(per_type.items())))


def _taken(db: Session | Connection, ids: list[str]) -> list[str]:
    if not ids:
        return []
    return list(db.execute(text("SELECT facility_id FROM facilities WHERE facility_id = ANY(:ids) ORDER BY 1"),
                           {"ids": ids}).scalars())


def rows_to_csv(rows: list[dict[str, Any]]) -> str:
    """ROWS as CSV text with the union of their keys as header (for tests and examples)."""
    out = io.StringIO()
    header = list(dict.fromkeys(k for row in rows for k in row))
    writer = csv.DictWriter(out, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
