"""Checks of plain input values shared by the place-name modules: text, dates, field errors."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from data.errors import InvalidInput

SHANGHAI = ZoneInfo("Asia/Shanghai")


def today() -> dt.date:
    """Today's date in Asia/Shanghai (legal deadlines and validity dates are local calendar days)."""
    return dt.datetime.now(SHANGHAI).date()


def field_error(field_name: str, message: str, detail: str | None = None) -> InvalidInput:
    """An InvalidInput about one field (DETAIL for the problem's detail, MESSAGE for the field)."""
    return InvalidInput(detail or f"{field_name}: {message}", errors=[{"field": field_name, "message": message}])


def not_future(day: dt.date | None, field_name: str) -> dt.date | None:
    """DAY unless it is after today in Asia/Shanghai."""
    if day is not None and day > today():
        raise field_error(field_name, f"{day} is in the future", f"{field_name} {day} is in the future")
    return day


def text_field(value: Any, field_name: str, limit: int, *, required: bool = False) -> str | None:
    """Stripped text of at most LIMIT characters without control characters (newlines and tabs allowed)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise field_error(field_name, "required", f"{field_name} must not be empty")
        return None
    if not isinstance(value, str) or any(ord(c) < 32 and c not in "\n\t" for c in value):
        raise field_error(field_name, "not plain text", f"{field_name} must be plain text")
    value = value.strip()
    if len(value) > limit:
        raise field_error(field_name, f"at most {limit} characters", f"{field_name} is too long")
    return value
