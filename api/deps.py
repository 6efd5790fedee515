"""Request dependencies: settings, one unit of work per request, path codes, the current user."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from api.security import read_token
from boundaries.codes import DivisionCode
from data.accounts import Account, get_account
from data.errors import NotAuthenticated, PermissionDenied
from data.settings import Settings


def get_settings(request: Request) -> Settings:
    """The settings the app was created with."""
    return request.app.state.settings


def get_session(request: Request) -> Iterator[Session]:
    """One transaction per request: commit on success, roll back on error."""
    with Session(request.app.state.engine) as session, session.begin():
        yield session


async def get_reader(request: Request) -> AsyncIterator[Connection]:
    """A connection in autocommit mode for read-only lookups: no BEGIN/COMMIT round trips.

    Taken on the event loop (a pool checkout is microseconds), so the hot lookup routes that are
    `async` run without a thread hand-off; their queries are bounded index lookups of ~1 ms.
    """
    with request.app.state.reader.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        yield conn


SettingsDep = Annotated[Settings, Depends(get_settings)]
# "function" scope: the transaction commits before the response is sent. FastAPI's default ends a
# yield dependency after the response, so a client could be told 201 for a write that a crash (or a
# failing commit) then loses; the upload reliability bench caught exactly that.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
ReaderDep = Annotated[Connection, Depends(get_reader, scope="function")]


def division_code(
    code: Annotated[str, Path(description="6-, 9- or 12-digit division code", examples=["330502"])],
) -> DivisionCode:
    """Parse the path's division code (422 with a clear message when malformed)."""
    return DivisionCode.parse(code)


CodeDep = Annotated[DivisionCode, Depends(division_code)]
oauth2 = OAuth2PasswordBearer(tokenUrl="/v1/auth/token", auto_error=False)


def current_user(
    token: Annotated[str | None, Depends(oauth2)], session: SessionDep, settings: SettingsDep
) -> Account:
    """The account behind the bearer token, or 401."""
    if not token:
        raise NotAuthenticated("this endpoint needs a bearer token from POST /v1/auth/token")
    account = get_account(session, read_token(token, settings.secret_key or ""))
    if account is None or not account.active:
        raise NotAuthenticated("the token's user no longer exists or is disabled")
    return account


UserDep = Annotated[Account, Depends(current_user)]


def require_role(*roles: str):
    """A dependency that lets only users with one of ROLES through (403 otherwise)."""

    def check(user: UserDep) -> Account:
        if user.role not in roles:
            raise PermissionDenied(f"needs role {' or '.join(roles)}; you are {user.role}")
        return user

    return check
