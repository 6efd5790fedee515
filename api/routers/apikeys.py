"""GET /v1/usage: a lookup caller's own limits and today's usage (the call itself counts)."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.quota import RESPONSES, CallerDep

router = APIRouter(tags=["addresses"])


class UsageOut(BaseModel):
    """The caller's limits and its requests so far today."""

    caller: str = Field(description="`key` or `anonymous`", examples=["key"])
    key_prefix: str | None = Field(None, description="first characters of the API key", examples=["gz_Ab3dE9x"])
    key_name: str | None = Field(None, description="the name the key was given")
    address: str | None = Field(None, description="client address anonymous callers are counted by")
    daily_quota: int
    per_second: int = Field(description="rate limit; bursts of up to this many requests are allowed")
    day: dt.date = Field(description="today in Asia/Shanghai")
    requests_today: int = Field(description="admitted requests today, this one included")
    remaining_today: int
    resets_at: dt.datetime = Field(description="next midnight in Asia/Shanghai")
    reset_seconds: int = Field(description="seconds until resets_at")


@router.get("/v1/usage", response_model=UsageOut, summary="Your limits and today's usage", responses=RESPONSES)
def usage(caller: CallerDep) -> dict:
    """Limits and usage of the caller behind X-API-Key, or of the anonymous client address."""
    key = caller.key
    return {
        "caller": "key" if key else "anonymous",
        "key_prefix": key.prefix if key else None,
        "key_name": key.name if key else None,
        "address": caller.address,
        "daily_quota": caller.daily_quota, "per_second": caller.per_second, "day": caller.day,
        "requests_today": caller.requests_today, "remaining_today": caller.remaining,
        "resets_at": caller.resets_at, "reset_seconds": caller.reset_seconds,
    }
