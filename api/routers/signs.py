"""/v1/signs: 地名标志 (GB 17733), their inspections and live sign-text checks."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from api.deps import SessionDep, require_role
from api.paging import BIGINT, Page, page
from data.accounts import Account
from placenames import signs
from placenames.registry import parse_bbox

router = APIRouter(prefix="/v1/signs", tags=["signs"])
DEFAULT_LIMIT = 50

Writer = Annotated[Account, Depends(require_role("admin", "reviewer", "surveyor"))]
SignId = Annotated[int, Path(ge=1, le=BIGINT, description="sign id")]


class SignIn(BaseModel):
    """A sign as installed: where, what kind, and the text it shows."""

    model_config = ConfigDict(extra="forbid")
    name_id: int = Field(ge=1, le=BIGINT, description="the registry name the sign shows")
    kind: str = Field(max_length=10, examples=list(signs.KINDS))
    lon: float = Field(allow_inf_nan=False, description="longitude, CGCS2000 (EPSG:4490)")
    lat: float = Field(allow_inf_nan=False, description="latitude, CGCS2000 (EPSG:4490)")
    text_zh: str = Field(min_length=1, max_length=signs.MAX_TEXT, examples=["文昌路"])
    text_pinyin: str = Field(min_length=1, max_length=signs.MAX_TEXT, examples=["WENCHANG LU"])
    condition: str = Field("good", max_length=10, examples=list(signs.CONDITIONS))
    installed_on: dt.date | None = None


class InspectionIn(BaseModel):
    """The result of one inspection."""

    model_config = ConfigDict(extra="forbid")
    inspected_on: dt.date
    condition: str = Field(max_length=10, examples=list(signs.CONDITIONS))
    note: str | None = Field(None, max_length=signs.MAX_NOTE)


class FindingOut(BaseModel):
    """One check result."""

    rule: int = Field(description="§9 rule number")
    code: str = Field(examples=["sign-name-mismatch"])
    severity: str = Field(examples=["error"])
    message: str
    evidence: dict[str, Any]
    source: str


class InspectionOut(BaseModel):
    """A recorded inspection."""

    id: int
    inspected_on: str
    condition: str
    note: str | None
    inspector: str


class SignOut(BaseModel):
    """A sign, the current registry name it shows and the live checks of its text."""

    id: int
    name_id: int
    name: str | None = Field(description="current standard name")
    romanization: str | None = Field(description="current standard romanization")
    name_status: str | None
    kind: str
    lon: float
    lat: float
    geometry: dict[str, Any] = Field(description="GeoJSON Point, lon/lat CGCS2000")
    text_zh: str
    text_pinyin: str
    condition: str
    installed_on: str | None
    created_by: str
    mismatched: bool = Field(description="the text differs from the current standard name or romanization")
    checks: list[FindingOut]
    inspections: list[InspectionOut] = Field(description="newest first; empty in lists")


SignPage = Page[SignOut]


@router.get("", response_model=SignPage, summary="Signs, filtered")
def list_signs(
    request: Request,
    session: SessionDep,
    name_id: Annotated[int | None, Query(ge=1, le=BIGINT)] = None,
    condition: Annotated[str | None, Query(max_length=10, description=", ".join(signs.CONDITIONS))] = None,
    mismatched: Annotated[bool | None, Query(description="only signs whose text is (not) wrong")] = None,
    bbox: Annotated[str | None, Query(max_length=200, description="minlon,minlat,maxlon,maxlat")] = None,
    limit: Annotated[int, Query(ge=1, le=signs.MAX_PAGE)] = DEFAULT_LIMIT,
    after: Annotated[int | None, Query(ge=0, le=BIGINT, description="keyset cursor")] = None,
) -> dict:
    """Signs by id, with each one's live text checks."""
    found = signs.list_signs(session, name_id=name_id, condition=condition, mismatched=mismatched,
                             bbox=parse_bbox(bbox), limit=limit, after=after)
    return page(request, found.items, found.next_after)


@router.get("/{sign_id}", response_model=SignOut, summary="One sign with inspections and checks")
def get_sign(session: SessionDep, sign_id: SignId) -> dict:
    """The sign, its inspections (newest first) and its text checked against the registry."""
    return signs.get_sign(session, sign_id).as_dict()


@router.post("", response_model=SignOut, status_code=status.HTTP_201_CREATED,
             summary="Record a sign (admin, reviewer, surveyor)")
def add_sign(body: SignIn, session: SessionDep, user: Writer, request: Request, response: Response) -> dict:
    """Record an installed sign; the response carries its live checks. Audited."""
    sign_id = signs.add_sign(session, **body.model_dump(), actor=user.username)
    response.headers["Location"] = str(request.url_for("get_sign", sign_id=sign_id))
    return signs.get_sign(session, sign_id).as_dict()


@router.post("/{sign_id}/inspections", response_model=SignOut, status_code=status.HTTP_201_CREATED,
             summary="Record an inspection (admin, reviewer, surveyor)")
def inspect_sign(sign_id: SignId, body: InspectionIn, session: SessionDep, user: Writer) -> dict:
    """Add an inspection; the sign takes its condition unless a later inspection exists. Audited."""
    signs.inspect_sign(session, sign_id, inspected_on=body.inspected_on, condition=body.condition,
                       note=body.note, actor=user.username)
    return signs.get_sign(session, sign_id).as_dict()
