"""Short-lived bearer tokens (JWT, HS256) for staff accounts."""

from __future__ import annotations

import datetime as dt

import jwt

from data.accounts import Account
from data.errors import NotAuthenticated

ALGORITHM = "HS256"


def issue_token(account: Account, secret: str, minutes: int) -> str:
    """A signed token naming the user and role, expiring after MINUTES."""
    now = dt.datetime.now(dt.UTC)
    claims = {"sub": account.username, "role": account.role, "iat": now,
              "exp": now + dt.timedelta(minutes=minutes)}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def read_token(token: str, secret: str) -> str:
    """The username inside a valid token, or NotAuthenticated."""
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], options={"require": ["exp"]})
    except jwt.ExpiredSignatureError:
        raise NotAuthenticated("the token has expired; ask for a new one") from None
    except jwt.InvalidTokenError:
        raise NotAuthenticated("the token is not valid") from None
    return str(claims["sub"])
