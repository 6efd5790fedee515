"""Field-survey batches: validation, per-record receipts and idempotent storing (ODK/Kobo-style UUIDs).

A batch is PUT under a client UUID and keyed by the SHA-256 of its canonical JSON (sorted keys, no
insignificant whitespace, values as pydantic normalised them, times in UTC). The first PUT stores it
and its receipt; a retry with the same content gets the stored receipt back unchanged, different
content under the same UUID is a 409. Concurrent retries meet at the primary key: the batch row is
claimed with `INSERT … ON CONFLICT DO NOTHING` before any other write, so the second waits for the
first and then reads its receipt. Records carry their own UUIDs and are never stored twice.

Each record is accepted, flagged (stored, for a reviewer's eye) or rejected (not stored), with
reasons `{code, field, message}`. A marker check whose `base_version` is stale becomes a soft or hard
conflict (ODK Central's entity rule): nothing in the register changes until a reviewer approves.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal
from uuid import UUID

import shapely
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    model_validator,
)
from shapely.geometry import LineString, Point
from shapely.geometry.base import BaseGeometry
from sqlalchemy import text
from sqlalchemy.orm import Session

from boundaries import attachments, datums
from boundaries.findings import displacement_m, tolerance_m
from boundaries.markers import Marker, fields_changed_since, get_marker, parse_number
from data import audit
from data.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from data.settings import Settings

UPLOAD_ROLES = ("surveyor", "reviewer", "admin")
ANY_LINE_ROLES = ("reviewer", "admin")       # may upload for lines they are not assigned to
KINDS = ("marker_check", "line_observation", "marker_proposal")
# The county polygons are AMap-derived demo shapes, generalised and quantised to ~100 m, so a point on
# the real line can fall a few hundred metres outside both; 1 km keeps those and still catches a
# position on the wrong line or with swapped coordinates.
PARTY_MARGIN_M = 1000.0
LINE_ID = re.compile(r"^[0-9]{6,12}-[0-9]{6,12}$")
MAX_POSITIONS = 10_000
MAX_NESTING = 4                  # a polygon's rings are 3 deep; anything deeper is not GeoJSON
_LOCK_CLASS = 0x5359  # advisory-lock namespace for record UUIDs ("SY")


def _utc(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC)


def _numbers(value: Any, depth: int = 0) -> Any:
    """Coordinates as nested lists of floats (ints become floats, so 120 and 120.0 hash alike)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, list)) or depth > MAX_NESTING:
        raise ValueError(f"coordinates must be numbers or lists of numbers, nested at most {MAX_NESTING} deep")
    if isinstance(value, list):
        return [_numbers(v, depth + 1) for v in value]
    return float(value)


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_utc)]
Coordinates = Annotated[list[Any], BeforeValidator(_numbers)]


class AttachmentRef(BaseModel):
    """A file the record names; it is PUT separately to /v1/attachments/{sha256}, before or after."""

    model_config = ConfigDict(extra="forbid")
    sha256: str = Field(max_length=128, description="SHA-256 of the file, 64 lower-case hex digits",
                        examples=["9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"])
    filename: str = Field(max_length=255, description="the name on the device", examples=["IMG_0001.jpg"])
    size: int = Field(le=2**62, description="bytes; must equal the stored file's size", examples=[2345678])
    media_type: str = Field(attachments.DEFAULT_MEDIA_TYPE, max_length=255, examples=["image/jpeg"])


class Position(BaseModel):
    """A GeoJSON Point ([lon, lat]) or, for line observations, a LineString."""

    model_config = ConfigDict(extra="forbid")
    type: str = Field(max_length=20, examples=["Point"])
    coordinates: Coordinates = Field(description="lon, lat in the record's datum", examples=[[120.1575, 30.2611]])


class RecordIn(BaseModel):
    """One observation made in the field."""

    model_config = ConfigDict(extra="forbid")
    uuid: UUID = Field(description="made by the device; a retry sends the same one")
    kind: Literal["marker_check", "line_observation", "marker_proposal"] = Field(
        description="marker_check: a registered marker's condition; line_observation: a note on the line "
                    "(point or section); marker_proposal: a marker found that is not in the register")
    marker: str | None = Field(None, max_length=16, description="marker number (checks only)",
                               examples=["T001003Q"])
    line_id: str | None = Field(None, max_length=32, description="the line (observations and proposals; "
                                "optional for checks, where it must be the marker's line)",
                                examples=["330102-330105"])
    base_version: int | None = Field(None, ge=1, le=2**31 - 1, description="the marker version the surveyor "
                                     "saw before going out (checks: required)", examples=[3])
    status: Literal["完好", "损坏", "丢失", "移位"] | None = Field(None, description="checks: required")
    reference_objects_complete: bool | None = Field(None, description="方位物 complete (checks only)")
    position: Position
    accuracy_m: float | None = Field(None, ge=0, le=1e6, allow_inf_nan=False,
                                     description="horizontal accuracy the receiver reported, metres",
                                     examples=[0.8])
    datum: str | None = Field(None, max_length=32, description="CGCS2000, WGS84 or GCJ02 (required)",
                              examples=["CGCS2000"])
    observed_at: UtcDatetime = Field(description="when it was observed, with a UTC offset",
                                     examples=["2026-11-20T09:42:00+08:00"])
    notes: str | None = Field(None, max_length=4000)
    recognisable: bool | None = Field(None, description="observations: is the line clearly recognisable on the "
                                      "ground here (界线是否清晰可辨)")
    changes_near_line: str | None = Field(None, max_length=4000, description="observations: terrain or feature "
                                          "changes near the line")
    cross_boundary_construction: str | None = Field(None, max_length=4000, description="observations: "
                                                    "construction across the line")
    attachments: list[AttachmentRef] = Field(default_factory=list, max_length=50)


EXAMPLE_BATCH = {
    "device": "Pixel-7 / QField 3.4", "surveyor": "张三", "captured_at": "2026-11-20T09:30:00+08:00",
    "inspection_id": None,
    "records": [{"uuid": "0b5e7c1a-4f7e-4c1e-9a43-3d2f6f0e8a11", "kind": "marker_check", "marker": "T001003Q",
                 "base_version": 3, "status": "损坏", "reference_objects_complete": True,
                 "position": {"type": "Point", "coordinates": [120.1575, 30.2611]}, "accuracy_m": 0.8,
                 "datum": "CGCS2000", "observed_at": "2026-11-20T09:42:00+08:00", "notes": "桩体倾斜",
                 "attachments": [{"sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                                  "filename": "IMG_0001.jpg", "size": 2345678, "media_type": "image/jpeg"}]}],
}


class BatchIn(BaseModel):
    """One upload from a device: its records and the names of their photos."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLE_BATCH]})
    device: str = Field(min_length=1, max_length=200, examples=["Pixel-7 / QField 3.4"])
    surveyor: str = Field(min_length=1, max_length=100, description="the surveyor's name as the device has it",
                          examples=["张三"])
    captured_at: UtcDatetime = Field(description="when the batch was put together on the device",
                                     examples=["2026-11-20T09:30:00+08:00"])
    inspection_id: int | None = Field(None, ge=1, le=2**63 - 1,
                                      description="the joint inspection these checks belong to, if any")
    records: list[RecordIn] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_records(self) -> BatchIn:
        seen: set[UUID] = set()
        for rec in self.records:
            if rec.uuid in seen:
                raise ValueError(f"record uuid {rec.uuid} appears twice in the batch")
            seen.add(rec.uuid)
        return self


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no insignificant whitespace, UTF-8 (the form hashes and receipts are made of)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def content_sha256(model: BaseModel) -> str:
    """SHA-256 of the model's canonical JSON after pydantic normalised it."""
    return hashlib.sha256(canonical_json(model.model_dump(mode="json"))).hexdigest()


def receipt_bytes(receipt: dict[str, Any]) -> bytes:
    """The receipt as sent: canonical JSON, so every answer for a batch is byte-identical."""
    return canonical_json(receipt)


def _reason(code: str, field_name: str, message: str) -> dict[str, str]:
    return {"code": code, "field": field_name, "message": message}


@dataclass(frozen=True, slots=True)
class ConflictCheck:
    """A stale base version: soft, or hard when a field the record sets changed since its base."""

    kind: str
    fields: tuple[str, ...]
    base_version: int
    current_version: int


def detect_conflict(session: Session, marker: Marker, base_version: int, sets: set[str]) -> ConflictCheck | None:
    """None when BASE_VERSION is the marker's current version, else the soft or hard conflict."""
    if base_version == marker.version:
        return None
    changed = fields_changed_since(session, marker.id, base_version) & sets
    return ConflictCheck("hard" if changed else "soft", tuple(sorted(changed)), base_version, marker.version)


def fields_set(status: str | None, reference_objects_complete: bool | None) -> set[str]:
    """The marker fields a check would change."""
    return {"status"} | ({"reference_objects_complete"} if reference_objects_complete is not None else set())


@dataclass(slots=True)
class _Line:
    line_id: str
    level: str
    left: str
    right: str


@dataclass(slots=True)
class Checked:
    """One record after validation: its outcome, reasons and what storing it needs."""

    record: RecordIn
    sha256: str
    outcome: str = "accepted"
    reasons: list[dict[str, str]] = field(default_factory=list)
    line_id: str | None = None
    marker: Marker | None = None
    geom: BaseGeometry | None = None          # EPSG:4490
    datum: str | None = None
    displacement_m: float | None = None
    conflict: ConflictCheck | None = None
    conflict_id: int | None = None
    duplicate_of: str | None = None

    def receipt_entry(self) -> dict[str, Any]:
        """This record's line in the receipt."""
        conflict = None
        if self.conflict is not None:
            conflict = {"id": self.conflict_id, "kind": self.conflict.kind, "fields": list(self.conflict.fields),
                        "base_version": self.conflict.base_version,
                        "current_version": self.conflict.current_version}
        return {"uuid": str(self.record.uuid), "kind": self.record.kind, "content_sha256": self.sha256,
                "outcome": self.outcome, "reasons": self.reasons, "marker": self.record.marker,
                "line_id": self.line_id or self.record.line_id, "conflict": conflict,
                "duplicate_of": self.duplicate_of,
                "displacement_m": None if self.displacement_m is None else round(self.displacement_m, 3)}


@dataclass(slots=True)
class _Context:
    session: Session
    settings: Settings
    actor: str
    role: str
    lines: dict[str, _Line | None] = field(default_factory=dict)
    markers: dict[str, Marker | None] = field(default_factory=dict)
    assigned: dict[str, bool] = field(default_factory=dict)
    inspection_line: str | None = None     # the line of the inspection the batch was uploaded for
    zones: dict[str, BaseGeometry] = field(default_factory=dict)


# ---- checks -------------------------------------------------------------------------------------------

def _duplicate(ctx: _Context, checked: Checked) -> bool:
    """Mark a record UUID already stored: same content → accepted duplicate, else rejected."""
    row = ctx.session.execute(text("SELECT batch_uuid, content_sha256 FROM survey_records WHERE uuid = :u"),
                              {"u": checked.record.uuid}).first()
    if row is None:
        return False
    if row.content_sha256 == checked.sha256:
        checked.duplicate_of = str(row.batch_uuid)
        checked.reasons.append(_reason("duplicate_record", "uuid", f"already stored with batch {row.batch_uuid}; "
                                       "not stored again"))
    else:
        checked.outcome = "rejected"
        checked.reasons.append(_reason("record_uuid_reused", "uuid", f"record {checked.record.uuid} was stored "
                                       f"with batch {row.batch_uuid} with other content; a changed record "
                                       "needs a new UUID"))
    return True


def _kind_fields(rec: RecordIn) -> list[dict[str, str]]:
    """Fields a kind requires or does not take."""
    if rec.kind == "marker_check":
        required = {"marker": rec.marker, "base_version": rec.base_version, "status": rec.status}
        unexpected: dict[str, Any] = {}
    else:
        required = {"line_id": rec.line_id}
        unexpected = {"marker": rec.marker, "base_version": rec.base_version, "status": rec.status,
                      "reference_objects_complete": rec.reference_objects_complete}
    if rec.kind != "line_observation":
        unexpected |= {"recognisable": rec.recognisable, "changes_near_line": rec.changes_near_line,
                       "cross_boundary_construction": rec.cross_boundary_construction}
    reasons = [_reason("missing_field", name, f"a {rec.kind} needs {name}")
               for name, value in required.items() if value is None]
    reasons += [_reason("unexpected_field", name, f"a {rec.kind} does not take {name}")
                for name, value in unexpected.items() if value is not None]
    return reasons


def normalise_datum(value: str | None) -> tuple[str | None, dict[str, str] | None]:
    """The datum's canonical name, or the rejection reason."""
    if value is None or not value.strip():
        return None, _reason("missing_datum", "datum", "the datum of the position is required "
                             "(CGCS2000, WGS84 or GCJ02)")
    if (datum := datums.canonical(value)) is not None:
        return datum, None
    if datums.is_legacy(value):
        return None, _reason("unsupported_datum", "datum", f"{value} is a legacy datum: converting it needs the "
                             "local transformation parameters (七参数) of the survey area, which the server "
                             "does not have; convert to CGCS2000 first")
    return None, _reason("unsupported_datum", "datum", f"unknown datum {value!r}; use CGCS2000, WGS84 or GCJ02")


def _positions_ok(coords: Any, depth: int) -> bool:
    if depth == 0:
        return (isinstance(coords, list) and len(coords) in (2, 3) and all(isinstance(c, float) for c in coords)
                and all(math.isfinite(c) for c in coords) and -180 <= coords[0] <= 180 and -90 <= coords[1] <= 90)
    return (isinstance(coords, list) and 2 <= len(coords) <= MAX_POSITIONS
            and all(_positions_ok(c, 0) for c in coords))


def parse_geometry(rec: RecordIn) -> tuple[BaseGeometry | None, dict[str, str] | None]:
    """The record's position as a 2-D shapely geometry in its own datum, or the rejection reason."""
    allowed = ("Point", "LineString") if rec.kind == "line_observation" else ("Point",)
    kind, coords = rec.position.type, rec.position.coordinates
    if kind not in allowed:
        return None, _reason("invalid_geometry", "position.type", f"a {rec.kind} takes a GeoJSON "
                             f"{' or '.join(allowed)}, not {kind!r}")
    if not _positions_ok(coords, 0 if kind == "Point" else 1):
        return None, _reason("invalid_geometry", "position.coordinates", "coordinates must be finite "
                             "[lon, lat] with lon in −180…180 and lat in −90…90"
                             + ("" if kind == "Point" else f", 2 to {MAX_POSITIONS} positions"))
    geom = Point(coords[:2]) if kind == "Point" else LineString([c[:2] for c in coords])
    if not geom.is_valid or not geom.is_simple:
        why = shapely.is_valid_reason(geom) if not geom.is_valid else "it crosses itself"
        return None, _reason("invalid_geometry", "position", f"the geometry is not valid and simple: {why}")
    return geom, None


def _line(ctx: _Context, line_id: str | None) -> _Line | None:
    if line_id is None or not LINE_ID.match(line_id):
        return None
    if line_id not in ctx.lines:
        row = ctx.session.execute(text(
            "SELECT line_id, level, left_code, right_code FROM boundary_lines "
            "WHERE line_id = :id AND valid_to IS NULL"), {"id": line_id}).first()
        ctx.lines[line_id] = _Line(row.line_id, row.level, row.left_code, row.right_code) if row else None
    return ctx.lines[line_id]


def _marker(ctx: _Context, number: str) -> Marker | None:
    if number not in ctx.markers:
        try:
            ctx.markers[number] = get_marker(ctx.session, number=number)
        except NotFound:
            ctx.markers[number] = None
    return ctx.markers[number]


def _target(ctx: _Context, checked: Checked) -> list[dict[str, str]]:
    """Resolve the marker (checks) or line; the reasons when they do not exist or disagree."""
    rec = checked.record
    if rec.kind == "marker_check":
        if rec.marker is None:
            return []
        try:
            parse_number(rec.marker)
        except InvalidInput:
            return [_reason("malformed_number", "marker", f"{rec.marker!r} is not a marker number (4 characters "
                            "of line number, sequence 001–999, type code Q/A/B/C/D/E, e.g. T001003Q)")]
        checked.marker = _marker(ctx, rec.marker)
        if checked.marker is None:
            return [_reason("unknown_marker", "marker", f"marker {rec.marker} is not in the register")]
        if rec.line_id is not None and rec.line_id != checked.marker.line_id:
            return [_reason("line_mismatch", "line_id", f"marker {rec.marker} is on line "
                            f"{checked.marker.line_id}, not {rec.line_id}")]
        checked.line_id = checked.marker.line_id
    elif rec.line_id is not None:
        checked.line_id = rec.line_id
    if checked.line_id is not None and _line(ctx, checked.line_id) is None:
        return [_reason("unknown_line", "line_id", f"there is no current boundary line {checked.line_id}")]
    return []


def _assigned(ctx: _Context, line_id: str) -> bool:
    if ctx.role in ANY_LINE_ROLES:
        return True
    if line_id not in ctx.assigned:
        ctx.assigned[line_id] = ctx.session.execute(text(
            "SELECT 1 FROM line_assignments WHERE line_id = :l AND username = :u"),
            {"l": line_id, "u": ctx.actor}).first() is not None
    return ctx.assigned[line_id]


def party_zone(session: Session, line_id: str) -> BaseGeometry:
    """The area a position on LINE_ID may lie in: its parties' polygons grown by PARTY_MARGIN_M (prepared).

    Divisions below county level have no polygons; then it is the margin around the line itself.
    Built once per line and batch, so checking a record is a point-in-polygon test in memory.
    """
    wkb = session.execute(text("""
        WITH line AS (SELECT left_code, right_code, geom FROM boundary_lines WHERE line_id = :line AND valid_to IS NULL),
             parties AS (SELECT ST_Union(d.geom) AS geom FROM divisions d, line
                         WHERE d.code IN (line.left_code, line.right_code) AND d.valid_to IS NULL
                           AND d.geom IS NOT NULL)
        SELECT ST_AsBinary(ST_Buffer(coalesce(parties.geom, line.geom)::geography, :margin)::geometry)
        FROM line, parties
    """), {"line": line_id, "margin": PARTY_MARGIN_M}).scalar()
    zone = shapely.from_wkb(bytes(wkb)) if wkb is not None else shapely.Polygon()
    shapely.prepare(zone)
    return zone


def within_parties(session: Session, line_id: str, geom: BaseGeometry) -> bool:
    """GEOM lies inside, or within PARTY_MARGIN_M of, one of the line's two parties."""
    return bool(party_zone(session, line_id).covers(geom))


def _attachment_reasons(ctx: _Context, rec: RecordIn) -> list[dict[str, str]]:
    """Format checks of the named files, and their sizes against files already stored."""
    reasons, seen = [], set()
    for i, ref in enumerate(rec.attachments):
        where = f"attachments.{i}"
        if not attachments.SHA256.match(ref.sha256):
            reasons.append(_reason("invalid_attachment", f"{where}.sha256", "not 64 lower-case hex digits"))
        elif ref.sha256 in seen:
            reasons.append(_reason("invalid_attachment", f"{where}.sha256", "the same file is named twice"))
        if ref.size <= 0:
            reasons.append(_reason("invalid_attachment", f"{where}.size", "the size must be > 0 bytes"))
        if not ref.filename.strip():
            reasons.append(_reason("invalid_attachment", f"{where}.filename", "the filename is empty"))
        seen.add(ref.sha256)
    stored = attachments.stored_sizes(ctx.session, [r.sha256 for r in rec.attachments])
    for i, ref in enumerate(rec.attachments):
        if ref.sha256 in stored and stored[ref.sha256] != ref.size:
            reasons.append(_reason("attachment_mismatch", f"attachments.{i}.size", f"{ref.filename} is stored "
                                   f"with {stored[ref.sha256]} bytes, the record says {ref.size}"))
    return reasons


def _base_version(checked: Checked) -> list[dict[str, str]]:
    rec, marker = checked.record, checked.marker
    if marker is None or rec.base_version is None or rec.base_version <= marker.version:
        return []
    return [_reason("unknown_base_version", "base_version", f"marker {marker.number} is at version "
                    f"{marker.version}; version {rec.base_version} does not exist yet")]


def _rejections(ctx: _Context, checked: Checked) -> list[dict[str, str]]:
    """Everything that keeps the record out of the database."""
    rec = checked.record
    reasons = _kind_fields(rec)
    datum, datum_reason = normalise_datum(rec.datum)
    geom, geom_reason = parse_geometry(rec)
    reasons += [r for r in (datum_reason, geom_reason) if r is not None]
    if datum is not None and geom is not None:
        checked.datum, checked.geom = datum, datums.to_cgcs2000(geom, datum)
    reasons += _target(ctx, checked)
    line = _line(ctx, checked.line_id)
    if line is not None:
        if not _assigned(ctx, line.line_id):
            reasons.append(_reason("not_assigned", "line_id", f"{ctx.actor} is not assigned to line "
                                   f"{line.line_id}; ask for the assignment, or a reviewer uploads it"))
        if line.line_id not in ctx.zones:
            ctx.zones[line.line_id] = party_zone(ctx.session, line.line_id)
        if ctx.inspection_line is not None and line.line_id != ctx.inspection_line:
            reasons.append(_reason("not_in_inspection", "line_id", f"the batch is for an inspection of line "
                                   f"{ctx.inspection_line}, not {line.line_id}"))
        if checked.geom is not None and not ctx.zones[line.line_id].covers(checked.geom):
            reasons.append(_reason("outside_parties", "position", f"the position lies more than "
                                   f"{PARTY_MARGIN_M:g} m outside both {line.left} and {line.right}"))
    reasons += _base_version(checked)
    reasons += _attachment_reasons(ctx, rec)
    return reasons


def _flags(ctx: _Context, checked: Checked) -> list[dict[str, str]]:
    """What a reviewer should look at: accuracy, displacement, a stale base version."""
    rec, marker = checked.record, checked.marker
    tolerance = tolerance_m(ctx.settings, _line(ctx, checked.line_id).level)
    flags = []
    if rec.accuracy_m is None:
        flags.append(_reason("accuracy_unknown", "accuracy_m", "no accuracy given; the position cannot pass "
                             f"the {tolerance:g} m gate"))
    elif rec.accuracy_m > tolerance:
        flags.append(_reason("low_accuracy", "accuracy_m", f"accuracy {rec.accuracy_m:g} m is worse than the "
                             f"{tolerance:g} m tolerance of this line level"))
    if marker is None:
        return flags
    if rec.status != "丢失":
        checked.displacement_m = displacement_m(ctx.session, marker, checked.geom.x, checked.geom.y)
        if checked.displacement_m > tolerance:
            flags.append(_reason("displaced", "position", f"measured {checked.displacement_m:.2f} m from the "
                                 f"registered position (tolerance {tolerance:g} m)"))
    checked.conflict = detect_conflict(ctx.session, marker, rec.base_version,
                                       fields_set(rec.status, rec.reference_objects_complete))
    if checked.conflict is not None:
        conflict = checked.conflict
        changed = f": {', '.join(conflict.fields)} changed since" if conflict.fields else ""
        flags.append(_reason(f"conflict_{conflict.kind}", "base_version", f"marker {marker.number} is at version "
                             f"{conflict.current_version}, the record was made on version "
                             f"{conflict.base_version}{changed}; a reviewer decides"))
    return flags


def _check_record(ctx: _Context, rec: RecordIn) -> Checked:
    """Validate one record: duplicate, rejections, then flags."""
    checked = Checked(rec, content_sha256(rec))
    if _duplicate(ctx, checked):
        return checked
    rejections = _rejections(ctx, checked)
    if rejections:
        checked.outcome, checked.reasons = "rejected", rejections
        return checked
    checked.reasons = _flags(ctx, checked)
    checked.outcome = "flagged" if checked.reasons else "accepted"
    return checked


# ---- storing -------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class BatchResult:
    """The receipt and whether this call stored the batch (201) or found it stored (200)."""

    receipt: dict[str, Any]
    created: bool


def iso_utc(value: dt.datetime) -> str:
    """A time as ISO 8601 in UTC with a Z."""
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _stored_batch(session: Session, batch_uuid: UUID):
    return session.execute(text("SELECT content_sha256, receipt, received_at FROM survey_batches WHERE uuid = :u"),
                           {"u": batch_uuid}).first()


def _replay(row, batch_uuid: UUID, content: str) -> BatchResult:
    """The stored receipt for the same content; 409 for different content under the same UUID."""
    if row.content_sha256 != content:
        raise Conflict(f"batch {batch_uuid} was received at {iso_utc(row.received_at)} with other content; "
                       "a changed batch needs a new UUID (records already stored keep their UUIDs)",
                       extra={"stored_content_sha256": row.content_sha256, "content_sha256": content})
    return BatchResult(row.receipt, created=False)


def _inspection_line(session: Session, inspection_id: int | None) -> str | None:
    """The line of the inspection a batch names; 422 if it does not exist."""
    if inspection_id is None:
        return None
    line_id = session.execute(text("SELECT line_id FROM inspections WHERE id = :i"), {"i": inspection_id}).scalar()
    if line_id is None:
        raise InvalidInput(f"inspection {inspection_id} does not exist",
                           errors=[{"field": "inspection_id", "message": "unknown inspection"}])
    return line_id


def _claim(session: Session, batch_uuid: UUID, content: str, body: BatchIn, actor: str) -> dt.datetime | None:
    """Insert the batch row (receipt to follow); None when another transaction holds the UUID."""
    return session.execute(text(
        "INSERT INTO survey_batches (uuid, content_sha256, device, surveyor, captured_at, inspection_id, receipt) "
        "VALUES (:u, :c, :d, :s, :t, :i, '{}'::jsonb) ON CONFLICT (uuid) DO NOTHING RETURNING received_at"
    ), {"u": batch_uuid, "c": content, "d": body.device, "s": actor, "t": body.captured_at,
        "i": body.inspection_id}).scalar()


def _lock_records(session: Session, body: BatchIn) -> None:
    """Serialise batches that share record UUIDs, so a record is checked and stored by one at a time."""
    session.execute(text(
        "SELECT count(*) FROM (SELECT pg_advisory_xact_lock(:cls, hashtext(u)) FROM "
        "(SELECT unnest(CAST(:u AS text[])) AS u ORDER BY 1) o) s"),
        {"cls": _LOCK_CLASS, "u": sorted(str(r.uuid) for r in body.records)}).scalar_one()


def _store_record(session: Session, batch_uuid: UUID, checked: Checked) -> None:
    rec = checked.record
    session.execute(text(
        "INSERT INTO survey_records (uuid, batch_uuid, content_sha256, kind, line_id, marker_id, base_version, "
        "status, geom, position, datum, accuracy_m, displacement_m, observed_at, body, outcome, reasons, "
        "review_state) VALUES (:u, :b, :c, :k, :l, :m, :bv, :s, ST_SetSRID(ST_GeomFromWKB(:wkb), 4490), "
        "CAST(:pos AS jsonb), :d, :a, :disp, :obs, CAST(:body AS jsonb), :o, CAST(:r AS jsonb), :o)"
    ), {"u": rec.uuid, "b": batch_uuid, "c": checked.sha256, "k": rec.kind, "l": checked.line_id,
        "m": checked.marker.id if checked.marker else None, "bv": rec.base_version, "s": rec.status,
        "wkb": shapely.to_wkb(checked.geom), "pos": json.dumps(rec.position.model_dump(mode="json")),
        "d": checked.datum, "a": rec.accuracy_m, "disp": checked.displacement_m, "obs": rec.observed_at,
        "body": json.dumps(rec.model_dump(mode="json"), ensure_ascii=False), "o": checked.outcome,
        "r": json.dumps(checked.reasons, ensure_ascii=False)})
    for ref in rec.attachments:
        session.execute(text(
            "INSERT INTO survey_record_attachments (record_uuid, sha256, filename, size, media_type) "
            "VALUES (:u, :s, :f, :n, :m)"),
            {"u": rec.uuid, "s": ref.sha256, "f": ref.filename, "n": ref.size, "m": ref.media_type})
    if checked.conflict is not None:
        checked.conflict_id = record_conflict(session, rec.uuid, checked.marker.id, checked.conflict)


def record_conflict(session: Session, record_uuid: UUID | str, marker_id: int, conflict: ConflictCheck) -> int:
    """Insert (or reopen with the new versions) the conflict row of a record; returns its id."""
    return session.execute(text(
        "INSERT INTO survey_conflicts (record_uuid, marker_id, base_version, current_version, kind, fields) "
        "VALUES (:u, :m, :b, :c, :k, :f) ON CONFLICT (record_uuid) DO UPDATE SET current_version = :c, "
        "kind = :k, fields = :f, state = 'open', resolution = NULL, resolved_by = NULL, resolved_at = NULL "
        "RETURNING id"), {"u": record_uuid, "m": marker_id, "b": conflict.base_version,
                          "c": conflict.current_version, "k": conflict.kind, "f": list(conflict.fields)}).scalar_one()


def _receipt(batch_uuid: UUID, content: str, body: BatchIn, received_at: dt.datetime, actor: str,
             checked: list[Checked], *, dry_run: bool) -> dict[str, Any]:
    counts = {"total": len(checked), "accepted": 0, "flagged": 0, "rejected": 0,
              "duplicates": sum(c.duplicate_of is not None for c in checked)}
    for c in checked:
        counts[c.outcome] += 1
    return {"batch": str(batch_uuid), "content_sha256": content, "received_at": iso_utc(received_at),
            "captured_at": iso_utc(body.captured_at), "device": body.device, "surveyor": body.surveyor,
            "uploaded_by": actor, "inspection_id": body.inspection_id, "dry_run": dry_run, "counts": counts,
            "records": [c.receipt_entry() for c in checked]}


def store_batch(session: Session, settings: Settings, batch_uuid: UUID, body: BatchIn, *, actor: str, role: str,
                dry_run: bool = False, on_progress: Callable[[int], None] | None = None) -> BatchResult:
    """Validate and store a batch under its client UUID; a retry returns the stored receipt unchanged.

    DRY_RUN validates and answers the receipt but stores nothing. ON_PROGRESS(1) is called per record.
    """
    if role not in UPLOAD_ROLES:
        raise PermissionDenied(f"uploading surveys needs role {' or '.join(UPLOAD_ROLES)}; {actor} is {role}")
    content = content_sha256(body)
    existing = _stored_batch(session, batch_uuid)
    if existing is not None:
        return _replay(existing, batch_uuid, content)
    if len(body.records) > settings.survey_max_records:
        raise InvalidInput(f"a batch takes at most {settings.survey_max_records} records; split it",
                           errors=[{"field": "records", "message": f"{len(body.records)} records"}])
    inspection_line = _inspection_line(session, body.inspection_id)
    if dry_run:
        received_at = session.execute(text("SELECT now()")).scalar_one()
    else:
        received_at = _claim(session, batch_uuid, content, body, actor)
        if received_at is None:   # a concurrent PUT of this UUID committed first
            return _replay(_stored_batch(session, batch_uuid), batch_uuid, content)
        _lock_records(session, body)
    ctx = _Context(session, settings, actor, role, inspection_line=inspection_line)
    checked = []
    for rec in body.records:
        checked.append(_check_record(ctx, rec))
        if not dry_run and checked[-1].outcome != "rejected" and checked[-1].duplicate_of is None:
            _store_record(session, batch_uuid, checked[-1])
        if on_progress is not None:
            on_progress(1)
    receipt = _receipt(batch_uuid, content, body, received_at, actor, checked, dry_run=dry_run)
    if dry_run:
        return BatchResult(json.loads(canonical_json(receipt)), created=False)
    stored = session.execute(text(
        "UPDATE survey_batches SET receipt = CAST(:r AS jsonb) WHERE uuid = :u RETURNING receipt"),
        {"r": canonical_json(receipt).decode(), "u": batch_uuid}).scalar_one()
    audit.record(session, actor=actor, action="create", entity_type="survey_batch", entity_id=str(batch_uuid),
                 after={"content_sha256": content, "device": body.device, "surveyor": body.surveyor,
                        "counts": receipt["counts"], "inspection_id": body.inspection_id})
    return BatchResult(stored, created=True)


# ---- reading -------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class BatchStatus:
    """The receipt as given, the records' review states now, and the named files not yet stored."""

    receipt: dict[str, Any]
    records: list[dict[str, Any]]
    attachments_missing: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        """The JSON answer."""
        return {"receipt": self.receipt, "records": self.records, "attachments_missing": self.attachments_missing}


def _may_read(row, actor: str, role: str) -> None:
    if role == "surveyor" and row.surveyor != actor:
        raise PermissionDenied("a surveyor sees only the batches they uploaded")


def batch_status(session: Session, batch_uuid: UUID, *, actor: str, role: str) -> BatchStatus:
    """A stored batch's receipt, current review states and missing attachments; 404 if unknown."""
    row = session.execute(text("SELECT surveyor, receipt FROM survey_batches WHERE uuid = :u"),
                          {"u": batch_uuid}).first()
    if row is None:
        raise NotFound(f"batch {batch_uuid} has not been received")
    _may_read(row, actor, role)
    records = session.execute(text("""
        SELECT r.uuid::text AS uuid, r.kind, r.outcome, r.review_state, r.reviewed_by, r.reviewed_at,
               r.review_note, c.id AS conflict_id, c.kind AS conflict_kind, c.state AS conflict_state
        FROM survey_records r LEFT JOIN survey_conflicts c ON c.record_uuid = r.uuid
        WHERE r.batch_uuid = :u ORDER BY r.observed_at, r.uuid
    """), {"u": batch_uuid}).mappings().all()
    return BatchStatus(row.receipt, [_record_state(r) for r in records], missing_attachments(session, batch_uuid))


def _record_state(row) -> dict[str, Any]:
    conflict = None
    if row["conflict_id"] is not None:
        conflict = {"id": row["conflict_id"], "kind": row["conflict_kind"], "state": row["conflict_state"]}
    return {"uuid": row["uuid"], "kind": row["kind"], "outcome": row["outcome"],
            "review_state": row["review_state"], "reviewed_by": row["reviewed_by"],
            "reviewed_at": iso_utc(row["reviewed_at"]) if row["reviewed_at"] else None,
            "review_note": row["review_note"], "conflict": conflict}


def missing_attachments(session: Session, batch_uuid: UUID | None = None, *,
                        record_uuid: UUID | str | None = None) -> list[dict[str, Any]]:
    """Files named by the batch's (or one record's) open or approved records that are not stored."""
    rows = session.execute(text("""
        SELECT a.record_uuid::text AS record, a.sha256, a.filename, a.size, a.media_type
        FROM survey_record_attachments a JOIN survey_records r ON r.uuid = a.record_uuid
        LEFT JOIN attachments s ON s.sha256 = a.sha256 AND s.size = a.size
        WHERE s.sha256 IS NULL AND r.review_state <> 'rejected'
          AND (CAST(:b AS uuid) IS NULL OR r.batch_uuid = CAST(:b AS uuid))
          AND (CAST(:r AS uuid) IS NULL OR r.uuid = CAST(:r AS uuid))
        ORDER BY a.record_uuid, a.filename
    """), {"b": str(batch_uuid) if batch_uuid else None, "r": str(record_uuid) if record_uuid else None})
    return [dict(r) for r in rows.mappings()]


EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def encode_cursor(at: dt.datetime, key: str) -> str:
    """A keyset cursor from a timestamp and a UUID."""
    return f"{(at - EPOCH) // dt.timedelta(microseconds=1)}_{key}"


def decode_cursor(value: str | None) -> tuple[dt.datetime, str] | None:
    """The (timestamp, uuid) of a cursor; 422 if it was not made by `encode_cursor`."""
    if value is None:
        return None
    micros, _, key = value.partition("_")
    try:
        return EPOCH + dt.timedelta(microseconds=int(micros)), str(UUID(key))
    except (ValueError, OverflowError):
        raise InvalidInput("after must be the cursor from a `next` link",
                           errors=[{"field": "after", "message": "malformed cursor"}]) from None


@dataclass(frozen=True, slots=True)
class BatchSummary:
    """A batch in a list."""

    uuid: str
    surveyor: str
    device: str
    captured_at: dt.datetime
    received_at: dt.datetime
    inspection_id: int | None
    counts: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {"uuid": self.uuid, "uploaded_by": self.surveyor, "device": self.device,
                "captured_at": iso_utc(self.captured_at), "received_at": iso_utc(self.received_at),
                "inspection_id": self.inspection_id, "counts": self.counts}


@dataclass(frozen=True, slots=True)
class Listing:
    """A page of items and the cursor of the next page."""

    items: list
    next_after: str | None


def list_batches(session: Session, *, actor: str, role: str, surveyor: str | None = None,
                 since: dt.datetime | None = None, limit: int = 50, after: str | None = None) -> Listing:
    """Batches by received time (oldest first), filtered by uploader and time; surveyors see their own."""
    if role == "surveyor":
        if surveyor not in (None, actor):
            raise PermissionDenied("a surveyor sees only the batches they uploaded")
        surveyor = actor
    cursor = decode_cursor(after)
    rows = session.execute(text("""
        SELECT uuid::text AS uuid, surveyor, device, captured_at, received_at, inspection_id,
               receipt -> 'counts' AS counts
        FROM survey_batches
        WHERE (CAST(:s AS text) IS NULL OR surveyor = :s) AND (CAST(:since AS timestamptz) IS NULL OR received_at >= :since)
          AND (CAST(:at AS timestamptz) IS NULL
               OR (received_at, uuid) > (CAST(:at AS timestamptz), CAST(:key AS uuid)))
        ORDER BY received_at, uuid LIMIT :n
    """), {"s": surveyor, "since": since, "at": cursor[0] if cursor else None, "key": cursor[1] if cursor else None,
           "n": limit + 1}).mappings().all()
    items = [BatchSummary(**r) for r in rows[:limit]]
    more = len(rows) > limit
    return Listing(items, encode_cursor(items[-1].received_at, items[-1].uuid) if more else None)
