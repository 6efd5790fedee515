"""/v1/attachments and /v1/surveys: field uploads of marker checks, their photos, review and conflicts."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from api.deps import SessionDep, SettingsDep, require_role
from api.errors import problem
from api.paging import BIGINT, Page, page
from boundaries import attachments, survey_review, surveys
from boundaries.surveys import BatchIn
from data.accounts import Account
from data.errors import InvalidInput

router = APIRouter(prefix="/v1", tags=["surveys"])
DEFAULT_LIMIT, MAX_LIMIT = 50, 500

Uploader = Annotated[Account, Depends(require_role(*surveys.UPLOAD_ROLES))]
Reviewer = Annotated[Account, Depends(require_role("reviewer", "admin"))]
Sha256 = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the file, 64 lower-case hex")]
BatchUuid = Annotated[UUID, Path(description="the batch's client UUID")]
RecordUuid = Annotated[UUID, Path(description="the record's client UUID")]
DEFAULT_MAX_MIB = 64

ATTACHMENT_PUT = f"""Store a file under its SHA-256 (surveyor, reviewer, admin). The body is the raw bytes;
its `Content-Type` is kept as the media type. The same file again → 200 and nothing rewritten.

**Size limit:** `GAZETTEER_SURVEY_MAX_ATTACHMENT_BYTES` (default {DEFAULT_MAX_MIB} MiB; the running value is
in `GET /v1/surveys/limits`). A larger body, or a `Content-Range` total above it, is refused with **413**
while reading: nothing is stored.

**Resumable upload:** files above {attachments.RESUMABLE_THRESHOLD // 2**20} MiB should be sent in parts with
`Content-Range: bytes START-END/TOTAL` (whole-file PUTs of any size up to the limit are accepted too).
Each part answers **202** with `{{"received", "total", "complete": false}}` and the header
`Upload-Offset` (the next byte expected). A part that does not start at that offset → **416** with
`Upload-Offset` and `received`: resume from there (so a lost answer costs one part). The last part
answers 201: the parts are joined, the SHA-256 checked (mismatch → 422 and the upload discarded) and
the file stored in one transaction. An unfinished upload expires {attachments.UPLOAD_EXPIRY_HOURS} h after
its last part. `HEAD` tells what has arrived."""


class UploadOut(BaseModel):
    """Where an attachment upload stands."""

    sha256: str
    received: int = Field(description="bytes received (the file size once complete)")
    total: int
    media_type: str
    complete: bool


class LimitsOut(BaseModel):
    """What the server accepts, so a device can plan its uploads."""

    max_attachment_bytes: int
    resumable_threshold_bytes: int
    upload_expiry_hours: int
    max_records_per_batch: int


class ReasonOut(BaseModel):
    """Why a record was flagged, rejected or counted as a duplicate."""

    code: str = Field(examples=["low_accuracy"])
    field: str = Field(examples=["accuracy_m"])
    message: str


class ConflictOut(BaseModel):
    """A stale base version recorded for a reviewer."""

    id: int | None = Field(description="null in a dry run")
    kind: Literal["soft", "hard"]
    fields: list[str]
    base_version: int
    current_version: int


class ReceiptRecordOut(BaseModel):
    """One record's outcome."""

    uuid: str
    kind: str
    content_sha256: str
    outcome: Literal["accepted", "flagged", "rejected"]
    reasons: list[ReasonOut]
    marker: str | None
    line_id: str | None
    conflict: ConflictOut | None
    duplicate_of: str | None = Field(description="the batch that stored this record first")
    displacement_m: float | None


class ReceiptOut(BaseModel):
    """What was decided when the batch arrived; a retry gets exactly these bytes again."""

    batch: str
    content_sha256: str = Field(description="SHA-256 of the batch body's canonical JSON")
    received_at: str
    captured_at: str
    device: str
    surveyor: str
    uploaded_by: str
    inspection_id: int | None
    dry_run: bool
    counts: dict[str, int] = Field(examples=[{"total": 2, "accepted": 1, "flagged": 1, "rejected": 0,
                                              "duplicates": 0}])
    records: list[ReceiptRecordOut]


class RecordStateOut(BaseModel):
    """A stored record's review state now."""

    uuid: str
    kind: str
    outcome: str
    review_state: str
    reviewed_by: str | None
    reviewed_at: str | None
    review_note: str | None
    conflict: dict[str, Any] | None


class MissingOut(BaseModel):
    """A file a record names that has not been uploaded yet."""

    record: str
    sha256: str
    filename: str
    size: int
    media_type: str


class BatchStatusOut(BaseModel):
    """The receipt plus what changes after it: review states and files still to upload."""

    receipt: ReceiptOut
    records: list[RecordStateOut]
    attachments_missing: list[MissingOut]


class BatchSummaryOut(BaseModel):
    """A batch in a list."""

    uuid: str
    uploaded_by: str
    device: str
    captured_at: str
    received_at: str
    inspection_id: int | None
    counts: dict[str, int]


class ReviewIn(BaseModel):
    """A reviewer's decision."""

    model_config = ConfigDict(extra="forbid")
    decision: Literal["approve", "reject"]
    note: str | None = Field(None, max_length=2000)


class ResolveIn(BaseModel):
    """How a conflict ends: apply the record on top of the current version, or discard it."""

    model_config = ConfigDict(extra="forbid")
    resolution: Literal["apply", "discard"]
    note: str | None = Field(None, max_length=2000)


class ReviewedOut(BaseModel):
    """What a review did; `skipped` says why a batch review left a record open."""

    uuid: str
    review_state: str
    marker: str | None
    marker_status: str | None
    marker_version: int | None
    repair_task_id: int | None
    skipped: dict[str, Any] | None


class BatchReviewOut(BaseModel):
    """Every open record of the batch, reviewed or left open with the reason."""

    batch: str
    results: list[ReviewedOut]


class StoredRecordOut(BaseModel):
    """A stored record for the reviewers' queue."""

    uuid: str
    batch: str
    kind: str
    line_id: str
    marker: str | None
    base_version: int | None
    status: str | None
    reference_objects_complete: bool | None
    geometry: dict[str, Any] = Field(description="GeoJSON in CGCS2000 lon/lat (after datum conversion)")
    datum: str | None = Field(description="the datum the position was sent in")
    accuracy_m: float | None
    observed_at: str
    outcome: str
    reasons: list[ReasonOut]
    review_state: str
    reviewed_by: str | None
    reviewed_at: str | None
    review_note: str | None
    inspection_id: int | None
    uploaded_by: str


class ConflictRowOut(BaseModel):
    """A conflict in the list."""

    id: int
    record: str
    marker: str
    base_version: int
    current_version: int
    kind: str
    fields: list[str]
    state: str
    resolution: str | None
    resolved_by: str | None
    resolved_at: str | None


# ---- attachments ----------------------------------------------------------------------------------------

async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it passes LIMIT; 422 when it is shorter than announced."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise attachments.too_large(limit)
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise attachments.too_large(limit)
            chunks.append(chunk)
    except ClientDisconnect:
        raise InvalidInput("the connection closed before the body was complete; nothing was stored") from None
    if declared is not None and declared.isdigit() and size != int(declared):
        raise InvalidInput(f"the body ended after {size} of the {declared} bytes Content-Length announced; "
                           "nothing was stored", errors=[{"field": "body", "message": "truncated"}])
    return b"".join(chunks)


def _upload_answer(upload: attachments.Upload) -> JSONResponse:
    if upload.discarded:
        return problem(422, "Invalid input", "hash mismatch: the joined parts do not have the SHA-256 in the URL; "
                       "the upload was discarded, start again from byte 0", "invalid-input",
                       [{"field": "sha256", "message": "hash mismatch"}])
    code = (status.HTTP_201_CREATED if upload.created
            else status.HTTP_200_OK if upload.complete else status.HTTP_202_ACCEPTED)
    return JSONResponse(upload.as_dict(), status_code=code, headers={"Upload-Offset": str(upload.received)})


@router.put("/attachments/{sha256}", response_model=UploadOut, status_code=201, summary="Upload a photo or file",
            description=ATTACHMENT_PUT,
            responses={200: {"description": "stored already"}, 202: {"description": "part received"},
                       413: {"description": "over the size limit"}, 416: {"description": "resume elsewhere"}},
            openapi_extra={"requestBody": {"required": True, "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}})
async def put_attachment(sha256: Sha256, request: Request, session: SessionDep, settings: SettingsDep,
                         user: Uploader, content_range: Annotated[str | None, Header()] = None) -> Response:
    """Whole file or one part of it, keyed by its SHA-256."""
    limit = settings.survey_max_attachment_bytes
    body = await _read_body(request, limit)
    media_type = (request.headers.get("content-type") or "").strip()[:255] or None
    try:
        if content_range is None:
            upload = await run_in_threadpool(attachments.store_whole, session, sha256, body, media_type,
                                             actor=user.username, limit=limit)
        else:
            upload = await run_in_threadpool(attachments.store_part, session, sha256, content_range, body,
                                             media_type, actor=user.username, limit=limit)
    except attachments.WrongOffset as exc:
        return problem(exc.status, exc.title, exc.detail, exc.code, extra=exc.extra,
                       headers={"Upload-Offset": str(exc.received)})
    return _upload_answer(upload)


@router.head("/attachments/{sha256}", summary="Is the file stored, or how much of it has arrived?",
             responses={200: {"description": "stored; Content-Length is its size"},
                        404: {"description": "not stored; Upload-Offset tells the bytes of an unfinished upload"}})
def head_attachment(sha256: Sha256, session: SessionDep) -> Response:
    """200 with Content-Length when stored; 404 (with Upload-Offset during a resumable upload) otherwise."""
    state = attachments.attachment_state(session, sha256)
    if state.stored:
        return Response(status_code=200, media_type=state.media_type,
                        headers={"Content-Length": str(state.size), "ETag": f'"{sha256}"'})
    headers = {"Upload-Offset": str(state.received)} if state.received is not None else {}
    return Response(status_code=404, headers=headers)


@router.get("/attachments/{sha256}", summary="The stored file (public: photos are shown on the line map)",
            response_class=Response, responses={200: {"content": {"application/octet-stream": {}}}})
def get_attachment(sha256: Sha256, session: SessionDep) -> Response:
    """The bytes with the stored media type; the hash is the ETag and never changes."""
    content, media_type = attachments.read_attachment(session, sha256)
    return Response(content, media_type=media_type,
                    headers={"ETag": f'"{sha256}"', "Cache-Control": "public, max-age=31536000, immutable"})


@router.get("/surveys/limits", response_model=LimitsOut, summary="Upload limits, announced up front")
def get_limits(settings: SettingsDep) -> dict:
    """Largest attachment, where chunking should start, upload expiry and records per batch."""
    return {"max_attachment_bytes": settings.survey_max_attachment_bytes,
            "resumable_threshold_bytes": attachments.RESUMABLE_THRESHOLD,
            "upload_expiry_hours": attachments.UPLOAD_EXPIRY_HOURS,
            "max_records_per_batch": settings.survey_max_records}


# ---- batches --------------------------------------------------------------------------------------------

@router.put("/surveys/batches/{batch_uuid}", response_model=ReceiptOut, status_code=201,
            summary="Upload a batch of field records (surveyor, reviewer, admin)",
            responses={200: {"model": ReceiptOut, "description": "stored already (the original receipt) or dry run"},
                       409: {"description": "this UUID was stored with other content"}})
def put_batch(batch_uuid: BatchUuid, body: BatchIn, request: Request, session: SessionDep, settings: SettingsDep,
              user: Uploader,
              dry_run: Annotated[bool, Query(description="validate and answer, store nothing")] = False) -> Response:
    """Idempotent by UUID and content hash: the same batch again → 200 with the byte-identical receipt."""
    result = surveys.store_batch(session, settings, batch_uuid, body, actor=user.username, role=user.role,
                                 dry_run=dry_run)
    headers = {"Location": str(request.url_for("get_batch", batch_uuid=batch_uuid))}
    return Response(surveys.receipt_bytes(result.receipt), status_code=201 if result.created else 200,
                    media_type="application/json", headers=headers)


@router.get("/surveys/batches/{batch_uuid}", response_model=BatchStatusOut, summary="A batch's receipt and status")
def get_batch(batch_uuid: BatchUuid, session: SessionDep, user: Uploader) -> dict:
    """The receipt, each stored record's review state and the attachments still missing."""
    return surveys.batch_status(session, batch_uuid, actor=user.username, role=user.role).as_dict()


@router.get("/surveys/batches", response_model=Page[BatchSummaryOut], summary="Batches by time received")
def list_batches(
    request: Request, session: SessionDep, user: Uploader,
    surveyor: Annotated[str | None, Query(max_length=64, description="uploading account")] = None,
    since: Annotated[dt.datetime | None, Query(description="received at or after")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    after: Annotated[str | None, Query(max_length=80, description="keyset cursor from `next`")] = None,
) -> dict:
    """Oldest first; a surveyor sees their own batches."""
    found = surveys.list_batches(session, actor=user.username, role=user.role, surveyor=surveyor, since=since,
                                 limit=limit, after=after)
    return page(request, found.items, found.next_after)


# ---- review ---------------------------------------------------------------------------------------------

def _committed_conflict(exc: survey_review.ConflictRecorded) -> JSONResponse:
    """409 for a conflict written during the request (returned, not raised, so it is committed)."""
    return problem(exc.status, exc.title, exc.detail, exc.code, exc.errors, extra=exc.extra)


@router.post("/surveys/records/{record_uuid}/review", response_model=ReviewedOut,
             summary="Approve or reject one record (reviewer, admin)")
def review_record(record_uuid: RecordUuid, body: ReviewIn, session: SessionDep, settings: SettingsDep,
                  user: Reviewer) -> Any:
    """Approving a check applies it to the marker (history, 移位, repair task); 409 when blocked."""
    try:
        return survey_review.review_record(session, settings, record_uuid, body.decision, body.note,
                                           actor=user.username).as_dict()
    except survey_review.ConflictRecorded as exc:
        return _committed_conflict(exc)


@router.post("/surveys/batches/{batch_uuid}/review", response_model=BatchReviewOut,
             summary="Approve or reject every open record of a batch (reviewer, admin)")
def review_batch(batch_uuid: BatchUuid, body: ReviewIn, session: SessionDep, settings: SettingsDep,
                 user: Reviewer) -> dict:
    """Records blocked by a hard conflict or missing files stay open, with the reason in `skipped`."""
    results = survey_review.review_batch(session, settings, batch_uuid, body.decision, body.note,
                                         actor=user.username)
    return {"batch": str(batch_uuid), "results": [r.as_dict() for r in results]}


@router.get("/surveys/records", response_model=Page[StoredRecordOut], summary="Stored records (review queue)")
def list_records(
    request: Request, session: SessionDep, user: Reviewer,
    review_state: Annotated[str | None, Query(max_length=10, description=", ".join(survey_review.REVIEW_STATES))]
    = None,
    line_id: Annotated[str | None, Query(max_length=32, examples=["330102-330105"])] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    after: Annotated[str | None, Query(max_length=80, description="keyset cursor from `next`")] = None,
) -> dict:
    """By observation time; e.g. `review_state=flagged` is what needs a reviewer's eye."""
    found = survey_review.list_records(session, review_state=review_state, line_id=line_id, limit=limit,
                                       after=after)
    return page(request, found.items, found.next_after)


@router.get("/surveys/records/{record_uuid}", response_model=StoredRecordOut, summary="One stored record")
def get_record(record_uuid: RecordUuid, session: SessionDep, user: Reviewer) -> dict:
    """The record with its converted geometry, reasons and review state."""
    return survey_review.get_record(session, record_uuid).as_dict()


@router.get("/surveys/conflicts", response_model=Page[ConflictRowOut], summary="Conflicts (stale base versions)")
def list_conflicts(
    request: Request, session: SessionDep, user: Reviewer,
    state: Annotated[Literal["open", "resolved"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    after: Annotated[int | None, Query(ge=1, le=BIGINT, description="keyset cursor from `next`")] = None,
) -> dict:
    """By id; `state=open` is the reviewers' to-do list."""
    found = survey_review.list_conflicts(session, state=state, limit=limit, after=after)
    return page(request, found.items, found.next_after)


@router.post("/surveys/conflicts/{conflict_id}/resolve", response_model=ReviewedOut,
             summary="Resolve a conflict: apply the record or discard it (reviewer, admin)")
def resolve_conflict(conflict_id: Annotated[int, Path(ge=1, le=BIGINT)], body: ResolveIn, session: SessionDep,
                     settings: SettingsDep, user: Reviewer) -> Any:
    """apply = approve on top of the marker's current version; discard = reject the record."""
    try:
        return survey_review.resolve_conflict(session, settings, conflict_id, body.resolution, body.note,
                                              actor=user.username).as_dict()
    except survey_review.ConflictRecorded as exc:
        return _committed_conflict(exc)

