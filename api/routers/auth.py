"""/v1/auth and /v1/users: bearer tokens (OAuth2 password flow) and staff accounts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, status
from fastapi.security import OAuth2PasswordRequestForm

from api.deps import SessionDep, SettingsDep, UserDep, require_role
from api.schemas import TokenOut, UserIn, UserOut
from api.security import issue_token
from data import accounts
from data.accounts import Account

router = APIRouter(tags=["auth"])


@router.post("/v1/auth/token", response_model=TokenOut, summary="Get a bearer token")
def token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
    settings: SettingsDep,
) -> dict:
    """Exchange username and password for a short-lived bearer token."""
    account = accounts.authenticate(session, form.username, form.password)
    return {"access_token": issue_token(account, settings.secret_key or "", settings.token_minutes),
            "token_type": "bearer", "expires_in": settings.token_minutes * 60}


@router.get("/v1/auth/me", response_model=UserOut, summary="Who the token belongs to")
def me(user: UserDep) -> dict:
    """The account behind the bearer token."""
    return {"username": user.username, "role": user.role, "active": user.active}


@router.post("/v1/users", response_model=UserOut, status_code=status.HTTP_201_CREATED,
             summary="Create a staff account (admin)")
def create_user(
    body: UserIn, session: SessionDep, admin: Annotated[Account, Depends(require_role("admin"))]
) -> dict:
    """Create a user with one role; audited with the admin as actor."""
    account = accounts.add_user(session, body.username, body.password, body.role,
                                actor=admin.username)
    return {"username": account.username, "role": account.role, "active": account.active}
