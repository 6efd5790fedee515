"""/v1/applications (命名/更名/注销 workflow) and /v1/announcements (JSON, Atom, printable HTML)."""

from __future__ import annotations

import hashlib
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Body, Depends, File, Form, Header, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from api.deps import SessionDep, SettingsDep, UserDep, require_role
from api.paging import AfterId, RowId, page
from api.placename_schemas import (
    AnnouncementOut,
    AnnouncementPage,
    ApplicationIn,
    ApplicationOut,
    ApplicationPage,
)
from api.uploads import read_limited
from data.accounts import Account
from placenames import announcements, workflow

router = APIRouter(tags=["applications"])
Applicant = Annotated[Account, Depends(require_role("applicant"))]
Staff = Annotated[Account, Depends(require_role("applicant", "reviewer", "approver", "admin"))]


@router.post("/v1/applications", response_model=ApplicationOut, status_code=201,
             summary="Open a draft application (applicants)")
def create(body: ApplicationIn, session: SessionDep, user: Applicant,
           idempotency_key: Annotated[str | None, Header(max_length=100)] = None) -> dict:
    """Idempotent with an Idempotency-Key header: the same body returns the same application."""
    item = workflow.ApplicationInput(**body.model_dump(), idempotency_key=idempotency_key)
    app_id = workflow.create_application(session, item, actor=user)
    return workflow.get_application(session, app_id).as_dict()


@router.get("/v1/applications", response_model=ApplicationPage, summary="List applications")
def list_all(
    request: Request, session: SessionDep, user: Staff,
    state: Annotated[str | None, Query(max_length=20)] = None,
    overdue: Annotated[bool | None, Query(description="true: past a 备案 or 公告 deadline")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    after: AfterId = None,
) -> dict:
    """Newest first; applicants see their own applications only."""
    mine = user.username if user.role == "applicant" else None
    items, cursor = workflow.list_applications(session, state=state, overdue=overdue, applicant=mine,
                                               limit=limit, after=after)
    return page(request, items, cursor)


@router.get("/v1/applications/{app_id}", response_model=ApplicationOut, summary="One application")
def get_one(app_id: RowId, session: SessionDep, user: Staff) -> dict:
    """With attachments, events, deadlines and the actions open now."""
    view = workflow.get_application(session, app_id)
    workflow.check_can_read(view, user)
    return view.as_dict()


@router.get("/v1/applications/{app_id}/findings", summary="Naming-rule findings for the proposed name")
def findings(app_id: RowId, session: SessionDep, user: Staff) -> list[dict]:
    """The same checks as POST /v1/placenames/check, on the application's name."""
    workflow.check_can_read(workflow.get_application(session, app_id, detail=False), user)
    return [f.as_dict() for f in workflow.name_findings(session, app_id)]


@router.post("/v1/applications/{app_id}/attachments", status_code=201, summary="Attach a report")
async def attach(
    app_id: RowId, session: SessionDep, settings: SettingsDep, user: Staff,
    kind: Annotated[str, Form(description=", ".join(workflow.ATTACHMENT_KINDS))],
    sha256: Annotated[str, Form(pattern=r"^[0-9a-fA-F]{64}$", description="hex SHA-256 of the file")],
    file: Annotated[UploadFile, File()],
) -> dict:
    """Multipart upload; refused (nothing stored) when over the size limit or the hash differs."""
    content = await read_limited(file, settings.max_attachment_bytes)
    return workflow.add_attachment(session, app_id, kind=kind, filename=file.filename or "",
                                   media_type=file.content_type or "", content=content, sha256=sha256,
                                   actor=user, max_bytes=settings.max_attachment_bytes)


@router.get("/v1/applications/{app_id}/attachments/{attachment_id}", summary="Download an attachment")
def download(app_id: RowId, attachment_id: RowId, session: SessionDep, user: Staff) -> Response:
    """The stored bytes with their SHA-256 as an ETag."""
    workflow.check_can_read(workflow.get_application(session, app_id, detail=False), user)
    filename, media_type, content = workflow.attachment_content(session, app_id, attachment_id)
    return Response(content, media_type=media_type, headers={
        "ETag": f'"{hashlib.sha256(content).hexdigest()}"',
        "Content-Disposition": f"attachment; filename*=UTF-8''{_quote(filename)}"})


def _quote(value: str) -> str:
    return quote(value, safe="")


@router.post("/v1/applications/{app_id}/{action}", response_model=ApplicationOut,
             summary="Take a workflow action")
def act(app_id: RowId, action: str, session: SessionDep, user: UserDep,
        body: Annotated[dict[str, Any] | None, Body()] = None) -> dict:
    """submit, withdraw (applicant); accept, review (reviewer); approve, reject, file (approver);
    announce (admin). Wrong role → 403, wrong state → 409; both name the allowed actions."""
    return workflow.transition(session, app_id, action, body, actor=user).as_dict()


@router.get("/v1/announcements", summary="Published announcements (JSON or Atom)",
            response_model=AnnouncementPage,
            responses={200: {"content": {"application/atom+xml": {}}}})
def list_announcements(
    request: Request, session: SessionDep,
    f: Annotated[str, Query(pattern="^(json|atom)$", description="json or atom")] = "json",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    after: AfterId = None,
) -> Any:
    """Newest first. `?f=atom` (or Accept: application/atom+xml) gives an Atom feed."""
    items, cursor = announcements.list_announcements(session, limit=limit, after=after)
    if f == "atom" or "application/atom+xml" in request.headers.get("accept", ""):
        base = str(request.base_url).rstrip("/")
        return Response(announcements.atom_feed(items, base), media_type="application/atom+xml")
    return page(request, items, cursor)


@router.get("/v1/announcements/{ann_id}", summary="One announcement (JSON or printable HTML)",
            response_model=AnnouncementOut, responses={200: {"content": {"text/html": {}}}})
def get_announcement(
    ann_id: RowId, request: Request, session: SessionDep,
    f: Annotated[str, Query(pattern="^(json|html)$")] = "json",
) -> Any:
    """`?f=html` (or Accept: text/html) gives the printable page with the six fields."""
    item = announcements.get_announcement(session, ann_id)
    if f == "html" or request.headers.get("accept", "").startswith("text/html"):
        return HTMLResponse(announcements.html_page(item))
    return item.as_dict()
