"""/v1/placenames (registry search, one name, history, check), /v1/romanize."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from api.deps import SessionDep, require_role
from api.paging import RowId, page
from api.placename_schemas import (
    CheckIn,
    CheckOut,
    OverrideIn,
    PlaceNameIn,
    PlaceNameOut,
    PlaceNamePage,
    RomanizationOut,
)
from boundaries.codes import DivisionCode
from data.accounts import Account
from placenames import checks, overrides, registry
from placenames.categories import get_category
from placenames.rules import Proposal, validate_name

router = APIRouter(tags=["place names"])
Reviewer = Annotated[Account, Depends(require_role("reviewer", "approver", "admin"))]
Admin = Annotated[Account, Depends(require_role("admin"))]


@router.get("/v1/placenames", response_model=PlaceNamePage, summary="Search standard names")
def search_names(
    request: Request, session: SessionDep,
    q: Annotated[str | None, Query(min_length=1, max_length=50,
                                   description="Chinese, full pinyin (huzhou) or initials (hzs)")] = None,
    category: Annotated[str | None, Query(max_length=20, description="class or sub-class code or name")] = None,
    division: Annotated[str | None, Query(pattern=r"^\d{6}(\d{3}){0,2}$")] = None,
    bbox: Annotated[str | None, Query(description="minlon,minlat,maxlon,maxlat")] = None,
    status: Annotated[str | None, Query(pattern="^(standard|historical|cancelled|any)$")] = "standard",
    limit: Annotated[int, Query(ge=1, le=registry.MAX_PAGE)] = 20,
    after: Annotated[str | None, Query(max_length=40, description="cursor from `next`")] = None,
) -> dict:
    """Current names, best match first; keyset `next` link."""
    query = registry.SearchQuery(
        q=q, category=get_category(category) if category else None,
        division=DivisionCode.parse(division) if division else None, bbox=registry.parse_bbox(bbox),
        status=None if status == "any" else status, limit=limit, after=registry.parse_cursor(after))
    items, cursor = registry.search(session, query)
    return page(request, items, cursor)


@router.post("/v1/placenames", response_model=PlaceNameOut, status_code=201,
             summary="Register a standard name directly (administrators)")
def add_name(body: PlaceNameIn, session: SessionDep, user: Admin) -> dict:
    """For corrections and imports outside the workflow; audited like every write."""
    data = body.model_dump()
    valid_from = data.pop("valid_from")
    for key in ("division_codes", "aliases", "former_names"):
        data[key] = tuple(data[key])
    name_id = registry.register(session, registry.NameInput(**data), actor=user.username,
                                valid_from=valid_from)
    return registry.get_name(session, name_id).as_dict()


@router.get("/v1/placenames/{name_id}", response_model=PlaceNameOut, summary="One standard name")
def get_name(name_id: RowId, session: SessionDep) -> dict:
    """The current version with geometry and division names."""
    return registry.get_name(session, name_id).as_dict()


@router.get("/v1/placenames/{name_id}/history", response_model=list[PlaceNameOut],
            summary="Every version of a name")
def name_history(name_id: RowId, session: SessionDep) -> list[dict]:
    """Oldest first; each approved change closed one version and opened the next."""
    return [v.as_dict() for v in registry.history(session, name_id)]


@router.post("/v1/placenames/check", response_model=CheckOut, summary="Check a proposed name")
def check_name(body: CheckIn, session: SessionDep) -> dict:
    """§9 rules 1–13 and 25: findings with rule, severity, evidence and source."""
    category = get_category(body.category)
    name = validate_name(body.name)
    proposal = Proposal(
        name=name, category=category, specific=body.specific, generic=body.generic,
        division_code=body.division_code, site_area_m2=body.site_area_m2, floor_area_m2=body.floor_area_m2,
        approval_documents=tuple(body.approval_documents), no_specific_link=tuple(body.no_specific_link),
        sign_text=body.sign_text)
    findings = checks.check_proposal(session, proposal, geometry=body.geometry,
                                     exclude_name_id=body.exclude_name_id)
    return {"name": name, "category": category.code, "findings": [f.as_dict() for f in findings],
            "passes": not any(f.severity == "error" for f in findings)}


@router.get("/v1/romanize", response_model=RomanizationOut, summary="Romanize a place name")
def romanize_name(
    session: SessionDep,
    name: Annotated[str, Query(min_length=1, max_length=50, examples=["湖州市"])],
    category: Annotated[str | None, Query(max_length=20, description="class or sub-class")] = None,
    division: Annotated[str | None, Query(pattern=r"^\d{6}(\d{3}){0,2}$",
                                          description="where the name is (minority-language forms)")] = None,
    tones: bool = False,
) -> dict:
    """The 1984 rules: text, all-caps sign text, segments and the rule behind each."""
    cat = get_category(category) if category else None
    result = overrides.romanize_with_overrides(session, validate_name(name), cat, division_code=division,
                                               tones=tones)
    return result.as_dict()


@router.put("/v1/romanize/overrides", summary="Override a romanization (reviewers)")
def set_override(body: OverrideIn, session: SessionDep, user: Reviewer) -> dict:
    """Stored with the reason and audited; romanize() returns it from then on."""
    return overrides.set_override(session, name=body.name, category=body.category,
                                  romanization=body.romanization, reason=body.reason,
                                  actor=user.username).as_dict()
