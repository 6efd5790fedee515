"""Reviewer overrides of the computed romanization (issue: "a reviewer may override with a reason")."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from data import audit
from data.errors import InvalidInput
from placenames.categories import Category, get_category
from placenames.romanize import Romanization, Segment, romanize
from placenames.rules import validate_name

DB = Session | Connection


@dataclass(frozen=True, slots=True)
class Override:
    """A stored override."""

    id: int
    name: str
    category: str | None
    romanization: str
    reason: str
    created_by: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


_FIND = text(
    "SELECT id, name, category, romanization, reason, created_by FROM romanization_overrides "
    "WHERE name = :name AND (category IS NULL OR :category LIKE category || '%') "
    "ORDER BY category IS NULL, length(category) DESC LIMIT 1"
)


def find_override(db: DB, name: str, category: Category | None) -> Override | None:
    """The most specific override for NAME (category-specific first), if any."""
    row = db.execute(_FIND, {"name": name, "category": category.code if category else ""}).first()
    return Override(**row._mapping) if row else None


def romanize_with_overrides(db: DB, name: str, category: Category | None = None, **kwargs) -> Romanization:
    """romanize(), unless a reviewer has overridden this name: then the override, marked as such."""
    override = find_override(db, name, category)
    if override is None:
        return romanize(name, category, **kwargs)
    segment = Segment(hanzi=name, text=override.romanization, role="whole",
                      rule=f"reviewer-override #{override.id}: {override.reason}")
    return Romanization(name=name, text=override.romanization, sign_text=_sign_form(override.romanization),
                        segments=(segment,), category=category.code if category else None)


def romanization_for(db: DB, name: str, category: Category | None = None, **kwargs) -> str:
    """Just the text of romanize_with_overrides()."""
    return romanize_with_overrides(db, name, category, **kwargs).text


def _sign_form(value: str) -> str:
    return value.upper()


def set_override(db: DB, *, name: str, romanization: str, reason: str, actor: str,
                 category: str | None = None) -> Override:
    """Store (or replace) a reviewer's override; the reason is mandatory and the change audited."""
    name = validate_name(name)
    cat = get_category(category) if category else None
    romanization = (romanization or "").strip()
    reason = (reason or "").strip()
    problems = []
    if not romanization or not all(ch.isalpha() or ch in " '-·0123456789" for ch in romanization):
        problems.append({"field": "romanization", "message": "letters, digits, spaces and ' only"})
    if len(reason) < 2:
        problems.append({"field": "reason", "message": "say why the computed form is wrong"})
    if problems:
        raise InvalidInput("override needs a romanization and a reason", errors=problems)
    before = find_override(db, name, cat)
    row = db.execute(text(
        "INSERT INTO romanization_overrides (name, category, romanization, reason, created_by) "
        "VALUES (:n, :c, :r, :why, :a) ON CONFLICT (name, coalesce(category, '')) DO UPDATE "
        "SET romanization = EXCLUDED.romanization, reason = EXCLUDED.reason, "
        "created_by = EXCLUDED.created_by, created_at = now() "
        "RETURNING id, name, category, romanization, reason, created_by"),
        {"n": name, "c": cat.code if cat else None, "r": romanization, "why": reason, "a": actor}).one()
    override = Override(**row._mapping)
    audit.record(db, actor=actor, action="romanization.override", entity_type="romanization_override",
                 entity_id=str(override.id), before=before.as_dict() if before else None,
                 after=override.as_dict())
    return override
