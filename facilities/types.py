"""Facility types: the data file `facilities/types.csv` (codes, default service radii) and its table."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from data.errors import InvalidInput
from facilities.model import FacilityType

TYPES_FILE = Path(__file__).with_name("types.csv")
SOCIAL_WORK = "SOCIAL_WORK"
MEAL_POINT = "MEAL_POINT"
_COLUMNS = ("code", "name", "category", "default_radius_m", "capacity_unit", "icon", "color", "sort_order",
            "description")

_UPSERT = text(
    "INSERT INTO facility_types (code, name, category, default_radius_m, capacity_unit, icon, color, sort_order, "
    "description, source) VALUES (:code, :name, :category, :default_radius_m, :capacity_unit, :icon, :color, "
    ":sort_order, :description, :source) ON CONFLICT (code) DO UPDATE SET name = excluded.name, "
    "category = excluded.category, default_radius_m = excluded.default_radius_m, "
    "capacity_unit = excluded.capacity_unit, icon = excluded.icon, color = excluded.color, "
    "sort_order = excluded.sort_order, description = excluded.description, source = excluded.source")


def read_types_file(path: Path = TYPES_FILE) -> list[dict]:
    """The rows of the types file, typed (radius and order as integers, empty capacity unit as None)."""
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        row["default_radius_m"] = int(row["default_radius_m"])
        row["sort_order"] = int(row["sort_order"])
        row["capacity_unit"] = row["capacity_unit"] or None
    return rows


def load_types(conn: Connection | Session, path: Path = TYPES_FILE) -> int:
    """Upsert the types file into `facility_types` (edits to the file apply on the next set-up)."""
    rows = read_types_file(path)
    for row in rows:
        conn.execute(_UPSERT, row)
    return len(rows)


def list_types(session: Session | Connection) -> list[FacilityType]:
    """Every facility type, in the file's sort order."""
    found = session.execute(text(f"SELECT {', '.join(_COLUMNS)} FROM facility_types ORDER BY sort_order, code"))
    return [FacilityType(**row._mapping) for row in found]


def types_by_code(session: Session | Connection) -> dict[str, FacilityType]:
    """The facility types by code."""
    return {t.code: t for t in list_types(session)}


def check_type_codes(session: Session | Connection, codes: Iterable[str] | None,
                     field: str = "type") -> list[FacilityType]:
    """The types named by CODES (all types when None or empty); unknown codes → 422 naming each."""
    known = types_by_code(session)
    wanted = list(dict.fromkeys(c.strip().upper() for c in codes or () if c and c.strip()))
    if not wanted:
        return list(known.values())
    unknown = [c for c in wanted if c not in known]
    if unknown:
        raise InvalidInput(f"unknown facility type {', '.join(unknown)}; see GET /v1/facility-types",
                           errors=[{"field": field, "message": f"unknown facility type {c!r}"} for c in unknown])
    return [known[c] for c in wanted]
