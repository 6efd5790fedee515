"""Staff accounts: create users, check passwords (argon2 through pwdlib)."""

from __future__ import annotations

from dataclasses import dataclass

from pwdlib import PasswordHash
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from data import audit
from data.errors import Conflict, InvalidInput, NotAuthenticated

ROLES = ("admin", "approver", "reviewer", "applicant", "surveyor")
MIN_PASSWORD = 8
_hasher = PasswordHash.recommended()
# Verified against when the user does not exist, so both paths cost the same time.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


@dataclass(frozen=True, slots=True)
class Account:
    """A user as the rest of the system sees it (never the hash)."""

    id: int
    username: str
    role: str
    active: bool


def add_user(session: Session, username: str, password: str, role: str, *,
             actor: str = audit.SYSTEM) -> Account:
    """Create a user; the role must be one of ROLES and the name unused."""
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}",
                           errors=[{"field": "role", "message": f"unknown role {role!r}"}])
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"password needs at least {MIN_PASSWORD} characters",
                           errors=[{"field": "password", "message": "too short"}])
    try:
        with session.begin_nested():
            row = session.execute(text(
                "INSERT INTO users (username, password_hash, role) VALUES (:u, :h, :r) "
                "RETURNING id, username, role, active"
            ), {"u": username, "h": _hasher.hash(password), "r": role}).one()
    except IntegrityError as exc:
        raise _user_conflict(username, exc) from None
    account = Account(row.id, row.username, row.role, row.active)
    audit.record(session, actor=actor, action="create", entity_type="user",
                 entity_id=username, after={"username": username, "role": role})
    return account


def _user_conflict(username: str, exc: IntegrityError) -> Exception:
    if "users_username_check" in str(exc.orig):
        return InvalidInput("username must be 3–64 letters, digits or _ . @ -",
                            errors=[{"field": "username", "message": "invalid characters"}])
    return Conflict(f"user {username!r} exists already")


def authenticate(session: Session, username: str, password: str) -> Account:
    """The active account for these credentials, or NotAuthenticated."""
    row = session.execute(text(
        "SELECT id, username, role, active, password_hash FROM users WHERE username = :u"
    ), {"u": username}).one_or_none()
    ok = _hasher.verify(password, row.password_hash if row else _DUMMY_HASH)
    if row is None or not ok or not row.active:
        raise NotAuthenticated("wrong username or password")
    return Account(row.id, row.username, row.role, row.active)


def get_account(session: Session, username: str) -> Account | None:
    """The account named USERNAME, if it exists."""
    row = session.execute(text(
        "SELECT id, username, role, active FROM users WHERE username = :u"
    ), {"u": username}).one_or_none()
    return Account(row.id, row.username, row.role, row.active) if row else None
