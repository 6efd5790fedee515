"""Request and response models of the place-name endpoints."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from api.paging import Page

NAME = Field(min_length=1, max_length=50, examples=["文昌路"])
CODE = Field(pattern=r"^\d{6}(\d{3}){0,2}$", examples=["330502"])


class Strict(BaseModel):
    """Unknown members are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class FindingOut(BaseModel):
    """One naming-rule finding."""

    rule: int = Field(description="the rule number in domain.md §9")
    code: str
    severity: str = Field(description="error (blocks approval), warning (reviewer decides) or info")
    message: str
    evidence: dict[str, Any]
    source: str


class CheckIn(Strict):
    """A proposed name to check."""

    name: str = NAME
    category: str = Field(min_length=2, max_length=20, examples=["0801", "街路巷"])
    division_code: str = CODE
    specific: str | None = Field(None, max_length=50)
    generic: str | None = Field(None, max_length=20)
    site_area_m2: float | None = Field(None, ge=0)
    floor_area_m2: float | None = Field(None, ge=0)
    approval_documents: list[str] = Field(default_factory=list, max_length=20)
    no_specific_link: list[str] = Field(default_factory=list, max_length=20)
    sign_text: str | None = Field(None, max_length=200)
    geometry: dict[str, Any] | None = None
    exclude_name_id: int | None = Field(None, ge=1, le=2**63 - 1,
                                       description="the name being renamed, ignored as a duplicate")


class CheckOut(BaseModel):
    """The verdict on a proposed name."""

    name: str
    category: str
    passes: bool = Field(description="no error-level findings")
    findings: list[FindingOut]


class SegmentOut(BaseModel):
    """One written segment and the rule that decided it."""

    hanzi: str
    text: str
    role: str
    rule: str


class RomanizationOut(BaseModel):
    """A romanized name."""

    name: str
    text: str = Field(examples=["Huzhou Shi"])
    sign_text: str = Field(examples=["HUZHOU SHI"])
    segments: list[SegmentOut]
    category: str | None


class OverrideIn(Strict):
    """A reviewer's correction of a romanization."""

    name: str = NAME
    category: str | None = Field(None, max_length=20)
    romanization: str = Field(min_length=1, max_length=200)
    reason: str = Field(min_length=2, max_length=1000)


class PlaceNameOut(BaseModel):
    """One version of a standard name."""

    id: int
    version_id: int
    name: str
    specific: str
    generic: str
    category: str
    category_name: str
    romanization: str | None
    minority_name: str | None
    minority_language: str | None
    division_code: str | None
    division_codes: list[str]
    division_names: list[str] = []
    entity_code: str | None
    meaning: str | None
    history: str | None
    status: str
    aliases: list[str]
    former_names: list[str]
    source: str
    valid_from: str
    valid_to: str | None
    application_id: int | None
    change_note: str | None
    geometry: dict[str, Any] | None = None


PlaceNamePage = Page[PlaceNameOut]


class PlaceNameIn(Strict):
    """A standard name entered directly by an administrator (imports and corrections)."""

    name: str = NAME
    category: str = Field(min_length=2, max_length=20)
    division_code: str = CODE
    division_codes: list[str] = Field(default_factory=list, max_length=50)
    specific: str | None = Field(None, max_length=50)
    generic: str | None = Field(None, max_length=20)
    romanization: str | None = Field(None, max_length=200)
    minority_name: str | None = Field(None, max_length=200)
    minority_language: str | None = Field(None, max_length=50)
    geometry: dict[str, Any] | None = None
    meaning: str | None = Field(None, max_length=4000)
    history: str | None = Field(None, max_length=8000)
    status: str = "standard"
    aliases: list[str] = Field(default_factory=list, max_length=20)
    former_names: list[str] = Field(default_factory=list, max_length=20)
    source: str = Field("manual entry", min_length=1, max_length=500)
    valid_from: dt.date | None = Field(None, description="since when the name is in use (default today)")


class ApplicationIn(Strict):
    """A new 命名/更名/注销 application."""

    kind: str = Field(examples=["rename", "更名"])
    category: str = Field(min_length=2, max_length=20)
    division_code: str = CODE
    reasons: str = Field(min_length=4, max_length=8000)
    proposed_name: str | None = Field(None, min_length=1, max_length=50)
    name_id: int | None = Field(None, ge=1, le=2**63 - 1, description="the registry name to rename or cancel")
    specific: str | None = Field(None, max_length=50)
    generic: str | None = Field(None, max_length=20)
    location_description: str | None = Field(None, max_length=500)
    geometry: dict[str, Any] | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)


class ApplicationOut(BaseModel):
    """An application with its deadlines and the actions open to it."""

    id: int
    kind: str
    kind_label: str
    state: str
    state_label: str
    name_id: int | None
    proposed_name: str | None
    specific: str | None
    generic: str | None
    category: str
    division_code: str
    location_description: str | None
    reasons: str
    attributes: dict[str, Any]
    romanization: str | None
    applicant: str
    approver_kind: str | None
    approver_division: str | None
    approver_name: str | None
    approval_document: str | None
    approval_date: str | None
    placename_dept_consulted: bool
    filing_target: str | None
    filing_due: str | None = Field(description="approval date + 15 days (Art. 13)")
    filing_date: str | None
    announcement_due: str | None = Field(description="approval (or filing) date + 15 days (Art. 14)")
    announcement_date: str | None
    created_at: str
    geometry: dict[str, Any] | None = None
    overdue: list[str] = Field(description="deadlines passed without action: filing, announcement")
    late: list[str] = Field(description="steps taken after their deadline")
    next_actions: list[str]
    missing_attachments: list[str]
    attachments: list[dict[str, Any]]
    events: list[dict[str, Any]]


ApplicationPage = Page[ApplicationOut]


class AnnouncementOut(BaseModel):
    """A published 公告 with its six required fields."""

    id: int
    application_id: int
    name_id: int
    kind: str
    title: str
    standard_name: str
    romanization: str
    division: str
    location: str
    approver: str
    approval_date: str
    published_on: str
    former_name: str | None


AnnouncementPage = Page[AnnouncementOut]
