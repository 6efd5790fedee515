"""/v1/addresses: the standard address library and the lookup API (parse, geocode, reverse, suggest,
batch) for other systems; lookups are admitted per API key or anonymous caller (api.quota)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, File, Form, Path, Query, Request, UploadFile, status
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field

from addresses import batch, edits, library
from addresses.admin import AdminIndex, admin_index
from addresses.coords import COORDSYS, check_coordsys, to_cgcs2000
from addresses.edits import Change
from addresses.geocode import LOCAL_FIELDS, GeocodeRequest, county_scope, geocode
from addresses.parse import parse
from addresses.reverse import DEFAULT_RADIUS, MAX_RADIUS, reverse
from addresses.suggest import suggest
from api.deps import ReaderDep, SessionDep, SettingsDep, require_role
from api.quota import RESPONSES, CallerDep
from api.uploads import read_limited
from data.accounts import Account
from data.errors import InvalidInput

router = APIRouter(tags=["addresses"])
MAX_PARSE = 1000
MAX_TEXT = 2000

CodePath = Annotated[str, Path(pattern=r"^\d{17}(\d{4})?(\d{3})?(\d{2})?(\d{4})?$",
                               description="address code: 17, 21, 24, 26 or 30 digits",
                               examples=["330106001001000010001"])]
Coordsys = Annotated[str, Query(description="output coordinates: " + ", ".join(COORDSYS),
                                max_length=10)]
Division = Annotated[str | None, Query(description="restrict to this division (6/9/12-digit code)",
                                       max_length=12, examples=["330106"])]


def lookup_index(session: ReaderDep) -> AdminIndex:
    """The administrative-name index (built once per process and database)."""
    return admin_index(session)


IndexDep = Annotated[AdminIndex, Depends(lookup_index)]


class ParseIn(BaseModel):
    """Addresses to split into components."""

    model_config = ConfigDict(extra="forbid")
    addresses: list[Annotated[str, Field(max_length=MAX_TEXT)]] = Field(
        min_length=1, max_length=MAX_PARSE, examples=[["浙江省杭州市西湖区文三路90号东部软件园1号楼5楼"]])


@router.post("/v1/addresses/parse", summary="Split addresses into components", responses=RESPONSES)
def parse_addresses(body: ParseIn, index: IndexDep, caller: CallerDep) -> dict[str, Any]:
    """Up to 1,000 addresses per call; `results` in input order, with division codes and warnings."""
    return {"results": [p.to_dict() for p in parse(body.addresses, index)]}


@router.get("/v1/addresses/geocode", summary="Standard address and point for an address text", responses=RESPONSES)
def geocode_one(
    session: ReaderDep, index: IndexDep, caller: CallerDep, request: Request,
    q: Annotated[str | None, Query(max_length=MAX_TEXT, description="free-text address")] = None,
    division: Division = None, coordsys: Coordsys = "cgcs2000",
    province: Annotated[str | None, Query(max_length=50)] = None,
    city: Annotated[str | None, Query(max_length=50)] = None,
    county: Annotated[str | None, Query(max_length=50)] = None,
    town: Annotated[str | None, Query(max_length=50)] = None,
) -> dict[str, Any]:
    """Free text in `q`, or structured fields (province … town plus road, roadno, poi, houseno,
    cellno, floorno, roomno as query parameters)."""
    fields = {k: v for k, v in {"province": province, "city": city, "county": county, "town": town,
              **{f: request.query_params.get(f) for f in LOCAL_FIELDS}}.items() if v}
    coordsys = check_coordsys(coordsys)
    if not q and not fields:
        raise _missing("q", "give q (free text) or structured fields such as road and roadno")
    found = geocode(session, index, [GeocodeRequest(q or "", division, None if q else fields)])
    return {"results": [r.as_dict(coordsys) for r in found if r.match_level]}


def _missing(field: str, message: str) -> InvalidInput:
    return InvalidInput(message, errors=[{"field": field, "message": "required"}])


@router.get("/v1/addresses/reverse", summary="Nearest standard address and the divisions at a point", responses=RESPONSES)
async def reverse_one(
    session: ReaderDep, caller: CallerDep,
    lon: Annotated[float, Query(allow_inf_nan=False, description="longitude")],
    lat: Annotated[float, Query(allow_inf_nan=False, description="latitude")],
    radius: Annotated[int, Query(ge=1, le=MAX_RADIUS, description="metres")] = DEFAULT_RADIUS,
    coordsys: Coordsys = "cgcs2000",
    input_coordsys: Annotated[str, Query(max_length=10, description="coordinates of lon/lat")] = "cgcs2000",
) -> dict[str, Any]:
    """One SQL round trip: KNN over the address points, the county by polygon when none is near."""
    coordsys, input_coordsys = check_coordsys(coordsys), check_coordsys(input_coordsys)
    if input_coordsys not in ("cgcs2000", "wgs84") and -180 <= lon <= 180 and -90 <= lat <= 90:
        lon, lat = to_cgcs2000(lon, lat, input_coordsys)
    return reverse(session, lon, lat, radius=radius).as_dict(coordsys)


@router.get("/v1/addresses/suggest", summary="Complete a street, compound or plate as the user types", responses=RESPONSES)
def suggest_some(
    session: ReaderDep, caller: CallerDep,
    q: Annotated[str, Query(min_length=1, max_length=50, description="prefix, full pinyin or initials")],
    division: Division = None, coordsys: Coordsys = "cgcs2000",
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
) -> dict[str, Any]:
    """Prefix on the name, full pinyin (`wenyi`) or initials (`wyl`); plates once a number is typed."""
    coordsys = check_coordsys(coordsys)
    scope = county_scope(division) if division else ""
    return {"results": [s.as_dict(coordsys) for s in suggest(session, q, scope=scope, limit=limit)]}


def job_connector(request: Request):
    """How a background job opens its committing transactions (tests substitute their connection)."""
    return lambda: request.app.state.engine.begin()


@router.post("/v1/addresses/batch", status_code=status.HTTP_202_ACCEPTED, summary="Geocode a CSV file", responses=RESPONSES)
async def batch_submit(
    session: SessionDep, settings: SettingsDep, index: IndexDep, caller: CallerDep,
    background: BackgroundTasks, request: Request, connect: Annotated[Any, Depends(job_connector)],
    file: Annotated[UploadFile, File(description="CSV in UTF-8 or GB18030/GBK")],
    column: Annotated[str | None, Form(max_length=200, description="address column (name or 1-based)")] = None,
    division_column: Annotated[str | None, Form(max_length=200)] = None,
    coordsys: Annotated[str, Form(max_length=10)] = "cgcs2000",
) -> dict[str, Any]:
    """Queues a job; poll `GET /v1/jobs/{id}`, then fetch `/v1/jobs/{id}/result.csv`."""
    coordsys = check_coordsys(coordsys)
    data = await read_limited(file, settings.batch_max_bytes)
    job = batch.create_job(session, settings.home, data, owner=caller.id, filename=file.filename or "upload.csv",
                           column=column, division_column=division_column, coordsys=coordsys,
                           max_rows=settings.batch_max_rows)
    background.add_task(batch.run_job, connect, settings.home, index, job["id"])
    return _job_links(request, job)


def _job_links(request: Request, job: dict[str, Any]) -> dict[str, Any]:
    base = str(request.base_url).rstrip("/")
    return {**job, "links": {"self": f"{base}/v1/jobs/{job['id']}",
                             "result": f"{base}/v1/jobs/{job['id']}/result.csv"}}


JobId = Annotated[uuid.UUID, Path(description="job id")]


@router.get("/v1/jobs/{job_id}", summary="A batch job's status and progress")
def job_status(job_id: JobId, session: ReaderDep, request: Request) -> dict[str, Any]:
    """Status (queued, running, done, failed), rows done of total, and the result link."""
    return _job_links(request, batch.get_job(session, job_id))


@router.get("/v1/jobs/{job_id}/result.csv", summary="A finished job's result", response_class=FileResponse)
def job_result(job_id: JobId, session: ReaderDep, settings: SettingsDep) -> FileResponse:
    """The input columns plus gz_* result columns, one row per input row (409 until done)."""
    path = batch.result_path(session, settings.home, job_id)
    return FileResponse(path, media_type="text/csv; charset=utf-8", filename=f"geocoded-{job_id}.csv")


@router.get("/v1/addresses/{code}", summary="One standard address")
def address_one(code: CodePath, session: ReaderDep, coordsys: Coordsys = "cgcs2000") -> dict[str, Any]:
    """The current version with its division chain and admin codes."""
    return library.get_address(session, code).as_dict(check_coordsys(coordsys))


@router.get("/v1/addresses/{code}/history", summary="Every version of an address")
def address_history(code: CodePath, session: ReaderDep) -> dict[str, Any]:
    """Versions oldest first, with their validity dates."""
    return {"items": [v.as_dict() for v in library.history(session, code)]}


@router.get("/v1/addresses/{code}/children", summary="The elements below an address")
def address_children(
    code: CodePath, session: ReaderDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    after: Annotated[str | None, Query(pattern=r"^\d{17,30}$", description="keyset cursor")] = None,
) -> dict[str, Any]:
    """Plates of a street, buildings of a plate or compound, units, rooms; keyset paged by code."""
    items = library.children(session, code, limit=limit, after=after)
    return {"items": [i.as_dict() for i in items], "next_after": items[-1].code if len(items) == limit else None}


Editor = Annotated[Account, Depends(require_role("admin", "reviewer"))]


class RevisionIn(BaseModel):
    """A new version of an address: a corrected point and/or the reserved flag, with the reason."""

    model_config = ConfigDict(extra="forbid")
    lon: float | None = Field(None, allow_inf_nan=False, description="longitude, CGCS2000")
    lat: float | None = Field(None, allow_inf_nan=False, description="latitude, CGCS2000")
    reserved: bool | None = Field(None, description="a reserved number (预留号), not a real plate")
    reason: str = Field(min_length=1, max_length=500, examples=["门牌位置经实地核对修正"])
    valid_from: dt.date | None = Field(None, description="default: today (Asia/Shanghai)")


class RetireIn(BaseModel):
    """Retirement of an address element and everything below it."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=500, examples=["房屋拆除"])
    valid_to: dt.date | None = Field(None, description="default: today (Asia/Shanghai)")


@router.patch("/v1/addresses/{code}", summary="Open a new version of an address (admin, reviewer)")
def address_revise(code: CodePath, body: RevisionIn, session: SessionDep, user: Editor) -> dict[str, Any]:
    """The current version is closed and a new one opened with the change; audited."""
    change = Change(lon=body.lon, lat=body.lat, reserved=body.reserved, reason=body.reason)
    edits.revise(session, code, change, actor=user.username, on=body.valid_from)
    return library.get_address(session, code).as_dict()


@router.post("/v1/addresses/{code}/retire", summary="Retire an address and all below it (admin, reviewer)")
def address_retire(code: CodePath, body: RetireIn, session: SessionDep, user: Editor) -> dict[str, Any]:
    """Closes every current element below CODE too; the codes are never given again."""
    retired = edits.retire(session, code, actor=user.username, reason=body.reason, on=body.valid_to)
    return {"retired": retired, "count": len(retired)}
