"""地名保护名录 (Art. 25, §1.8): listed names, their protection measures, and the §9 rule-20 block.

A listed name that really must be renamed needs a protection measure set *first*; the applications
workflow asks `protection_block` before approving a rename or cancellation.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from data import audit
from data.errors import Conflict, NotFound
from placenames.inputs import field_error, not_future, text_field, today

DB = Session | Connection
MAX_PAGE = 200
MAX_REASON = 2000
MAX_DESCRIPTION = 2000
MAX_MEASURES = 20
# The list's categories (实施办法 details them; the exact vocabulary is a design choice).
CATEGORIES = {
    "历史地名": "具有重要历史价值的地名(含老地名、已不使用的历史地名)",
    "红色地名": "与革命历史相关的地名",
    "少数民族语地名": "具有民族文化价值的少数民族语地名",
    "文化地名": "承载地方文化、民俗、传说的地名",
    "其他": "其他具有重要历史文化价值的地名",
}
# The measures the 实施办法 permits; the same list is the CHECK on protection_measures.kind.
MEASURE_KINDS = {
    "设立标志": "设立地名标志、挂牌立碑",
    "派生命名": "用于派生地名(就近移用)",
    "活化使用": "优先启用、活化利用",
    "文化产品": "开发地名文化产品",
    "宣传推广": "宣传推广",
    "其他": "其他保护措施",
}


@dataclass(frozen=True, slots=True)
class Measure:
    """One protection measure, optionally linked to the application it was set for."""

    id: int
    kind: str
    description: str
    application_id: int | None
    created_by: str
    created_at: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


@dataclass(slots=True)
class ProtectedName:
    """A 保护名录 entry with the current registry name and its measures."""

    id: int
    name_id: int
    name: str
    romanization: str | None
    name_status: str
    category: str
    reason: str
    listed_on: str
    created_by: str
    measures: list[Measure] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Page:
    """A keyset page: the items and the cursor for the next page (None on the last)."""

    items: list[ProtectedName]
    next_after: int | None


_SELECT = """
SELECT p.id, p.name_id, n.name, n.romanization, n.status AS name_status, p.category, p.reason,
       p.listed_on::text AS listed_on, p.created_by
FROM protected_names p
LEFT JOIN place_names n ON n.name_id = p.name_id AND n.valid_to IS NULL
"""

_MEASURES = text(
    "SELECT id, protected_id, kind, description, application_id, created_by, created_at::text AS created_at "
    "FROM protection_measures WHERE protected_id = ANY(:ids) ORDER BY id"
)


def _entries(db: DB, rows) -> list[ProtectedName]:
    entries = [ProtectedName(**r._mapping) for r in rows]
    by_id = {e.id: e for e in entries}
    for m in db.execute(_MEASURES, {"ids": list(by_id)}):
        data = dict(m._mapping)
        by_id[data.pop("protected_id")].measures.append(Measure(**data))
    return entries


def check_category(category: str) -> str:
    """The category if it is in the list's vocabulary, else InvalidInput naming the allowed ones."""
    if category not in CATEGORIES:
        raise field_error("category", f"unknown category {category!r}",
                   "category must be one of " + "、".join(CATEGORIES))
    return category


def list_protected(db: DB, *, category: str | None = None, limit: int = 50,
                   after: int | None = None) -> Page:
    """Listed names ordered by entry id, optionally of one category, keyset-paged by AFTER."""
    if category is not None:
        check_category(category)
    limit = max(1, min(limit, MAX_PAGE))
    rows = db.execute(text(
        _SELECT + "WHERE (CAST(:cat AS text) IS NULL OR p.category = :cat) "
        "AND (CAST(:after AS bigint) IS NULL OR p.id > :after) ORDER BY p.id LIMIT :n"),
        {"cat": category, "after": after, "n": limit + 1}).all()
    items = _entries(db, rows[:limit])
    return Page(items, items[-1].id if len(rows) > limit else None)


def get_protected(db: DB, protected_id: int) -> ProtectedName:
    """One entry with its measures, or NotFound."""
    rows = db.execute(text(_SELECT + "WHERE p.id = :id"), {"id": protected_id}).all()
    if not rows:
        raise NotFound(f"no protection-list entry has id {protected_id}")
    return _entries(db, rows)[0]


def _current_name(db: DB, name_id: int) -> None:
    found = db.execute(text("SELECT 1 FROM place_names WHERE name_id = :id AND valid_to IS NULL"),
                       {"id": name_id}).first()
    if found is None:
        raise field_error("name_id", "unknown name id", f"no current place name has id {name_id}")


def _check_application(db: DB, application_id: int | None, field_name: str) -> None:
    if application_id is None:
        return
    found = db.execute(text("SELECT 1 FROM applications WHERE id = :id"), {"id": application_id}).first()
    if found is None:
        raise field_error(field_name, "unknown application id", f"no application has id {application_id}")


def _measure_values(db: DB, measure: dict[str, Any], prefix: str) -> dict[str, Any]:
    unknown = set(measure) - {"kind", "description", "application_id"}
    if unknown:
        raise field_error(prefix, f"unknown fields {', '.join(sorted(unknown))}",
                   "a measure has kind, description and optionally application_id")
    kind = measure.get("kind")
    if kind not in MEASURE_KINDS:
        raise field_error(f"{prefix}kind", f"unknown measure kind {kind!r}",
                   "measure kind must be one of " + "、".join(MEASURE_KINDS))
    application_id = measure.get("application_id")
    _check_application(db, application_id, f"{prefix}application_id")
    description = text_field(measure.get("description"), f"{prefix}description", MAX_DESCRIPTION,
                             required=True)
    return {"kind": kind, "description": description, "application_id": application_id}


def _insert_measure(db: DB, protected_id: int, values: dict[str, Any], actor: str) -> int:
    measure_id = db.execute(text(
        "INSERT INTO protection_measures (protected_id, kind, description, application_id, created_by) "
        "VALUES (:pid, :kind, :description, :application_id, :actor) RETURNING id"),
        {"pid": protected_id, **values, "actor": actor}).scalar_one()
    audit.record(db, actor=actor, action="protection.measure", entity_type="protection_measure",
                 entity_id=str(measure_id), after={"protected_id": protected_id, **values})
    return measure_id


def protect(db: DB, *, name_id: int, category: str, reason: str, listed_on: dt.date | None = None,
            measures: list[dict[str, Any]] | None = None, actor: str) -> int:
    """List a current registry name (once) with its initial measures; returns the entry id. Audited."""
    check_category(category)
    reason = text_field(reason, "reason", MAX_REASON, required=True)
    listed_on = not_future(listed_on or today(), "listed_on")
    measures = measures or []
    if len(measures) > MAX_MEASURES:
        raise field_error("measures", f"at most {MAX_MEASURES}", "too many measures in one request")
    values = [_measure_values(db, m, f"measures.{i}.") for i, m in enumerate(measures)]
    _current_name(db, name_id)
    protected_id = _insert_entry(db, name_id, category, reason, listed_on, actor)
    audit.record(db, actor=actor, action="protection.list", entity_type="protected_name",
                 entity_id=str(protected_id), after={"name_id": name_id, "category": category,
                                                     "reason": reason, "listed_on": listed_on})
    for value in values:
        _insert_measure(db, protected_id, value, actor)
    return protected_id


def _insert_entry(db: DB, name_id: int, category: str, reason: str, listed_on: dt.date, actor: str) -> int:
    existing = db.execute(text("SELECT id FROM protected_names WHERE name_id = :n"), {"n": name_id}).first()
    if existing is not None:
        raise Conflict(f"name {name_id} is already on the protection list (entry {existing.id})",
                       extra={"protected_id": existing.id})
    try:
        with db.begin_nested():  # a concurrent listing loses on the unique index, not with a 500
            return db.execute(text(
                "INSERT INTO protected_names (name_id, category, reason, listed_on, created_by) "
                "VALUES (:n, :c, :r, :d, :a) RETURNING id"),
                {"n": name_id, "c": category, "r": reason, "d": listed_on, "a": actor}).scalar_one()
    except IntegrityError:
        raise Conflict(f"name {name_id} is already on the protection list") from None


def add_measure(db: DB, protected_id: int, *, kind: str, description: str,
                application_id: int | None = None, actor: str) -> int:
    """Add a protection measure (linked to an application when set for a rename); returns its id."""
    found = db.execute(text("SELECT 1 FROM protected_names WHERE id = :id FOR UPDATE"),
                       {"id": protected_id}).first()
    if found is None:
        raise NotFound(f"no protection-list entry has id {protected_id}")
    values = _measure_values(db, {"kind": kind, "description": description,
                                  "application_id": application_id}, "")
    return _insert_measure(db, protected_id, values, actor)


def protection_block(db: DB, name_id: int | None, application_id: int) -> str | None:
    """§9 rule 20: why a rename/cancel of NAME_ID by APPLICATION_ID must wait, or None if it may go on."""
    if name_id is None:
        return None
    row = db.execute(text(
        "SELECT p.id, p.category, EXISTS (SELECT 1 FROM protection_measures m WHERE m.protected_id = p.id "
        "AND m.application_id = :app) AS covered FROM protected_names p WHERE p.name_id = :name"),
        {"name": name_id, "app": application_id}).first()
    if row is None or row.covered:
        return None
    return (f"地名 {name_id} 已列入地名保护名录({row.category}，名录条目 {row.id})；更名或注销前须先制定"
            f"保护措施并关联本申请 {application_id}(《地名管理条例》第二十五条)")
