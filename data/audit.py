"""The one helper every write path uses to append to the audit log."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

SYSTEM = "system"  # actor for set-up and command-line imports run without a user

_INSERT = text(
    "INSERT INTO audit_log (actor, action, entity_type, entity_id, before, after) "
    "VALUES (:actor, :action, :entity_type, :entity_id, "
    "CAST(:before AS jsonb), CAST(:after AS jsonb))"
)


def record(
    db: Session | Connection,
    *,
    actor: str,
    action: str,
    entity_type: str,
    entity_id: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """Append one audit entry in the caller's transaction (so it commits or rolls back with it)."""
    db.execute(_INSERT, {
        "actor": actor, "action": action, "entity_type": entity_type, "entity_id": entity_id,
        "before": _json(before), "after": _json(after),
    })


def _json(value: dict[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, default=str)
