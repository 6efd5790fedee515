"""/v1/facilities: service facilities, their types, and coverage analysis (domain.md §8, §9 rule 51)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from api.deps import SessionDep, require_role
from api.paging import Page, page
from data.accounts import Account
from facilities import coverage, export, store
from facilities.model import FacilityType
from facilities.types import list_types

router = APIRouter(prefix="/v1", tags=["facilities"])
DEFAULT_LIMIT = 50

Writer = Annotated[Account, Depends(require_role("admin", "reviewer"))]
FacilityIdPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.:-]{1,64}$", description="facility id")]
DivisionQuery = Annotated[str, Query(max_length=12, description="6-, 9- or 12-digit division code",
                                     examples=["330100"])]
TypeQuery = Annotated[list[str] | None, Query(alias="type", max_length=20, description=(
    "facility type code (repeat, or comma-separated); see /v1/facility-types"))]
StatusQuery = Annotated[list[str] | None, Query(max_length=4, description=", ".join(store.STATUSES))]
CSV = "text/csv; charset=utf-8"


class _FacilityFields(BaseModel):
    """The optional fields a facility is recorded or changed with."""

    model_config = ConfigDict(extra="forbid")
    lon: float | None = Field(None, allow_inf_nan=False, description="longitude, CGCS2000")
    lat: float | None = Field(None, allow_inf_nan=False, description="latitude, CGCS2000")
    address: str | None = Field(None, max_length=200)
    address_code: str | None = Field(None, pattern=r"^[0-9]{17,30}$")
    division_code: str | None = Field(None, pattern=r"^[0-9]{6}([0-9]{3}){0,2}$")
    beds: int | None = Field(None, ge=0, le=1_000_000)
    meal_seats: int | None = Field(None, ge=0, le=1_000_000)
    operator: str | None = Field(None, max_length=200)
    opened_on: dt.date | None = None


class FacilityIn(_FacilityFields):
    """A new facility: a point (or a standard address code) and its type; the rest optional."""

    facility_id: str | None = Field(None, pattern=r"^[A-Za-z0-9_.:-]{1,64}$",
                                    description="stable id; generated (TYPE-COUNTY-NNNN) when omitted")
    name: str = Field(min_length=1, max_length=100, examples=["文新街道幸福食堂"])
    type_code: str = Field(max_length=16, examples=["MEAL_POINT"])
    status: Literal["planned", "operating", "suspended"] = "operating"


class FacilityPatch(_FacilityFields):
    """A change to a facility, based on the version the client has seen."""

    base_version: int = Field(ge=1, le=2**31 - 1)
    name: str | None = Field(None, min_length=1, max_length=100)
    type_code: str | None = Field(None, max_length=16)
    status: Literal["planned", "operating", "suspended"] | None = None


class CloseIn(BaseModel):
    """When a facility closed."""

    model_config = ConfigDict(extra="forbid")
    closed_on: dt.date | None = Field(None, description="default: today (Asia/Shanghai)")


class FacilityOut(BaseModel):
    """A facility."""

    facility_id: str = Field(examples=["MEAL_POINT-330106-0001"])
    name: str
    type_code: str
    lon: float
    lat: float
    geometry: dict[str, Any] = Field(description="GeoJSON Point, lon/lat CGCS2000")
    address: str | None
    address_code: str | None
    division_code: str
    beds: int | None
    meal_seats: int | None
    operator: str | None
    opened_on: str | None
    closed_on: str | None
    status: str
    version: int
    source: str | None


def _types(values: list[str] | None) -> list[str] | None:
    """Repeated and comma-separated type codes, flattened."""
    codes = [c.strip() for v in values or () for c in v.split(",") if c.strip()]
    return codes or None


@router.get("/facility-types", response_model=list[FacilityType], summary="Facility types")
def facility_types(session: SessionDep) -> list[dict]:
    """Every facility type with code, category, default service radius, icon and colour."""
    return [t.as_dict() for t in list_types(session)]


@router.get("/facilities", response_model=Page[FacilityOut], summary="Facilities, filtered")
def list_facilities(request: Request, session: SessionDep, division: Annotated[str | None, Query(
        max_length=12, description="division code: facilities inside it")] = None, types: TypeQuery = None,
        status_: Annotated[list[str] | None, Query(alias="status", max_length=4,
                                                   description="default: all but closed")] = None,
        after: Annotated[str | None, Query(max_length=64, description="keyset cursor from `next`")] = None,
        limit: Annotated[int, Query(ge=1, le=store.MAX_PAGE)] = DEFAULT_LIMIT) -> dict:
    """Facilities by id: by division (code prefix), type (repeatable) and status."""
    items, cursor = store.page_facilities(session, division=division, type_codes=_types(types), status=status_,
                                          after=after, limit=limit)
    return page(request, items, cursor)


@router.get("/facilities/coverage", summary="Coverage of a division's children by facilities of some types",
            responses={200: {"content": {"application/json": {}, "text/csv": {"schema": {"type": "string"}}}}})
def facility_coverage(
    request: Request, session: SessionDep, division: DivisionQuery, types: TypeQuery = None,
    radius: Annotated[int | None, Query(ge=coverage.MIN_RADIUS_M, le=coverage.MAX_RADIUS_M,
                                        description="metres; default: the types' largest default radius")] = None,
    format_: Annotated[Literal["json", "csv"] | None, Query(alias="format")] = None,
    part: Annotated[Literal["rows", "gaps"], Query(description="CSV only: the coverage rows or the gaps")] = "rows",
) -> Any:
    """Residential addresses (and population) within 300 / 500 / 1,000 m and RADIUS, straight-line and along
    the walking network, per child division plus the total; and the gap list. `format=csv` or
    `Accept: text/csv` gives CSV (UTF-8 with BOM); `part=gaps` the gaps as CSV."""
    report = coverage.coverage_report(session, division, _types(types), radius)
    wants_csv = format_ == "csv" or (format_ is None and "text/csv" in request.headers.get("accept", ""))
    if not wants_csv:
        return export.report_dict(report)
    body = export.gaps_csv(report) if part == "gaps" else export.coverage_csv(report)
    name = quote(f"{report.division_code}-{report.division_name}-{'gaps' if part == 'gaps' else 'coverage'}.csv")
    return Response(body, media_type=CSV, headers={"Content-Disposition": f"attachment; filename*=UTF-8''{name}"})


@router.get("/facilities/{facility_id}", response_model=FacilityOut, summary="One facility")
def get_facility(facility_id: FacilityIdPath, session: SessionDep) -> dict:
    """The facility, closed ones included."""
    return store.get_facility(session, facility_id).as_dict()


@router.post("/facilities", response_model=FacilityOut, status_code=status.HTTP_201_CREATED,
             summary="Record a facility (admin, reviewer)")
def add_facility(body: FacilityIn, session: SessionDep, user: Writer, request: Request, response: Response) -> dict:
    """Stored with its division and, within 30 m, its standard address. Audited."""
    created = store.create_facility(session, store.FacilityInput(**body.model_dump(), source="manual"),
                                    actor=user.username)
    response.headers["Location"] = str(request.url_for("get_facility", facility_id=created.facility_id))
    return created.as_dict()


@router.patch("/facilities/{facility_id}", response_model=FacilityOut, summary="Change a facility (admin, reviewer)")
def change_facility(facility_id: FacilityIdPath, body: FacilityPatch, session: SessionDep, user: Writer) -> dict:
    """Fields given replace the stored ones; 409 with `current_version` when BASE_VERSION is stale. Audited."""
    changes = body.model_dump(exclude_unset=True, exclude={"base_version"})
    return store.update_facility(session, facility_id, body.base_version, changes, actor=user.username).as_dict()


@router.post("/facilities/{facility_id}/close", response_model=FacilityOut,
             summary="Close a facility (admin, reviewer)")
def close_facility(facility_id: FacilityIdPath, session: SessionDep, user: Writer,
                   body: Annotated[CloseIn | None, Body()] = None) -> dict:
    """Status closed, valid time ended on CLOSED_ON; it leaves coverage and the current map. Audited."""
    closed_on = body.closed_on if body else None
    return store.close_facility(session, facility_id, closed_on=closed_on, actor=user.username).as_dict()
