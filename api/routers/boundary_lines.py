"""/v1/boundaries/lines, /v1/boundaries/tri-junctions and /v1/markers: the line register, line files and
surveyor assignments, and the marker register with its numbering checks (§9 rules 39–40).

Reads are anonymous, except the list of surveyors assigned to a line (staff). Documents and markers:
admin or reviewer. Assignments: admin. Every write is audited by the domain functions.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, Path, Query, Request, Response, UploadFile, status
from pydantic import BaseModel, ConfigDict, Field

from api.deps import SessionDep, SettingsDep, UserDep, require_role
from api.paging import Page, page
from api.uploads import read_limited
from boundaries import attachments, marker_register
from boundaries import lines as register
from boundaries.codes import DivisionCode
from boundaries.divisions import descendant_prefix
from boundaries.lines import Document
from boundaries.marker_register import HistoryEntry
from data.accounts import Account
from placenames.registry import parse_bbox

router = APIRouter(prefix="/v1", tags=["boundaries"])
DEFAULT_LIMIT = 50

Editor = Annotated[Account, Depends(require_role("admin", "reviewer"))]
Admin = Annotated[Account, Depends(require_role("admin"))]
LINE_PATTERN = r"^[0-9]{6,12}-[0-9]{6,12}$"
NUMBER_PATTERN = r"^[0-9A-Z]{4}[0-9]{3}[QABCDE]$"
Level = Literal["province", "county", "township"]
Status = Literal["完好", "损坏", "丢失", "移位"]
MarkerType = Literal["单立", "同号双立", "同号三立", "三交点"]
Limit = Annotated[int, Query(ge=1, le=register.MAX_PAGE)]
BBox = Annotated[str | None, Query(max_length=200, description="minlon,minlat,maxlon,maxlat")]
DivisionQuery = Annotated[str | None, Query(max_length=12, description="lines with a party in this division",
                                            examples=["330100"])]


def line_id_path(line_id: Annotated[str, Path(description="the two parties' codes, smaller first",
                                              examples=["330102-330105"])]) -> str:
    """The path's line id (422 naming the pattern when malformed)."""
    return register.parse_line_id(line_id)


def number_path(number: Annotated[str, Path(description="8 characters: line number, sequence, type code",
                                            examples=["3334001Q"])]) -> str:
    """The path's marker number (422 naming the pattern when malformed)."""
    marker_register.parse_number(number)
    return number


LineId = Annotated[str, Depends(line_id_path)]
Number = Annotated[str, Depends(number_path)]


def _division(value: str | None) -> str | None:
    return descendant_prefix(DivisionCode.parse(value)) if value else None


# ---------------------------------------------------------------- models


class PartyOut(BaseModel):
    """One of the two divisions a line separates."""

    code: str
    name: str | None


class LineOut(BaseModel):
    """A current boundary line."""

    line_id: str = Field(examples=["330102-330105"])
    level: str
    name: str = Field(examples=["上城区—拱墅区线"])
    parties: list[PartyOut]
    line_number: str = Field(examples=["000A"], description="prefixes the numbers of the line's markers")
    length_m: float
    approving_authority: str
    last_inspection: str | None
    next_inspection: str | None = Field(description="last inspection + cycle years; null if never inspected")
    inspection_cycle_years: int
    marker_count: int
    geom_approximate: bool


class TriJunctionOut(BaseModel):
    """A point where three divisions meet (三交点)."""

    id: str = Field(examples=["310000-320000-330000"])
    level: str
    codes: list[str]
    geometry: dict[str, Any]


class LineDetailOut(LineOut):
    """A line with its geometry (GeoJSON, lon/lat CGCS2000), documents and tri-junctions."""

    geometry: dict[str, Any]
    geom_source: str
    valid_from: str
    documents: list[Document]
    tri_junctions: list[TriJunctionOut]


class AssignmentOut(BaseModel):
    """A surveyor assigned to a line."""

    line_id: str
    username: str
    assigned_by: str
    assigned_at: str


class FindingOut(BaseModel):
    """One breach of rule 39 or 40."""

    rule: int
    code: str = Field(examples=["marker-pair-incomplete"])
    severity: str
    message: str
    line_id: str
    marker: str | None
    evidence: dict[str, Any]
    source: str


class ChecksOut(BaseModel):
    """The numbering checks of a line's markers."""

    line_id: str
    summary: dict[str, Any]
    findings: list[FindingOut]


class ReferenceObject(BaseModel):
    """A 方位物: what it is, its bearing and distance from the marker."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=50, examples=["电杆"])
    bearing_deg: float = Field(ge=0, lt=360, allow_inf_nan=False)
    distance_m: float = Field(gt=0, le=10_000, allow_inf_nan=False)


class MarkerIn(BaseModel):
    """A marker to register; the first 4 characters of its number name the line."""

    model_config = ConfigDict(extra="forbid")
    number: str = Field(pattern=NUMBER_PATTERN, examples=["3334041Q"])
    type: MarkerType
    lon: float = Field(allow_inf_nan=False, description="longitude in the datum given")
    lat: float = Field(allow_inf_nan=False, description="latitude in the datum given")
    datum: str = Field("CGCS2000", max_length=20, examples=["CGCS2000", "WGS84"])
    line_id: str | None = Field(None, pattern=LINE_PATTERN, description="optional; must match the number's line")
    side_code: str | None = Field(None, pattern=r"^[0-9]{6}([0-9]{3}){0,2}$",
                                  description="the division it stands in (A/B: implied; C/D/E: required)")
    tri_junction_id: str | None = Field(None, max_length=40)
    managing_party: str | None = Field(None, pattern=r"^[0-9]{6}([0-9]{3}){0,2}$")
    precision_m: float | None = Field(None, ge=0, le=1000, allow_inf_nan=False)
    reference_objects: list[ReferenceObject] = Field(default_factory=list, max_length=10)
    erected_on: dt.date | None = None


class MarkerPatch(BaseModel):
    """A change to a marker's register entry, based on the version the client has seen."""

    model_config = ConfigDict(extra="forbid")
    base_version: int = Field(ge=1, le=2**31 - 1)
    reference_objects: list[ReferenceObject] | None = Field(None, max_length=10)
    reference_objects_complete: bool | None = None
    precision_m: float | None = Field(None, ge=0, le=1000, allow_inf_nan=False)
    managing_party: str | None = Field(None, pattern=r"^[0-9]{6}([0-9]{3}){0,2}$")


class MarkerOut(BaseModel):
    """A marker in the register."""

    number: str = Field(examples=["3334001Q"])
    line_id: str
    seq: int
    type: str
    type_code: str
    side_code: str | None
    tri_junction_id: str | None
    lon: float
    lat: float
    geometry: dict[str, Any] = Field(description="GeoJSON Point, lon/lat CGCS2000")
    source_datum: str
    precision_m: float | None
    managing_party: str
    reference_objects: list[dict[str, Any]]
    reference_objects_complete: bool
    status: str
    version: int
    erected_on: str | None
    retired_on: str | None
    updated_at: str


class PhotoOut(BaseModel):
    """A photo of a marker (GET /v1/attachments/{sha256})."""

    sha256: str
    filename: str
    caption: str | None
    source_ref: str | None
    added_at: str


class MarkerDetailOut(MarkerOut):
    """A marker with its history (newest first), photos and open repair task."""

    history: list[HistoryEntry]
    photos: list[PhotoOut]
    open_repair_task: dict[str, Any] | None


# ---------------------------------------------------------------- lines


@router.get("/boundaries/lines", response_model=Page[LineOut], summary="Current boundary lines")
def list_lines(
    request: Request, session: SessionDep, level: Level | None = None, division: DivisionQuery = None,
    bbox: BBox = None, limit: Limit = DEFAULT_LIMIT,
    after: Annotated[str | None, Query(pattern=LINE_PATTERN, description="keyset cursor from `next`")] = None,
) -> dict:
    """Lines by line_id, with parties, number, length, authority, inspection dates and marker count."""
    found = register.list_lines(session, level=level, division_prefix=_division(division), bbox=parse_bbox(bbox),
                                after=after, limit=limit)
    return page(request, found.items, found.next_after)


@router.get("/boundaries/lines/{line_id}.geojson", summary="A line as a GeoJSON Feature",
            response_class=Response, responses={200: {"content": {"application/geo+json": {}}}})
def line_feature(line_id: LineId, session: SessionDep) -> Response:
    """The line's geometry (lon/lat CGCS2000) with its register entry as properties."""
    detail = register.get_line(session, line_id).as_dict()
    feature = {"type": "Feature", "id": line_id, "geometry": detail.pop("geometry"), "properties": detail}
    return Response(json.dumps(feature, ensure_ascii=False), media_type="application/geo+json")


@router.get("/boundaries/lines/{line_id}", response_model=LineDetailOut, summary="One line")
def get_line(line_id: LineId, session: SessionDep) -> dict:
    """The line with its geometry, documents and tri-junctions."""
    return register.get_line(session, line_id).as_dict()


@router.get("/boundaries/lines/{line_id}/checks", response_model=ChecksOut,
            summary="Numbering checks of the line's markers (rules 39–40)")
def line_checks(line_id: LineId, session: SessionDep) -> dict:
    """Number prefix, pairing (Q alone, A/B, C/D/E), A/B sides and W→E / N→S order."""
    findings = marker_register.check_line_markers(session, line_id)
    return {"line_id": line_id, "summary": marker_register.summarize(findings),
            "findings": [f.as_dict() for f in findings]}


@router.get("/boundaries/lines/{line_id}/documents", response_model=list[Document], summary="The line's files")
def list_documents(line_id: LineId, session: SessionDep) -> list[dict]:
    """协议书, 详图, 界桩登记表/成果表, 联检报告, 会议纪要 … by kind."""
    return [d.as_dict() for d in register.list_documents(session, line_id)]


@router.post("/boundaries/lines/{line_id}/documents", response_model=Document,
             status_code=status.HTTP_201_CREATED, summary="Add a document (admin, reviewer)")
async def add_document(
    line_id: LineId, session: SessionDep, settings: SettingsDep, user: Editor,
    kind: Annotated[str, Form(description="、".join(register.DOCUMENT_KINDS))],
    title: Annotated[str, Form(min_length=1, max_length=200)],
    doc_number: Annotated[str | None, Form(max_length=100)] = None,
    signed_on: Annotated[dt.date | None, Form()] = None,
    file: Annotated[UploadFile | None, File(description="the document; stored once by SHA-256")] = None,
) -> dict:
    """Record a document; the file is stored once however often it is sent. Audited."""
    sha256 = filename = None
    if file is not None and file.filename:
        content = await read_limited(file, settings.survey_max_attachment_bytes)
        sha256 = hashlib.sha256(content).hexdigest()
        attachments.store_whole(session, sha256, content, file.content_type, actor=user.username,
                                limit=settings.survey_max_attachment_bytes)
        filename = file.filename[:255]
    return register.add_document(session, line_id, register.NewDocument(
        kind, title, doc_number, signed_on.isoformat() if signed_on else None, sha256, filename),
        actor=user.username).as_dict()


@router.get("/boundaries/lines/{line_id}/assignments", response_model=list[AssignmentOut],
            summary="Surveyors assigned to the line (staff)")
def list_assignments(line_id: LineId, session: SessionDep, user: UserDep) -> list[dict]:
    """Who may upload field surveys for the line."""
    return [a.as_dict() for a in register.list_assignments(session, line_id)]


@router.put("/boundaries/lines/{line_id}/assignments/{username}", response_model=AssignmentOut,
            summary="Assign a surveyor to the line (admin)", responses={201: {"model": AssignmentOut}})
def assign(line_id: LineId, username: Annotated[str, Path(min_length=1, max_length=100)], session: SessionDep,
           user: Admin, response: Response) -> dict:
    """Idempotent: 201 when the assignment is new, 200 when it existed. Audited."""
    assignment, created = register.assign(session, line_id, username, actor=user.username)
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return assignment.as_dict()


@router.delete("/boundaries/lines/{line_id}/assignments/{username}", status_code=status.HTTP_204_NO_CONTENT,
               summary="Remove a surveyor from the line (admin)")
def unassign(line_id: LineId, username: Annotated[str, Path(min_length=1, max_length=100)], session: SessionDep,
             user: Admin) -> Response:
    """404 when the surveyor is not assigned. Audited."""
    register.unassign(session, line_id, username, actor=user.username)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/boundaries/tri-junctions", response_model=Page[TriJunctionOut], summary="Tri-junctions (三交点)")
def list_tri_junctions(
    request: Request, session: SessionDep, level: Level | None = None, division: DivisionQuery = None,
    limit: Limit = DEFAULT_LIMIT,
    after: Annotated[str | None, Query(max_length=40, description="keyset cursor from `next`")] = None,
) -> dict:
    """Points where three divisions meet, by id, optionally only those touching a division."""
    items, cursor = register.list_tri_junctions(session, level=level, division_prefix=_division(division),
                                                after=after, limit=limit)
    return page(request, items, cursor)


# ---------------------------------------------------------------- markers


@router.get("/markers", response_model=Page[MarkerOut], summary="Markers (界桩), filtered")
def list_markers(
    request: Request, session: SessionDep,
    line_id: Annotated[str | None, Query(pattern=LINE_PATTERN)] = None, status_: Annotated[
        Status | None, Query(alias="status")] = None,
    bbox: BBox = None, limit: Limit = DEFAULT_LIMIT,
    after: Annotated[str | None, Query(pattern=NUMBER_PATTERN, description="keyset cursor from `next`")] = None,
) -> dict:
    """Markers by number."""
    found = marker_register.list_markers(session, line_id=line_id, status=status_, bbox=parse_bbox(bbox),
                                         after=after, limit=limit)
    return page(request, found.items, found.next_after)


@router.post("/markers", response_model=MarkerDetailOut, status_code=status.HTTP_201_CREATED,
             summary="Register a marker (admin, reviewer)")
def add_marker(body: MarkerIn, session: SessionDep, user: Editor, request: Request, response: Response) -> dict:
    """Number, line, type, pairing (rule 39), side, position (≤ 1 km from the line) and datum are checked."""
    data = body.model_dump()
    data["reference_objects"] = tuple(data["reference_objects"])
    marker = marker_register.register(session, marker_register.MarkerInput(**data), actor=user.username)
    response.headers["Location"] = str(request.url_for("get_marker", number=marker.number))
    return marker_register.marker_detail(session, marker.number).as_dict()


@router.get("/markers/{number}", response_model=MarkerDetailOut, summary="One marker")
def get_marker(number: Number, session: SessionDep) -> dict:
    """The marker with its history, photos and open repair task."""
    return marker_register.marker_detail(session, number).as_dict()


@router.get("/markers/{number}/history", response_model=list[HistoryEntry], summary="A marker's versions")
def marker_history(number: Number, session: SessionDep) -> list[dict]:
    """Every version, newest first: the fields changed, the source and who."""
    return [h.as_dict() for h in marker_register.marker_history(session, number)]


@router.patch("/markers/{number}", response_model=MarkerDetailOut, summary="Edit a marker (admin, reviewer)")
def edit_marker(number: Number, body: MarkerPatch, session: SessionDep, user: Editor) -> dict:
    """Reference objects, their completeness, precision, managing party; 409 with `current_version` when stale."""
    changes = {k: v for k, v in body.model_dump(exclude_unset=True, exclude={"base_version"}).items()
               if v is not None or k == "precision_m"}
    marker_register.edit_marker(session, number, body.base_version, changes, actor=user.username)
    return marker_register.marker_detail(session, number).as_dict()
