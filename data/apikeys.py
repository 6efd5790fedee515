"""API keys of address-lookup callers and their daily usage counters (days in Asia/Shanghai).

A key is `gz_` + 40 URL-safe random characters. Only its SHA-256 (hex) is stored, with its first
10 characters as a `prefix` to recognise it in listings; the key itself is shown once, at creation.
Usage is counted per caller and day in `api_usage`: `key:<id>` for keys, `anon:<address>` for
anonymous callers.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, replace
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from data import audit
from data.errors import Conflict, InvalidInput, NotFound

SHANGHAI = ZoneInfo("Asia/Shanghai")
KEY_START = "gz_"
KEY_LENGTH = len(KEY_START) + 40
PREFIX_LENGTH = 10
MAX_NAME = 200
_MAX_LIMIT = 2**31 - 1  # the columns are integer

Db = Session | Connection


@dataclass(frozen=True, slots=True)
class ApiKey:
    """One API key as the rest of the system sees it (never the hash)."""

    id: int
    name: str
    prefix: str
    daily_quota: int
    per_second: int
    created_by: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None = None
    requests_today: int = 0

    @property
    def active(self) -> bool:
        """True until the key is revoked."""
        return self.revoked_at is None

    @property
    def caller(self) -> str:
        """The caller id its usage is counted under."""
        return key_caller(self.id)


@dataclass(frozen=True, slots=True)
class Usage:
    """One caller's counters for one day."""

    requests: int = 0
    refused: int = 0


def key_caller(key_id: int) -> str:
    """The usage caller id of key KEY_ID."""
    return f"key:{key_id}"


def anonymous_caller(address: str | None) -> str:
    """The usage caller id of an anonymous client at ADDRESS."""
    return f"anon:{address or 'unknown'}"


def usage_day(now: dt.datetime | None = None) -> dt.date:
    """The calendar day in Asia/Shanghai at NOW (default: now)."""
    return (now or dt.datetime.now(dt.UTC)).astimezone(SHANGHAI).date()


def next_reset(now: dt.datetime | None = None) -> dt.datetime:
    """The next midnight in Asia/Shanghai after NOW, when daily quotas start again."""
    day = usage_day(now) + dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time(0), tzinfo=SHANGHAI)


def hash_key(plain: str) -> str:
    """SHA-256 hex of a plain key, as stored."""
    return hashlib.sha256(plain.encode()).hexdigest()


_COLUMNS = "id, name, prefix, daily_quota, per_second, created_by, created_at, revoked_at"


def _key(row) -> ApiKey:
    return ApiKey(row.id, row.name, row.prefix, row.daily_quota, row.per_second, row.created_by,
                  row.created_at, row.revoked_at, getattr(row, "requests_today", 0))


def _check_limits(name: str, daily_quota: int, per_second: int) -> str:
    errors = []
    name = name.strip()
    if not name or len(name) > MAX_NAME:
        errors.append({"field": "name", "message": f"needs 1–{MAX_NAME} characters"})
    for field, value in (("daily_quota", daily_quota), ("per_second", per_second)):
        if not 1 <= value <= _MAX_LIMIT:
            errors.append({"field": field, "message": f"must be a whole number from 1 to {_MAX_LIMIT}"})
    if errors:
        raise InvalidInput("; ".join(f"{e['field']}: {e['message']}" for e in errors), errors=errors)
    return name


def create_key(db: Db, *, name: str, daily_quota: int, per_second: int, actor: str) -> tuple[ApiKey, str]:
    """Create a key; returns its record and the plain key, which is never available again."""
    name = _check_limits(name, daily_quota, per_second)
    for _ in range(5):  # a prefix collision (1 in 64⁷ per pair) just draws another key
        plain = KEY_START + secrets.token_urlsafe(30)
        try:
            with db.begin_nested():
                row = db.execute(text(
                    "INSERT INTO api_keys (name, prefix, key_hash, daily_quota, per_second, created_by) "
                    f"VALUES (:name, :prefix, :hash, :quota, :rate, :actor) RETURNING {_COLUMNS}"
                ), {"name": name, "prefix": plain[:PREFIX_LENGTH], "hash": hash_key(plain),
                    "quota": daily_quota, "rate": per_second, "actor": actor}).one()
            break
        except IntegrityError:
            continue
    else:
        raise Conflict("could not draw an unused key prefix; try again")
    key = _key(row)
    audit.record(db, actor=actor, action="create", entity_type="api_key", entity_id=str(key.id),
                 after={"name": key.name, "prefix": key.prefix, "daily_quota": daily_quota,
                        "per_second": per_second})
    return key, plain


def list_keys(db: Db, *, day: dt.date | None = None) -> list[ApiKey]:
    """Every key, oldest first, with its requests on DAY (default today) as flushed to api_usage."""
    rows = db.execute(text(
        "SELECT k.id, k.name, k.prefix, k.daily_quota, k.per_second, k.created_by, k.created_at, "
        "k.revoked_at, coalesce(u.requests, 0) AS requests_today "
        "FROM api_keys k LEFT JOIN api_usage u ON u.caller = 'key:' || k.id AND u.day = :day "
        "ORDER BY k.id"
    ), {"day": day or usage_day()}).all()
    return [_key(r) for r in rows]


def key_shaped(plain: str) -> bool:
    """True when PLAIN looks like a key (so a lookup is worth a query)."""
    return len(plain) == KEY_LENGTH and plain.startswith(KEY_START)


def find_key(db: Db, plain: str) -> ApiKey | None:
    """The active key whose plain text is PLAIN, or None (unknown or revoked)."""
    if not key_shaped(plain):
        return None
    row = db.execute(text(
        f"SELECT {_COLUMNS} FROM api_keys WHERE key_hash = :hash AND revoked_at IS NULL"
    ), {"hash": hash_key(plain)}).one_or_none()
    return _key(row) if row else None


def _lookup(identifier: str) -> tuple[str, dict]:
    identifier = identifier.strip()
    if identifier.isascii() and identifier.isdigit():
        return "id = :v", {"v": int(identifier)}
    if key_shaped(identifier):
        return "key_hash = :v", {"v": hash_key(identifier)}
    return "prefix = :v", {"v": identifier}


def revoke_key(db: Db, key_id_or_prefix: str | int, actor: str) -> ApiKey:
    """Revoke the key given by id, prefix or the full key; Conflict when it was revoked already."""
    where, params = _lookup(str(key_id_or_prefix))
    row = db.execute(text(f"SELECT {_COLUMNS} FROM api_keys WHERE {where} FOR UPDATE"), params).one_or_none()
    if row is None:
        raise NotFound(f"no API key {key_id_or_prefix!r} (give its id, its prefix or the key)")
    if row.revoked_at is not None:
        when = row.revoked_at.astimezone(SHANGHAI).isoformat(timespec="seconds")
        raise Conflict(f"API key {row.prefix} ({row.name}) was revoked already at {when}")
    revoked_at = db.execute(text(
        "UPDATE api_keys SET revoked_at = now() WHERE id = :id RETURNING revoked_at"
    ), {"id": row.id}).scalar_one()
    key = replace(_key(row), revoked_at=revoked_at)
    audit.record(db, actor=actor, action="revoke", entity_type="api_key", entity_id=str(key.id),
                 before={"revoked_at": None}, after={"prefix": key.prefix, "revoked_at": revoked_at})
    return key


def usage_on(db: Db, caller: str, day: dt.date) -> Usage:
    """CALLER's counters on DAY (zero when it made no request)."""
    row = db.execute(text(
        "SELECT requests, refused FROM api_usage WHERE caller = :caller AND day = :day"
    ), {"caller": caller, "day": day}).one_or_none()
    return Usage(row.requests, row.refused) if row else Usage()


_ADD_USAGE = text("""
INSERT INTO api_usage AS u (caller, day, requests, refused)
SELECT * FROM unnest(CAST(:callers AS text[]), CAST(:days AS date[]),
                     CAST(:requests AS bigint[]), CAST(:refused AS bigint[]))
ON CONFLICT (caller, day) DO UPDATE
    SET requests = u.requests + EXCLUDED.requests, refused = u.refused + EXCLUDED.refused
RETURNING caller, day, requests
""")


def add_usage(db: Db, deltas: Mapping[tuple[str, dt.date], Usage]) -> dict[tuple[str, dt.date], int]:
    """Add DELTAS to the counters in one statement; returns each caller-day's total requests."""
    if not deltas:
        return {}
    # Counters may lose their last second in a crash; not waiting for the WAL flush keeps the
    # write (and the request that triggered it) fast.
    db.execute(text("SET LOCAL synchronous_commit = off"))
    # Sorted, so that processes flushing the same callers lock the rows in the same order.
    keys = sorted(deltas)
    rows = db.execute(_ADD_USAGE, {
        "callers": [c for c, _ in keys], "days": [d for _, d in keys],
        "requests": [deltas[k].requests for k in keys], "refused": [deltas[k].refused for k in keys],
    }).all()
    return {(r.caller, r.day): r.requests for r in rows}
