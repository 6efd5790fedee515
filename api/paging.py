"""Keyset paging links: the same URL with every query parameter, plus the cursor."""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

from fastapi import Path, Query, Request
from pydantic import BaseModel, Field

from maps.ogc_documents import public_base

BIGINT = 2**63 - 1  # PostgreSQL bigint: larger ids are a 422, not a database error
RowId = Annotated[int, Path(ge=1, le=BIGINT, description="row id")]
AfterId = Annotated[int | None, Query(ge=1, le=BIGINT, description="keyset cursor from `next`")]
Item = TypeVar("Item")


class Page(BaseModel, Generic[Item]):
    """A page of items with a keyset link to the next page (every list response has this shape)."""

    items: list[Item]
    next: str | None = Field(description="URL of the next page, or null on the last page")


def next_link(request: Request, cursor: Any) -> str | None:
    """The URL of the next page, or None when CURSOR says there is none."""
    if cursor is None:
        return None
    value = ".".join(map(str, cursor)) if isinstance(cursor, tuple) else cursor
    return str(request.url.include_query_params(after=value))


def page(request: Request, items: list, cursor: Any) -> dict[str, Any]:
    """A list response: the items as dicts and the `next` link."""
    return {"items": [item.as_dict() for item in items], "next": next_link(request, cursor)}


def public_base_url(request: Request) -> str:
    """The base URL clients see for REQUEST (honours Forwarded and X-Forwarded-*), for absolute links."""
    return public_base(request.headers, request.url.scheme, request.url.netloc, request.scope.get("root_path", ""))
