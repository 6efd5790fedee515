"""Reviewing stored survey records: approve (apply to the register) or reject; resolve conflicts.

received → accepted/flagged (at upload) → approved/rejected (by a reviewer or admin). Approving a
marker check goes through `boundaries.findings.apply_finding`, like a joint-inspection result; a
proposal registers a new single marker. Nothing is approved while a hard conflict is open or a
named photo has not arrived. A marker changed *after* the upload (say, by another approved record)
turns into a conflict at approval time, so no approval overwrites a change it did not see.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.orm import Session

from boundaries import inspections
from boundaries.findings import apply_finding
from boundaries.markers import NewMarker, get_marker, register_marker
from boundaries.surveys import (
    Listing,
    decode_cursor,
    detect_conflict,
    encode_cursor,
    fields_set,
    iso_utc,
    missing_attachments,
    record_conflict,
)
from data import audit
from data.errors import Conflict, InvalidInput, NotFound
from data.settings import Settings

OPEN_STATES = ("accepted", "flagged")
REVIEW_STATES = ("received", "accepted", "flagged", "approved", "rejected")
_LINE_LOCK_CLASS = 0x4D4B  # advisory-lock namespace for numbering proposals on a line ("MK")


class ConflictRecorded(Conflict):
    """A conflict was written (or reopened) while approving: the caller commits, then answers 409."""


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """A survey record as review needs it."""

    uuid: str
    batch_uuid: str
    kind: str
    line_id: str
    marker_id: int | None
    marker: str | None
    base_version: int | None
    status: str | None
    reference_objects_complete: bool | None
    lon: float | None
    lat: float | None
    datum: str | None
    accuracy_m: float | None
    observed_at: dt.datetime
    outcome: str
    reasons: list[dict[str, str]]
    review_state: str
    reviewed_by: str | None
    reviewed_at: dt.datetime | None
    review_note: str | None
    inspection_id: int | None
    uploaded_by: str
    geometry: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {"uuid": self.uuid, "batch": self.batch_uuid, "kind": self.kind, "line_id": self.line_id,
                "marker": self.marker, "base_version": self.base_version, "status": self.status,
                "reference_objects_complete": self.reference_objects_complete, "geometry": self.geometry,
                "datum": self.datum, "accuracy_m": self.accuracy_m,
                "observed_at": iso_utc(self.observed_at),
                "outcome": self.outcome, "reasons": self.reasons, "review_state": self.review_state,
                "reviewed_by": self.reviewed_by,
                "reviewed_at": iso_utc(self.reviewed_at) if self.reviewed_at else None,
                "review_note": self.review_note, "inspection_id": self.inspection_id,
                "uploaded_by": self.uploaded_by}


_SELECT = """
SELECT r.uuid::text AS uuid, r.batch_uuid::text AS batch_uuid, r.kind, r.line_id, r.marker_id, m.number AS marker,
       r.base_version, r.status, (r.body ->> 'reference_objects_complete')::boolean AS reference_objects_complete,
       CASE WHEN GeometryType(r.geom) = 'POINT' THEN ST_X(r.geom) END AS lon,
       CASE WHEN GeometryType(r.geom) = 'POINT' THEN ST_Y(r.geom) END AS lat,
       r.datum, r.accuracy_m, r.observed_at, r.outcome, r.reasons, r.review_state, r.reviewed_by, r.reviewed_at,
       r.review_note, b.inspection_id, b.surveyor AS uploaded_by, ST_AsGeoJSON(r.geom, 9)::jsonb AS geometry
FROM survey_records r JOIN survey_batches b ON b.uuid = r.batch_uuid LEFT JOIN markers m ON m.id = r.marker_id
"""


def get_record(session: Session, record_uuid: UUID | str, *, lock: bool = False) -> StoredRecord:
    """One stored record; 404 if there is none."""
    sql = _SELECT + "WHERE r.uuid = CAST(:u AS uuid)" + (" FOR UPDATE OF r" if lock else "")
    row = session.execute(text(sql), {"u": str(record_uuid)}).mappings().first()
    if row is None:
        raise NotFound(f"survey record {record_uuid} is not stored (rejected records never are)")
    return StoredRecord(**row)


@dataclass(frozen=True, slots=True)
class Reviewed:
    """What a review did."""

    uuid: str
    review_state: str
    marker: str | None = None
    marker_status: str | None = None
    marker_version: int | None = None
    repair_task_id: int | None = None
    skipped: dict[str, Any] | None = None     # batch review: why this record was left open

    def as_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {"uuid": self.uuid, "review_state": self.review_state, "marker": self.marker,
                "marker_status": self.marker_status, "marker_version": self.marker_version,
                "repair_task_id": self.repair_task_id, "skipped": self.skipped}


def _open_conflict(session: Session, record_uuid: str):
    return session.execute(text(
        "SELECT id, kind, fields, current_version, state FROM survey_conflicts WHERE record_uuid = CAST(:u AS uuid) "
        "FOR UPDATE"), {"u": record_uuid}).first()


def _gate_conflict(session: Session, rec: StoredRecord, *, override_hard: bool) -> None:
    """Refuse to approve over an open hard conflict, or over a change made since the conflict was seen."""
    if rec.kind != "marker_check":
        return
    row = _open_conflict(session, rec.uuid)
    marker = get_marker(session, marker_id=rec.marker_id, lock=True)
    seen_version = row.current_version if row is not None else rec.base_version
    if marker.version != seen_version:
        check = detect_conflict(session, marker, rec.base_version,
                                fields_set(rec.status, rec.reference_objects_complete))
        conflict_id = record_conflict(session, rec.uuid, marker.id, check)
        if check.kind == "hard":
            raise _hard(conflict_id, rec, check.fields, check.current_version, recorded=True)
        return
    if row is not None and row.state == "open" and row.kind == "hard" and not override_hard:
        raise _hard(row.id, rec, tuple(row.fields), row.current_version, recorded=False)


def _hard(conflict_id: int, rec: StoredRecord, fields: tuple[str, ...], current: int, *, recorded: bool) -> Conflict:
    error = ConflictRecorded if recorded else Conflict
    return error(f"record {rec.uuid} has an open hard conflict {conflict_id}: marker {rec.marker} is at version "
                 f"{current} and {', '.join(fields)} changed since version {rec.base_version}; resolve it with "
                 f"POST /v1/surveys/conflicts/{conflict_id}/resolve",
                 extra={"conflict_id": conflict_id, "conflict_kind": "hard", "fields": list(fields)})


def _gate_attachments(session: Session, rec: StoredRecord) -> None:
    missing = missing_attachments(session, record_uuid=rec.uuid)
    if missing:
        names = ", ".join(m["filename"] for m in missing)
        raise Conflict(f"record {rec.uuid} names files not uploaded yet ({names}); PUT them to "
                       "/v1/attachments/{sha256} before approving", extra={"attachments_missing": missing})


def _resolve_conflict_row(session: Session, record_uuid: str, resolution: str, actor: str) -> None:
    session.execute(text(
        "UPDATE survey_conflicts SET state = 'resolved', resolution = :r, resolved_by = :a, resolved_at = now() "
        "WHERE record_uuid = CAST(:u AS uuid) AND state = 'open'"), {"r": resolution, "a": actor, "u": record_uuid})


def _photos(session: Session, marker_id: int, rec: StoredRecord) -> None:
    """The record's attachments become the marker's photos."""
    session.execute(text(
        "INSERT INTO marker_photos (marker_id, sha256, filename, source_ref) "
        "SELECT :m, sha256, filename, :ref FROM survey_record_attachments WHERE record_uuid = CAST(:u AS uuid) "
        "ON CONFLICT (marker_id, sha256) DO NOTHING"), {"m": marker_id, "ref": f"survey:{rec.uuid}", "u": rec.uuid})


def _apply_check(session: Session, settings: Settings, rec: StoredRecord, actor: str) -> Reviewed:
    measured = (rec.lon, rec.lat) if rec.status != "丢失" else None
    _photos(session, rec.marker_id, rec)
    if rec.inspection_id is not None:
        return _into_inspection(session, settings, rec, measured, actor)
    finding = apply_finding(session, settings, rec.marker, rec.status, measured=measured,
                            reference_objects_complete=rec.reference_objects_complete, source="survey",
                            source_ref=f"survey:{rec.uuid}", actor=actor, survey_record=rec.uuid)
    return Reviewed(rec.uuid, "approved", finding.marker.number, finding.status, finding.marker.version,
                    finding.repair_task_id)


def _photo_hashes(session: Session, rec: StoredRecord) -> tuple[str, ...]:
    return tuple(session.execute(text(
        "SELECT sha256 FROM survey_record_attachments WHERE record_uuid = CAST(:u AS uuid) ORDER BY filename"),
        {"u": rec.uuid}).scalars())


def _into_inspection(session: Session, settings: Settings, rec: StoredRecord,
                     measured: tuple[float, float] | None, actor: str) -> Reviewed:
    """A check uploaded for a joint inspection becomes that inspection's result for the marker."""
    lon, lat = measured if measured is not None else (None, None)
    outcome = inspections.record_marker_result(session, settings, rec.inspection_id, inspections.MarkerResult(
        rec.marker, rec.status, reference_objects_complete=bool(rec.reference_objects_complete), lon=lon, lat=lat,
        datum=rec.datum or "CGCS2000", accuracy_m=rec.accuracy_m, photos=_photo_hashes(session, rec),
        survey_record=rec.uuid), actor=actor)
    marker = get_marker(session, marker_id=rec.marker_id)
    return Reviewed(rec.uuid, "approved", marker.number, marker.status, marker.version, outcome.repair_task_id)


def _apply_observation(session: Session, rec: StoredRecord, actor: str) -> Reviewed:
    """An observation is kept for the report; uploaded for an inspection, it is that inspection's section record."""
    if rec.inspection_id is not None:
        body = session.execute(text("SELECT body FROM survey_records WHERE uuid = CAST(:u AS uuid)"),
                               {"u": rec.uuid}).scalar_one()
        inspections.record_section(session, rec.inspection_id, inspections.SectionResult(
            geometry=rec.geometry, recognisable=body.get("recognisable") is not False, notes=body.get("notes"),
            changes_near_line=body.get("changes_near_line"),
            cross_boundary_construction=body.get("cross_boundary_construction"),
            photos=_photo_hashes(session, rec), survey_record=rec.uuid), actor=actor)
    return Reviewed(rec.uuid, "approved")


def _managing_party(session: Session, line_id: str, lon: float, lat: float) -> str:
    """The party whose polygon holds (or lies nearest to) the point; the left party without polygons."""
    return session.execute(text("""
        SELECT coalesce((SELECT d.code FROM divisions d
                         WHERE d.code IN (l.left_code, l.right_code) AND d.valid_to IS NULL AND d.geom IS NOT NULL
                         ORDER BY ST_Distance(d.geom, ST_SetSRID(ST_MakePoint(:lon, :lat), 4490)), d.code LIMIT 1),
                        l.left_code)
        FROM boundary_lines l WHERE l.line_id = :id AND l.valid_to IS NULL
    """), {"id": line_id, "lon": lon, "lat": lat}).scalar_one()


def _apply_proposal(session: Session, rec: StoredRecord, actor: str) -> Reviewed:
    """Register the proposed marker: single (单立), next free sequence on the line."""
    session.execute(text("SELECT pg_advisory_xact_lock(:c, hashtext(:l))"), {"c": _LINE_LOCK_CLASS, "l": rec.line_id})
    line = session.execute(text(
        "SELECT line_number, (SELECT coalesce(max(seq), 0) + 1 FROM markers WHERE line_id = :id) AS seq "
        "FROM boundary_lines WHERE line_id = :id AND valid_to IS NULL"), {"id": rec.line_id}).first()
    if line is None:
        raise Conflict(f"line {rec.line_id} is no longer current; the proposal cannot be registered")
    if line.seq > 999:
        raise Conflict(f"line {rec.line_id} has no free marker sequence left (001–999)")
    party = _managing_party(session, rec.line_id, rec.lon, rec.lat)
    marker = register_marker(session, NewMarker(f"{line.line_number}{line.seq:03d}Q", rec.line_id, "单立", rec.lon,
                                                rec.lat, party, source_datum=rec.datum or "CGCS2000",
                                                precision_m=rec.accuracy_m), actor=actor, source="survey",
                             source_ref=f"survey:{rec.uuid}")
    _photos(session, marker.id, rec)
    return Reviewed(rec.uuid, "approved", marker.number, marker.status, marker.version)


def _set_state(session: Session, rec: StoredRecord, state: str, note: str | None, actor: str,
               reviewed: Reviewed) -> None:
    session.execute(text(
        "UPDATE survey_records SET review_state = :s, reviewed_by = :a, reviewed_at = now(), review_note = :n "
        "WHERE uuid = CAST(:u AS uuid)"), {"s": state, "a": actor, "n": note, "u": rec.uuid})
    audit.record(session, actor=actor, action="approve" if state == "approved" else "reject",
                 entity_type="survey_record", entity_id=rec.uuid, before={"review_state": rec.review_state},
                 after={"review_state": state, "note": note, "marker": reviewed.marker,
                        "marker_status": reviewed.marker_status, "marker_version": reviewed.marker_version,
                        "repair_task_id": reviewed.repair_task_id})


def _open_record(session: Session, record_uuid: UUID | str) -> StoredRecord:
    rec = get_record(session, record_uuid, lock=True)
    if rec.review_state not in OPEN_STATES:
        raise Conflict(f"record {rec.uuid} was {rec.review_state} by {rec.reviewed_by} already",
                       extra={"review_state": rec.review_state})
    return rec


def _approve(session: Session, settings: Settings, rec: StoredRecord, note: str | None, actor: str, *,
             override_hard: bool = False) -> Reviewed:
    _gate_conflict(session, rec, override_hard=override_hard)
    _gate_attachments(session, rec)
    if rec.kind == "marker_check":
        reviewed = _apply_check(session, settings, rec, actor)
    elif rec.kind == "marker_proposal":
        reviewed = _apply_proposal(session, rec, actor)
    else:
        reviewed = _apply_observation(session, rec, actor)
    _resolve_conflict_row(session, rec.uuid, "apply", actor)
    _set_state(session, rec, "approved", note, actor, reviewed)
    return reviewed


def _reject(session: Session, rec: StoredRecord, note: str | None, actor: str) -> Reviewed:
    reviewed = Reviewed(rec.uuid, "rejected", rec.marker)
    _resolve_conflict_row(session, rec.uuid, "discard", actor)
    _set_state(session, rec, "rejected", note, actor, reviewed)
    return reviewed


def review_record(session: Session, settings: Settings, record_uuid: UUID | str, decision: str,
                  note: str | None, *, actor: str) -> Reviewed:
    """Approve or reject one open record; 409 if reviewed already, blocked by a conflict or missing files.

    May raise `ConflictRecorded` after writing a conflict: commit before answering.
    """
    if decision not in ("approve", "reject"):
        raise InvalidInput("decision must be approve or reject",
                           errors=[{"field": "decision", "message": f"unknown decision {decision!r}"}])
    rec = _open_record(session, record_uuid)
    if decision == "reject":
        return _reject(session, rec, note, actor)
    return _approve(session, settings, rec, note, actor)


def review_batch(session: Session, settings: Settings, batch_uuid: UUID | str, decision: str, note: str | None,
                 *, actor: str) -> list[Reviewed]:
    """Approve or reject every open record of a batch; a blocked record is left open with the reason."""
    uuids = session.execute(text(
        "SELECT uuid::text FROM survey_records WHERE batch_uuid = CAST(:b AS uuid) AND review_state = ANY(:s) "
        "ORDER BY observed_at, uuid"), {"b": str(batch_uuid), "s": list(OPEN_STATES)}).scalars().all()
    if not uuids:
        if session.execute(text("SELECT 1 FROM survey_batches WHERE uuid = CAST(:b AS uuid)"),
                           {"b": str(batch_uuid)}).first() is None:
            raise NotFound(f"batch {batch_uuid} has not been received")
        raise Conflict(f"batch {batch_uuid} has no open records left to review")
    results = []
    for uuid in uuids:
        savepoint = session.begin_nested()   # a record that cannot be approved leaves nothing half-applied
        try:
            results.append(review_record(session, settings, uuid, decision, note, actor=actor))
            savepoint.commit()
        except Conflict as exc:   # hard conflict or missing files: this one stays open (a new conflict row stays)
            if isinstance(exc, ConflictRecorded):
                savepoint.commit()
            else:
                savepoint.rollback()
            record = get_record(session, uuid)
            results.append(Reviewed(uuid, record.review_state, record.marker,
                                    skipped={"detail": exc.detail, **exc.extra}))
    return results


@dataclass(frozen=True, slots=True)
class ConflictRow:
    """A conflict as listed."""

    id: int
    record_uuid: str
    marker: str
    base_version: int
    current_version: int
    kind: str
    fields: list[str]
    state: str
    resolution: str | None
    resolved_by: str | None
    resolved_at: dt.datetime | None

    def as_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {"id": self.id, "record": self.record_uuid, "marker": self.marker, "base_version": self.base_version,
                "current_version": self.current_version, "kind": self.kind, "fields": self.fields,
                "state": self.state, "resolution": self.resolution, "resolved_by": self.resolved_by,
                "resolved_at": iso_utc(self.resolved_at) if self.resolved_at else None}


def list_conflicts(session: Session, *, state: str | None = None, limit: int = 50,
                   after: int | None = None) -> Listing:
    """Conflicts by id, optionally only open or resolved ones."""
    if state not in (None, "open", "resolved"):
        raise InvalidInput("state must be open or resolved", errors=[{"field": "state", "message": "unknown"}])
    rows = session.execute(text("""
        SELECT c.id, c.record_uuid::text AS record_uuid, m.number AS marker, c.base_version, c.current_version,
               c.kind, c.fields, c.state, c.resolution, c.resolved_by, c.resolved_at
        FROM survey_conflicts c JOIN markers m ON m.id = c.marker_id
        WHERE (CAST(:s AS text) IS NULL OR c.state = CAST(:s AS text)) AND c.id > :after
        ORDER BY c.id LIMIT :n
    """), {"s": state, "after": after or 0, "n": limit + 1}).mappings().all()
    items = [ConflictRow(**{**r, "fields": list(r["fields"])}) for r in rows[:limit]]
    return Listing(items, items[-1].id if len(rows) > limit else None)


def resolve_conflict(session: Session, settings: Settings, conflict_id: int, resolution: str, note: str | None,
                     *, actor: str) -> Reviewed:
    """apply: approve the record on top of the marker's current version; discard: reject it.

    A marker changed again since the conflict was recorded reopens it with the new version
    (`ConflictRecorded`): the reviewer decides on what is there now.
    """
    if resolution not in ("apply", "discard"):
        raise InvalidInput("resolution must be apply or discard",
                           errors=[{"field": "resolution", "message": f"unknown resolution {resolution!r}"}])
    row = session.execute(text(
        "SELECT record_uuid::text AS record, state FROM survey_conflicts WHERE id = :i FOR UPDATE"),
        {"i": conflict_id}).first()
    if row is None:
        raise NotFound(f"conflict {conflict_id} does not exist")
    if row.state != "open":
        raise Conflict(f"conflict {conflict_id} is resolved already")
    rec = _open_record(session, row.record)
    if resolution == "discard":
        reviewed = _reject(session, rec, note, actor)
    else:
        reviewed = _approve(session, settings, rec, note, actor, override_hard=True)
    audit.record(session, actor=actor, action="resolve", entity_type="survey_conflict", entity_id=str(conflict_id),
                 before={"state": "open"}, after={"state": "resolved", "resolution": resolution, "note": note})
    return reviewed


def list_records(session: Session, *, review_state: str | None = None, line_id: str | None = None,
                 limit: int = 50, after: str | None = None) -> Listing:
    """Stored records by observation time, filtered by review state and line."""
    if review_state not in (None, *REVIEW_STATES):
        raise InvalidInput(f"review_state must be one of {', '.join(REVIEW_STATES)}",
                           errors=[{"field": "review_state", "message": "unknown state"}])
    cursor = decode_cursor(after)
    rows = session.execute(text(_SELECT + """
        WHERE (CAST(:s AS text) IS NULL OR r.review_state = CAST(:s AS text))
          AND (CAST(:l AS text) IS NULL OR r.line_id = CAST(:l AS text))
          AND (CAST(:at AS timestamptz) IS NULL
               OR (r.observed_at, r.uuid) > (CAST(:at AS timestamptz), CAST(:key AS uuid)))
        ORDER BY r.observed_at, r.uuid LIMIT :n
    """), {"s": review_state, "l": line_id, "at": cursor[0] if cursor else None,
           "key": cursor[1] if cursor else None, "n": limit + 1}).mappings().all()
    items = [StoredRecord(**r) for r in rows[:limit]]
    more = len(rows) > limit
    return Listing(items, encode_cursor(items[-1].observed_at, items[-1].uuid) if more else None)
