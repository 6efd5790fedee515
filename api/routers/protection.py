"""/v1/protected-names: the 地名保护名录 (Art. 25) and its protection measures."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from api.deps import SessionDep, require_role
from api.paging import BIGINT, Page, page
from data.accounts import Account
from placenames import protection

router = APIRouter(prefix="/v1/protected-names", tags=["protection list"])
DEFAULT_LIMIT = 50

Writer = Annotated[Account, Depends(require_role("admin", "approver"))]
CATEGORY_HELP = "、".join(protection.CATEGORIES)
EntryId = Annotated[int, Path(ge=1, le=BIGINT, description="protection-list entry id")]


class MeasureIn(BaseModel):
    """A protection measure (实施办法: 设立标志、派生命名、活化使用、文化产品、宣传推广、其他)."""

    model_config = ConfigDict(extra="forbid")
    kind: str = Field(max_length=10, examples=["设立标志"])
    description: str = Field(min_length=1, max_length=protection.MAX_DESCRIPTION)
    application_id: int | None = Field(None, ge=1, le=BIGINT,
                                       description="the rename/cancel application this measure is set for")


class ProtectedIn(BaseModel):
    """A name to put on the protection list."""

    model_config = ConfigDict(extra="forbid")
    name_id: int = Field(ge=1, le=BIGINT)
    category: str = Field(max_length=20, examples=list(protection.CATEGORIES))
    reason: str = Field(min_length=1, max_length=protection.MAX_REASON)
    listed_on: dt.date | None = Field(None, description="defaults to today (Asia/Shanghai)")
    measures: list[MeasureIn] = Field(default_factory=list, max_length=protection.MAX_MEASURES)


class MeasureOut(BaseModel):
    """A recorded protection measure."""

    id: int
    kind: str
    description: str
    application_id: int | None
    created_by: str
    created_at: str


class ProtectedOut(BaseModel):
    """A protection-list entry with the name's current version and its measures."""

    id: int
    name_id: int
    name: str | None = Field(description="current standard name")
    romanization: str | None
    name_status: str | None
    category: str
    reason: str
    listed_on: str
    created_by: str
    measures: list[MeasureOut]


ProtectedPage = Page[ProtectedOut]


@router.get("", response_model=ProtectedPage, summary="The protection list")
def list_protected(
    request: Request,
    session: SessionDep,
    category: Annotated[str | None, Query(max_length=20, description=CATEGORY_HELP)] = None,
    limit: Annotated[int, Query(ge=1, le=protection.MAX_PAGE)] = DEFAULT_LIMIT,
    after: Annotated[int | None, Query(ge=0, le=BIGINT, description="keyset cursor")] = None,
) -> dict:
    """Listed names by entry id, optionally of one category."""
    found = protection.list_protected(session, category=category, limit=limit, after=after)
    return page(request, found.items, found.next_after)


@router.get("/{protected_id}", response_model=ProtectedOut, summary="One protection-list entry")
def get_protected(session: SessionDep, protected_id: EntryId) -> dict:
    """The entry, the name's current version and every measure."""
    return protection.get_protected(session, protected_id).as_dict()


@router.post("", response_model=ProtectedOut, status_code=status.HTTP_201_CREATED,
             summary="Put a name on the protection list (admin, approver)")
def protect(body: ProtectedIn, session: SessionDep, user: Writer, request: Request,
            response: Response) -> dict:
    """List a current registry name once, with its initial measures; audited."""
    protected_id = protection.protect(
        session, name_id=body.name_id, category=body.category, reason=body.reason,
        listed_on=body.listed_on, measures=[m.model_dump() for m in body.measures], actor=user.username)
    response.headers["Location"] = str(request.url_for("get_protected", protected_id=protected_id))
    return protection.get_protected(session, protected_id).as_dict()


@router.post("/{protected_id}/measures", response_model=ProtectedOut, status_code=status.HTTP_201_CREATED,
             summary="Add a protection measure (admin, approver)")
def add_measure(protected_id: EntryId, body: MeasureIn, session: SessionDep, user: Writer) -> dict:
    """Record a measure (link application_id before a rename: §9 rule 20); returns the entry."""
    protection.add_measure(session, protected_id, kind=body.kind, description=body.description,
                           application_id=body.application_id, actor=user.username)
    return protection.get_protected(session, protected_id).as_dict()
