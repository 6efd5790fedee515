"""Division changes (行政区划调整): rename, create, abolish, merge, as versions plus an event.

A change never overwrites a row: the old version gets `valid_to`, a new version opens the same
day, and a `division_events` row records old → new codes with the approval document. Codes are
never reused (废码不用, `shared/domain.md` §9 rule 32); a rename keeps its code (rule 34).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from boundaries import codes
from boundaries.codes import DivisionCode
from boundaries.polygons_import import rebuild_parts
from data import audit
from data.errors import Conflict, InvalidInput, NotFound

EVENT_TYPES = ("create", "abolish", "rename", "merge")


@dataclass(frozen=True, slots=True)
class Change:
    """One approved change. For merge, NEW_CODE is the result (new, or one of OLD_CODES)."""

    event_type: str
    effective_date: dt.date
    old_codes: tuple[str, ...] = ()
    new_code: str | None = None
    new_name: str | None = None
    approval_document: str | None = None
    approved_by: str | None = None
    note: str | None = None


def _current(session: Session, code: str) -> dict:
    row = session.execute(text(
        "SELECT * FROM divisions WHERE code = :c AND valid_to IS NULL AND NOT placeholder "
        "ORDER BY level LIMIT 1 FOR UPDATE"
    ), {"c": code}).mappings().one_or_none()
    if row is None:
        raise NotFound(f"no current division has code {code}")
    return dict(row)


def _close(session: Session, row: dict, date: dt.date) -> None:
    if date <= row["valid_from"]:
        raise InvalidInput(f"{row['code']} is valid from {row['valid_from']}; "
                           f"a change must be dated later than that")
    session.execute(text("UPDATE divisions SET valid_to = :d WHERE id = :id"),
                    {"d": date, "id": row["id"]})


def _open(session: Session, row: dict, date: dt.date, **changes) -> None:
    values = {**row, **changes, "valid_from": date}
    session.execute(text(
        "INSERT INTO divisions (code, level, name, parent_code, kind, placeholder, geom, "
        "label_point, geom_source, geom_approximate, valid_from, source) VALUES (:code, :level, "
        ":name, :parent_code, :kind, :placeholder, :geom, :label_point, :geom_source, "
        ":geom_approximate, :valid_from, :source)"
    ), values)


def _check_never_used(session: Session, code: str) -> None:
    used = session.execute(text("SELECT 1 FROM divisions WHERE code = :c LIMIT 1"), {"c": code})
    if used.first() is not None:
        raise Conflict(f"code {code} has been used before; retired codes are never reused (废码不用)")


def _record_event(session: Session, change: Change, new_codes: list[str], actor: str) -> int:
    event_id = session.execute(text(
        "INSERT INTO division_events (event_type, effective_date, approval_document, approved_by, "
        "old_codes, new_codes, note) VALUES (:t, :d, :doc, :by, :old, :new, :note) RETURNING id"
    ), {"t": change.event_type, "d": change.effective_date, "doc": change.approval_document,
        "by": change.approved_by, "old": list(change.old_codes), "new": new_codes,
        "note": change.note}).scalar_one()
    audit.record(session, actor=actor, action=change.event_type, entity_type="division_event",
                 entity_id=str(event_id), after={"old": list(change.old_codes), "new": new_codes,
                                                 "date": change.effective_date})
    return event_id


def apply_change(session: Session, change: Change, *, actor: str = audit.SYSTEM) -> int:
    """Apply CHANGE in the caller's transaction; returns the event id."""
    if change.event_type not in EVENT_TYPES:
        raise InvalidInput(f"event_type must be one of {', '.join(EVENT_TYPES)}")
    date = change.effective_date
    olds = [_current(session, DivisionCode.parse(c).value) for c in change.old_codes]
    if change.event_type in ("rename", "abolish") and len(olds) != 1:
        raise InvalidInput(f"{change.event_type} takes exactly one old code")
    for row in olds:
        _close(session, row, date)
    if change.event_type == "rename":
        if not change.new_name:
            raise InvalidInput("rename needs new_name")
        _open(session, olds[0], date, name=change.new_name)
        return _record_event(session, change, [olds[0]["code"]], actor)
    if change.event_type == "abolish":
        event_id = _record_event(session, change, [], actor)
        rebuild_parts(session.connection(), [olds[0]["code"]] if olds[0]["level"] <= 4 else [])
        return event_id
    return _create_result(session, change, olds, actor)


def _new_row(code: DivisionCode, name: str) -> dict:
    """A fresh division row whose level, parent and kind follow from the code and name."""
    v = code.value
    kind = {1: lambda: codes.province_kind(name), 2: lambda: codes.prefecture_kind(name),
            3: lambda: codes.county_kind(name, v), 4: lambda: codes.township_kind(v, name),
            5: lambda: codes.village_kind(v)}[code.level]()
    return {"code": v, "level": code.level, "name": name, "parent_code": code.parent,
            "kind": kind, "placeholder": False, "geom": None, "label_point": None,
            "geom_source": None, "geom_approximate": False, "source": "division change"}


def _create_result(session: Session, change: Change, olds: list[dict], actor: str) -> int:
    if not change.new_code or not change.new_name:
        raise InvalidInput(f"{change.event_type} needs new_code and new_name")
    if change.event_type == "merge" and len(olds) < 2:
        raise InvalidInput("merge takes two or more old codes")
    code = DivisionCode.parse(change.new_code)
    kept = next((r for r in olds if r["code"] == code.value), None)
    if kept is None:
        _check_never_used(session, code.value)
    row = {**(kept or _new_row(code, change.new_name)), "source": "division change"}
    if olds:
        row.update(_merged_geometry(session, [r["id"] for r in olds]))
    _open(session, row, change.effective_date, name=change.new_name)
    event_id = _record_event(session, change, [code.value], actor)
    affected = sorted({code.value, *(r["code"] for r in olds)})
    rebuild_parts(session.connection(), [c for c in affected if len(c) <= 9])
    return event_id


def _merged_geometry(session: Session, ids: list[int]) -> dict:
    """Union of the old versions' polygons (None when none of them had one)."""
    row = session.execute(text(
        "SELECT ST_Multi(ST_Union(geom)) AS geom, ST_PointOnSurface(ST_Union(geom)) AS label_point,"
        " bool_or(geom_approximate) AS approximate FROM divisions WHERE id = ANY(:ids)"
    ), {"ids": ids}).one()
    return {"geom": row.geom, "label_point": row.label_point,
            "geom_approximate": bool(row.approximate),
            "geom_source": "union of merged divisions" if row.geom is not None else None}
