"""/v1/inspections, /v1/repair-tasks and the line register files: joint inspections (联检, §5.2), their
results and reports, the overdue list (rule 35) and the repair tasks findings open (rule 37).

Reading needs a staff token (admin, approver, reviewer, surveyor). Planning, completing, issuing
reports and closing repair tasks: admin or reviewer. Marker and section results: admin, reviewer, or a
surveyor assigned to the line.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Annotated, Any, Literal
from urllib.parse import quote
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, ConfigDict, Field

from api.deps import SessionDep, SettingsDep, require_role
from api.paging import BIGINT, AfterId, Page, page
from boundaries import inspections as insp
from boundaries import reports
from data.accounts import Account
from data.errors import InvalidInput, PermissionDenied

router = APIRouter(prefix="/v1", tags=["inspections"])
DEFAULT_LIMIT = 50

Reader = Annotated[Account, Depends(require_role("admin", "approver", "reviewer", "surveyor"))]
Writer = Annotated[Account, Depends(require_role("admin", "reviewer"))]
FieldStaff = Annotated[Account, Depends(require_role("admin", "reviewer", "surveyor"))]
InspectionId = Annotated[int, Path(ge=1, le=BIGINT, description="inspection id")]
TaskId = Annotated[int, Path(ge=1, le=BIGINT, description="repair task id")]
LINE_PATTERN = r"^[0-9]{6,12}-[0-9]{6,12}$"
LineIdPath = Annotated[str, Path(pattern=LINE_PATTERN, description="line id: the two parties' codes, smaller first",
                                 examples=["330102-330105"])]
LineId = Annotated[str, Field(pattern=LINE_PATTERN, examples=["330102-330105"])]
Party = Annotated[str, Field(pattern=r"^[0-9]{6}([0-9]{3}){0,2}$", examples=["330102"])]
MarkerNumber = Annotated[str, Field(pattern=r"^[0-9A-Z]{4}[0-9]{3}[QABCDE]$", examples=["T001001Q"])]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
Text = Annotated[str, Field(max_length=insp.MAX_TEXT)]
Status = Literal["完好", "损坏", "丢失", "移位"]
Reason = Literal["disaster", "river", "road", "other"]
Geometry = Annotated[dict[str, Any], Field(description="GeoJSON geometry, lon/lat CGCS2000 (EPSG:4490)",
                                           examples=[{"type": "Point", "coordinates": [120.16, 30.26]}])]


# ---------------------------------------------------------------- bodies


class PlanIn(BaseModel):
    """A routine round to plan; the lead defaults to the swap of the previous round (round 1: the left code)."""

    model_config = ConfigDict(extra="forbid")
    line_id: LineId
    planned_start: dt.date
    planned_end: dt.date
    lead_party: Party | None = Field(None, description="round 1 only; later rounds must follow the swap")


class AdHocIn(BaseModel):
    """An ad-hoc inspection of a line's section after an event (rule 36)."""

    model_config = ConfigDict(extra="forbid")
    line_id: LineId
    reason: Reason
    section: Geometry | None = Field(None, description="the affected section (GeoJSON); none: the whole line")
    planned_start: dt.date | None = None
    planned_end: dt.date | None = None
    lead_party: Party | None = None
    description: Text | None = None


class EventIn(BaseModel):
    """An event (disaster, river change, road change): every line within BUFFER_M of it gets an ad-hoc inspection."""

    model_config = ConfigDict(extra="forbid")
    geometry: Geometry
    buffer_m: float = Field(ge=0, le=insp.MAX_BUFFER_M, allow_inf_nan=False, description="geodesic buffer, metres")
    reason: Reason
    description: Text | None = None
    planned_start: dt.date | None = None
    planned_end: dt.date | None = None


class MarkerResultIn(BaseModel):
    """What the inspection found at one marker; lon/lat in CGCS2000 (EPSG:4490)."""

    model_config = ConfigDict(extra="forbid")
    marker_number: MarkerNumber
    status: Status
    reference_objects_complete: bool = True
    lon: float | None = Field(None, allow_inf_nan=False)
    lat: float | None = Field(None, allow_inf_nan=False)
    datum: str = Field("CGCS2000", min_length=1, max_length=40, description="datum the position was measured in")
    accuracy_m: float | None = Field(None, ge=0, le=10_000, allow_inf_nan=False)
    photos: list[Sha256] = Field([], max_length=insp.MAX_PHOTOS, description="SHA-256 of uploaded attachments")
    notes: Text | None = None
    survey_record: UUID | None = None


class SectionResultIn(BaseModel):
    """What the inspection found along a section (界线联检记录表)."""

    model_config = ConfigDict(extra="forbid")
    from_marker: MarkerNumber | None = None
    to_marker: MarkerNumber | None = None
    geometry: Geometry | None = None
    recognisable: bool = Field(description="界线是否清晰可辨")
    changes_near_line: Text | None = None
    cross_boundary_construction: Text | None = None
    notes: Text | None = None
    photos: list[Sha256] = Field([], max_length=insp.MAX_PHOTOS)
    survey_record: UUID | None = None


class CompleteIn(BaseModel):
    """Completion of an inspection."""

    model_config = ConfigDict(extra="forbid")
    completed_on: dt.date
    summary: Text | None = None
    allow_incomplete: bool = Field(False, description="complete without the rule-41 basis documents (recorded)")


class CloseIn(BaseModel):
    """A repair done; the neighbour must have been present (界线条例 Art. 6)."""

    model_config = ConfigDict(extra="forbid")
    neighbour_present: bool
    note: Text | None = None
    lon: float | None = Field(None, allow_inf_nan=False, description="where the repaired marker was measured")
    lat: float | None = Field(None, allow_inf_nan=False)


# ---------------------------------------------------------------- answers


class InspectionOut(BaseModel):
    """An inspection: routine round or ad hoc."""

    id: int
    line_id: str
    kind: Literal["routine", "ad_hoc"]
    round: int | None
    reason: str | None
    section: dict[str, Any] | None = Field(description="ad hoc: the section inspected (GeoJSON)")
    lead_party: str
    cooperating_party: str
    planned_start: str | None
    planned_end: str | None
    state: Literal["planned", "in_progress", "completed", "cancelled"]
    completed_on: str | None
    basis: dict[str, Any] = Field(description="ids of the line documents: agreements, registers, previous_reports; "
                                              "missing/incomplete when completed without them")
    summary: str | None
    report_sha256: str | None
    created_by: str
    created_at: str


class MarkerRecordOut(BaseModel):
    """A marker result."""

    id: int
    inspection_id: int
    marker_number: str
    status: Status
    reference_objects_complete: bool
    lon: float | None
    lat: float | None
    measured_datum: str | None
    accuracy_m: float | None
    displacement_m: float | None
    photos: list[str]
    notes: str | None
    survey_record: str | None
    recorded_by: str
    recorded_at: str


class SectionRecordOut(BaseModel):
    """A section result."""

    id: int
    inspection_id: int
    from_marker: str | None
    to_marker: str | None
    geometry: dict[str, Any] | None
    recognisable: bool
    changes_near_line: str | None
    cross_boundary_construction: str | None
    notes: str | None
    photos: list[str]
    survey_record: str | None
    recorded_by: str
    recorded_at: str


class RepairTaskOut(BaseModel):
    """A repair task (rule 37)."""

    id: int
    marker_number: str
    line_id: str
    found_status: str
    action: str
    assigned_party: str
    neighbour_party: str
    neighbour_presence_required: bool
    inspection_id: int | None
    survey_record: str | None
    state: Literal["open", "done", "cancelled"]
    opened_at: str
    closed_at: str | None
    closed_by: str | None
    note: str | None


class InspectionDetailOut(InspectionOut):
    """An inspection with its results, the repair tasks it opened and the markers still unchecked."""

    markers: list[MarkerRecordOut]
    sections: list[SectionRecordOut]
    repair_tasks: list[RepairTaskOut]
    unchecked_markers: list[str]


class MarkerOutcomeOut(BaseModel):
    """What recording a marker result did."""

    record: MarkerRecordOut
    displaced: bool = Field(description="measured beyond the line level's tolerance (rule 38)")
    repair_task_id: int | None
    replayed: bool = Field(description="the same result was stored already; nothing changed")
    warnings: list[str]


class CompletionOut(BaseModel):
    """A completed inspection, what it lacked (if allowed) and the markers left unchecked."""

    inspection: InspectionOut
    missing: list[str]
    unchecked_markers: list[str]
    warnings: list[str]


class EventOut(BaseModel):
    """The ad-hoc inspections an event scheduled (empty when no line is within the buffer)."""

    items: list[InspectionOut]


class OverdueOut(BaseModel):
    """A line whose joint inspection is overdue (rule 35)."""

    line_id: str
    name: str
    level: str
    left_code: str
    right_code: str
    last_inspection: str | None
    cycle_years: int
    due_date: str | None = Field(description="last_inspection + cycle years; null when never inspected")
    days_overdue: int | None = Field(description="calendar days past the due date (Asia/Shanghai)")
    never_inspected: bool
    open_inspection_id: int | None = Field(description="an unfinished routine round, if planned")


class OverdueList(BaseModel):
    """Overdue lines, never-inspected first, then the longest overdue."""

    as_of: str
    items: list[OverdueOut]


class IssuedOut(BaseModel):
    """An issued report: the stored PDF and the 联检报告 line document."""

    inspection_id: int
    sha256: str
    size: int
    document_id: int
    url: str


# ---------------------------------------------------------------- inspections


def _created(response: Response, request: Request, inspection_id: int) -> None:
    response.headers["Location"] = str(request.url_for("get_inspection", inspection_id=inspection_id))


@router.post("/inspections", response_model=InspectionOut, status_code=status.HTTP_201_CREATED,
             summary="Plan a routine round (admin, reviewer)")
def plan(body: PlanIn, session: SessionDep, user: Writer, request: Request, response: Response) -> dict:
    """The line's next round; lead and cooperating parties swap each round. 409 while a round is unfinished."""
    created = insp.plan_inspection(session, body.line_id, planned_start=body.planned_start,
                                   planned_end=body.planned_end, actor=user.username, lead_party=body.lead_party)
    _created(response, request, created.id)
    return created.as_dict()


@router.post("/inspections/ad-hoc", response_model=InspectionOut, status_code=status.HTTP_201_CREATED,
             summary="Plan an ad-hoc inspection (admin, reviewer)")
def plan_adhoc(body: AdHocIn, session: SessionDep, user: Writer, request: Request, response: Response) -> dict:
    """An ad-hoc inspection of a section (or the whole line) after a disaster, river or road change."""
    created = insp.plan_adhoc(session, body.line_id, body.reason, body.section, actor=user.username,
                              planned_start=body.planned_start, planned_end=body.planned_end,
                              lead_party=body.lead_party, description=body.description)
    _created(response, request, created.id)
    return created.as_dict()


@router.post("/inspections/events", response_model=EventOut, status_code=status.HTTP_201_CREATED,
             summary="Schedule ad-hoc inspections for an event (admin, reviewer)")
def schedule_event(body: EventIn, session: SessionDep, user: Writer) -> dict:
    """Every current line meeting the event's geodesic buffer gets an ad-hoc inspection of the part inside it."""
    created = insp.schedule_for_event(session, body.geometry, body.buffer_m, body.reason, user.username,
                                      planned_start=body.planned_start, planned_end=body.planned_end,
                                      description=body.description)
    return {"items": [c.as_dict() for c in created]}


LevelQuery = Annotated[Literal["province", "county", "township"] | None, Query(description="line level")]
DivisionQuery = Annotated[str | None, Query(pattern=r"^[0-9]{6}([0-9]{3}){0,2}$",
                                            description="lines with a party in or under this division")]
AsOfQuery = Annotated[dt.date | None, Query(description="judge on this day (default: today, Asia/Shanghai)")]


@router.get("/inspections/overdue", response_model=OverdueList, summary="Lines whose joint inspection is overdue")
def overdue(session: SessionDep, user: Reader, level: LevelQuery = None, division: DivisionQuery = None,
            as_of: AsOfQuery = None) -> dict:
    """Current lines with last inspection + cycle (5) years before today, or never inspected (rule 35)."""
    day = as_of or insp.today_shanghai()
    lines = insp.overdue_lines(session, day, level, division)
    return {"as_of": day.isoformat(), "items": [line.as_dict() for line in lines]}


def _overdue_redirect(request: Request, listing_filters: bool) -> RedirectResponse:
    if listing_filters:
        raise InvalidInput("overdue=true lists lines, not inspections: it takes level, division and as_of",
                           errors=[{"field": "overdue", "message": "not combinable with line_id/state/kind/after"}])
    kept = {k: v for k, v in request.query_params.items() if k in ("level", "division", "as_of")}
    return RedirectResponse(str(request.url_for("overdue").include_query_params(**kept)), status_code=307)


@router.get("/inspections", response_model=Page[InspectionOut], summary="Inspections, filtered",
            responses={307: {"description": "overdue=true: redirected to /v1/inspections/overdue (same level, "
                                            "division and as_of), which lists overdue lines, not inspections"}})
def list_inspections(
    request: Request, session: SessionDep, user: Reader,
    line_id: Annotated[str | None, Query(pattern=LINE_PATTERN)] = None,
    state: Annotated[Literal["planned", "in_progress", "completed", "cancelled"] | None, Query()] = None,
    kind: Annotated[Literal["routine", "ad_hoc"] | None, Query()] = None,
    overdue: Annotated[bool, Query(description="true: redirect to the overdue lines (GET /v1/inspections/overdue)")]
    = False,
    level: LevelQuery = None, division: DivisionQuery = None, as_of: AsOfQuery = None,
    limit: Annotated[int, Query(ge=1, le=insp.MAX_PAGE)] = DEFAULT_LIMIT,
    after: AfterId = None,
) -> Any:
    """Inspections by id. `overdue=true` answers 307 to `/v1/inspections/overdue` (with level, division and
    as_of, which only go with it): the overdue lines."""
    if overdue:
        return _overdue_redirect(request, bool(line_id or state or kind or after))
    if level or division or as_of:
        raise InvalidInput("level, division and as_of go with overdue=true",
                           errors=[{"field": "overdue", "message": "level/division/as_of need overdue=true"}])
    found = insp.list_inspections(session, line_id=line_id, state=state, kind=kind, limit=limit, after=after)
    return page(request, found.items, found.next_after)


@router.get("/inspections/{inspection_id}", response_model=InspectionDetailOut, summary="One inspection")
def get_inspection(inspection_id: InspectionId, session: SessionDep, user: Reader) -> dict:
    """The inspection, its marker and section results, the repair tasks it opened and its unchecked markers."""
    return insp.inspection_detail(session, inspection_id).as_dict()


def _may_record(session, inspection_id: int, user: Account) -> None:
    line_id = insp.get_inspection(session, inspection_id).line_id
    if user.role == "surveyor" and not insp.assigned(session, line_id, user.username):
        raise PermissionDenied(f"surveyor {user.username} is not assigned to line {line_id}")


@router.post("/inspections/{inspection_id}/markers", response_model=MarkerOutcomeOut,
             status_code=status.HTTP_201_CREATED, summary="Record a marker result (admin, reviewer, surveyor)",
             responses={200: {"description": "the same result again: the stored one, nothing changed"}})
def record_marker(inspection_id: InspectionId, body: MarkerResultIn, session: SessionDep, settings: SettingsDep,
                  user: FieldStaff, response: Response) -> dict:
    """One result per marker: status, 方位物, measured position, photos. Beyond the tolerance → 移位 (rule 38);
    any status but 完好 opens a repair task (rule 37). A different second result → 409."""
    _may_record(session, inspection_id, user)
    result = insp.MarkerResult(**(body.model_dump() | {"photos": tuple(body.photos), "survey_record": (
        str(body.survey_record) if body.survey_record else None)}))
    outcome = insp.record_marker_result(session, settings, inspection_id, result, actor=user.username)
    if outcome.replayed:
        response.status_code = status.HTTP_200_OK
    return outcome.as_dict()


@router.post("/inspections/{inspection_id}/sections", response_model=SectionRecordOut,
             status_code=status.HTTP_201_CREATED, summary="Record a section result (admin, reviewer, surveyor)")
def record_section(inspection_id: InspectionId, body: SectionResultIn, session: SessionDep,
                   user: FieldStaff) -> dict:
    """Whether the line is recognisable on the ground, changes near it and cross-boundary construction."""
    _may_record(session, inspection_id, user)
    result = insp.SectionResult(**(body.model_dump() | {"photos": tuple(body.photos), "survey_record": (
        str(body.survey_record) if body.survey_record else None)}))
    return insp.record_section(session, inspection_id, result, actor=user.username).as_dict()


@router.post("/inspections/{inspection_id}/complete", response_model=CompletionOut,
             summary="Complete an inspection (admin, reviewer)")
def complete(inspection_id: InspectionId, body: CompleteIn, session: SessionDep, user: Writer) -> dict:
    """Without links to the 协议书, the 界桩登记表 and the previous round's 联检报告 → 422 listing them (rule 41),
    unless allow_incomplete. A routine round moves the line's last_inspection; an ad-hoc one does not."""
    return insp.complete_inspection(session, inspection_id, body.completed_on, body.summary, actor=user.username,
                                    allow_incomplete=body.allow_incomplete).as_dict()


# ---------------------------------------------------------------- reports


def _attachment(filename: str) -> dict[str, str]:
    return {"Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename, safe='')}"}


@router.get("/inspections/{inspection_id}/report.html", response_class=HTMLResponse,
            summary="The 联检报告 as HTML (with a map)")
def report_html(inspection_id: InspectionId, session: SessionDep, user: Reader) -> HTMLResponse:
    """The report as it stands now: line, parties, basis, marker table, sections, repair tasks, SVG map."""
    return HTMLResponse(reports.render_report_html(reports.report_data(session, inspection_id)))


@router.get("/inspections/{inspection_id}/report.pdf", response_class=Response, summary="The 联检报告 as PDF",
            responses={200: {"content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
                             "description": "the issued PDF once issued, else the report as it stands"}})
def report_pdf(inspection_id: InspectionId, session: SessionDep, user: Reader) -> Response:
    """The issued report's stored PDF if there is one, else a PDF generated now."""
    inspection = insp.get_inspection(session, inspection_id)
    content = reports.issued_pdf(session, inspection) or reports.render_report_pdf(
        reports.report_data(session, inspection_id))
    return Response(content, media_type="application/pdf", headers={
        "ETag": f'"{hashlib.sha256(content).hexdigest()}"',
        "Content-Disposition": f'inline; filename="inspection-{inspection_id}.pdf"'})


@router.post("/inspections/{inspection_id}/report", response_model=IssuedOut, status_code=status.HTTP_201_CREATED,
             summary="Issue the 联检报告 (admin, reviewer)")
def issue(inspection_id: InspectionId, session: SessionDep, user: Writer, request: Request,
          response: Response) -> dict:
    """Store the PDF of a completed inspection (once), link it and file it as the line's 联检报告."""
    issued = reports.issue_report(session, inspection_id, actor=user.username)
    url = str(request.url_for("report_pdf", inspection_id=inspection_id))
    response.headers["Location"] = url
    return issued.as_dict() | {"url": url}


@router.get("/boundaries/lines/{line_id}/register.csv", response_class=Response, summary="界桩登记表 as CSV",
            responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}})
def register_csv(line_id: LineIdPath, session: SessionDep, user: Reader) -> Response:
    """The line's current markers, UTF-8 with BOM: number, type, side, managing party, CGCS2000 lon/lat …"""
    content = reports.register_csv(reports.register_rows(session, line_id))
    return Response(content, media_type="text/csv; charset=utf-8", headers=_attachment(f"{line_id}-界桩登记表.csv"))


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@router.get("/boundaries/lines/{line_id}/register.xlsx", response_class=Response, summary="界桩登记表 as XLSX",
            responses={200: {"content": {XLSX: {"schema": {"type": "string", "format": "binary"}}}}})
def register_xlsx(line_id: LineIdPath, session: SessionDep, user: Reader) -> Response:
    """The same rows as the CSV in a workbook: header frozen, widths set, lon/lat to 8 decimals."""
    content = reports.register_xlsx(reports.register_rows(session, line_id))
    return Response(content, media_type=XLSX, headers=_attachment(f"{line_id}-界桩登记表.xlsx"))


# ---------------------------------------------------------------- repair tasks


@router.get("/repair-tasks", response_model=Page[RepairTaskOut], summary="Repair tasks, filtered")
def repair_tasks(
    request: Request, session: SessionDep, user: Reader,
    state: Annotated[Literal["open", "done", "cancelled"] | None, Query()] = None,
    party: Annotated[str | None, Query(pattern=r"^[0-9]{6}([0-9]{3}){0,2}$",
                                       description="the party assigned to repair")] = None,
    line_id: Annotated[str | None, Query(pattern=LINE_PATTERN)] = None,
    limit: Annotated[int, Query(ge=1, le=insp.MAX_PAGE)] = DEFAULT_LIMIT,
    after: AfterId = None,
) -> dict:
    """Repair tasks by id."""
    found = insp.list_repair_tasks(session, state, party, line_id=line_id, limit=limit, after=after)
    return page(request, found.items, found.next_after)


@router.post("/repair-tasks/{task_id}/close", response_model=RepairTaskOut, summary="Close a repair task "
             "(admin, reviewer)")
def close_task(task_id: TaskId, body: CloseIn, session: SessionDep, settings: SettingsDep, user: Writer) -> dict:
    """Only with the neighbour present (422 otherwise); the marker is 完好 again. 409 if not open."""
    return insp.close_repair_task(session, settings, task_id, neighbour_present=body.neighbour_present,
                                  note=body.note, actor=user.username, lon=body.lon, lat=body.lat).as_dict()
