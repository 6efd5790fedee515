"""Joint inspections (联检, §5.2): routine rounds whose lead swaps each round, ad-hoc inspections after
events (rule 36), marker and section results, completion against the basis documents (rule 41), the
overdue list (rule 35) and the repair tasks a finding opens (rule 37).

Design choices, beyond the sources:
- One result per marker per inspection. Sending the same result again (same status, position, photos,
  notes, survey record) answers with the stored one; a different second result is a 409 — a wrong
  result is corrected by a later inspection or field check, not by rewriting this one.
- A position less accurate than the line level's tolerance is recorded with its displacement but is
  not used to declare 移位 (rule 38 needs a measurement that can tell); the reported status stands.
- An ad-hoc inspection covers its section: markers within MARKER_REACH_M of it. It is checked for
  rule 41 like a routine round, but it does not reset the five-year cycle (`last_inspection`): Art. 12
  asks for the whole line every five years, and an ad-hoc inspection sees only part of it.
- The "previous 联检报告" of rule 41 is the issued report of the latest completed routine round held
  here; a line whose earlier rounds were on paper adds those reports as `line_documents` (all of them
  are listed in the basis, §5.2 "all earlier 联检报告").
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from shapely.geometry import shape
from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from boundaries.codes import DivisionCode
from boundaries.findings import apply_finding, displacement_m, line_level, tolerance_m
from boundaries.markers import STATUSES, Marker, change_marker, get_marker, parse_number
from data import audit
from data.errors import Conflict, InvalidInput, NotFound
from data.settings import Settings

DB = Session | Connection
SHANGHAI = ZoneInfo("Asia/Shanghai")
KINDS = ("routine", "ad_hoc")
STATES = ("planned", "in_progress", "completed", "cancelled")
OPEN_STATES = ("planned", "in_progress")
REASONS = {"disaster": "自然灾害", "river": "河流改道", "road": "道路变化", "other": "其他"}
TASK_STATES = ("open", "done", "cancelled")
LEVELS = ("province", "county", "township")
MAX_BUFFER_M = 50_000.0
MARKER_REACH_M = 200.0    # markers of an ad-hoc inspection: this close to its section
SECTION_REACH_M = 500.0   # a section or observation geometry must come this close to the line
MAX_PHOTOS = 20
MAX_TEXT = 4000
MAX_PAGE = 200
CHINA_BOX = (73.0, 18.0, 135.5, 54.0)
GEOMETRY_TYPES = ("Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon")
LINE_ID = re.compile(r"^[0-9]{6,12}-[0-9]{6,12}$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")


def today_shanghai() -> dt.date:
    """Today's calendar date in Asia/Shanghai (cycles and deadlines are local calendar days)."""
    return dt.datetime.now(SHANGHAI).date()


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date | dt.datetime) else value


# ---------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class Inspection:
    """One inspection (routine round or ad hoc) as stored."""

    id: int
    line_id: str
    kind: str
    round: int | None
    reason: str | None
    section: dict | None
    lead_party: str
    cooperating_party: str
    planned_start: dt.date | None
    planned_end: dt.date | None
    state: str
    completed_on: dt.date | None
    basis: dict[str, Any]
    summary: str | None
    report_sha256: str | None
    created_by: str
    created_at: dt.datetime

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict (dates as ISO text, section as GeoJSON)."""
        return {k: _iso(v) for k, v in asdict(self).items()}


@dataclass(frozen=True, slots=True)
class MarkerResult:
    """What an inspection found at one marker; LON/LAT are EPSG:4490, DATUM the datum they came from."""

    marker_number: str
    status: str
    reference_objects_complete: bool = True
    lon: float | None = None
    lat: float | None = None
    datum: str = "CGCS2000"
    accuracy_m: float | None = None
    photos: tuple[str, ...] = ()
    notes: str | None = None
    survey_record: str | None = None


@dataclass(frozen=True, slots=True)
class SectionResult:
    """What an inspection found along a section (界线联检记录表): from/to marker, geometry, observations."""

    from_marker: str | None = None
    to_marker: str | None = None
    geometry: dict | None = None
    recognisable: bool = True
    changes_near_line: str | None = None
    cross_boundary_construction: str | None = None
    notes: str | None = None
    photos: tuple[str, ...] = ()
    survey_record: str | None = None


@dataclass(frozen=True, slots=True)
class MarkerRecord:
    """A stored marker result."""

    id: int
    inspection_id: int
    marker_number: str
    status: str
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
    recorded_at: dt.datetime

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {k: _iso(v) for k, v in asdict(self).items()}


@dataclass(frozen=True, slots=True)
class SectionRecord:
    """A stored section result."""

    id: int
    inspection_id: int
    from_marker: str | None
    to_marker: str | None
    geometry: dict | None
    recognisable: bool
    changes_near_line: str | None
    cross_boundary_construction: str | None
    notes: str | None
    photos: list[str]
    survey_record: str | None
    recorded_by: str
    recorded_at: dt.datetime

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {k: _iso(v) for k, v in asdict(self).items()}


@dataclass(frozen=True, slots=True)
class RepairTask:
    """A repair task (rule 37) with its marker's number and line."""

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
    state: str
    opened_at: dt.datetime
    closed_at: dt.datetime | None
    closed_by: str | None
    note: str | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {k: _iso(v) for k, v in asdict(self).items()}


@dataclass(frozen=True, slots=True)
class MarkerOutcome:
    """What recording a marker result did."""

    record: MarkerRecord
    displaced: bool
    repair_task_id: int | None
    replayed: bool = False
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {"record": self.record.as_dict(), "displaced": self.displaced,
                "repair_task_id": self.repair_task_id, "replayed": self.replayed, "warnings": self.warnings}


@dataclass(frozen=True, slots=True)
class InspectionDetail:
    """An inspection with its marker and section results, the repair tasks it opened and what is unchecked."""

    inspection: Inspection
    markers: list[MarkerRecord]
    sections: list[SectionRecord]
    repair_tasks: list[RepairTask]
    unchecked_markers: list[str]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return self.inspection.as_dict() | {
            "markers": [m.as_dict() for m in self.markers], "sections": [s.as_dict() for s in self.sections],
            "repair_tasks": [t.as_dict() for t in self.repair_tasks], "unchecked_markers": self.unchecked_markers}


@dataclass(frozen=True, slots=True)
class Completion:
    """A completed inspection, the basis documents it lacked (if allowed) and the markers left unchecked."""

    inspection: Inspection
    missing: list[str]
    unchecked_markers: list[str]
    warnings: list[str]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {"inspection": self.inspection.as_dict(), "missing": self.missing,
                "unchecked_markers": self.unchecked_markers, "warnings": self.warnings}


@dataclass(frozen=True, slots=True)
class OverdueLine:
    """A current line whose joint inspection is overdue (rule 35), or that was never inspected."""

    line_id: str
    name: str
    level: str
    left_code: str
    right_code: str
    last_inspection: dt.date | None
    cycle_years: int
    due_date: dt.date | None
    days_overdue: int | None
    open_inspection_id: int | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {k: _iso(v) for k, v in asdict(self).items()} | {"never_inspected": self.last_inspection is None}


@dataclass(frozen=True, slots=True)
class Page:
    """A keyset page and the cursor of the next one (None on the last)."""

    items: list
    next_after: int | None


# ---------------------------------------------------------------- input checks


def _field(name: str, message: str, detail: str | None = None) -> InvalidInput:
    return InvalidInput(detail or f"{name}: {message}", errors=[{"field": name, "message": message}])


def _text(value: Any, name: str, limit: int = MAX_TEXT) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str) or any(ord(c) < 32 and c not in "\n\t" for c in value):
        raise _field(name, "must be plain text")
    if len(value.strip()) > limit:
        raise _field(name, f"at most {limit} characters")
    return value.strip()


def _photos(values: Any, name: str = "photos") -> list[str]:
    photos = [str(p).strip().lower() for p in (values or ())]
    bad = [p for p in photos if not SHA256.match(p)]
    if bad:
        raise _field(name, "each photo is the SHA-256 of an attachment (64 hex digits)",
                     f"{name}: {bad[0][:70]!r} is not a SHA-256")
    if len(photos) > MAX_PHOTOS:
        raise _field(name, f"at most {MAX_PHOTOS} photos")
    return list(dict.fromkeys(photos))


def _uuid(value: str | None, name: str = "survey_record") -> str | None:
    if value is None:
        return None
    try:
        return str(uuid.UUID(str(value)))
    except ValueError as exc:
        raise _field(name, "must be a UUID") from exc


def _point(lon: float | None, lat: float | None) -> tuple[float, float] | None:
    if lon is None and lat is None:
        return None
    if lon is None or lat is None:
        raise _field("lon" if lon is None else "lat", "give both lon and lat, or neither")
    lo_x, lo_y, hi_x, hi_y = CHINA_BOX
    if not (lo_x <= lon <= hi_x and lo_y <= lat <= hi_y):  # NaN fails too
        raise _field("lon", f"({lon}, {lat}) is not a lon/lat position in China; send lon first, then lat")
    return float(lon), float(lat)


def parse_geometry(value: Any, name: str = "geometry") -> str | None:
    """A GeoJSON geometry (lon/lat, CGCS2000) checked for type, validity and place; returned as JSON text."""
    if value is None:
        return None
    if not isinstance(value, dict) or value.get("type") not in GEOMETRY_TYPES:
        raise _field(name, "must be a GeoJSON " + ", ".join(GEOMETRY_TYPES))
    try:
        geom = shape(value)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise _field(name, f"not valid GeoJSON: {exc}") from exc
    lo_x, lo_y, hi_x, hi_y = CHINA_BOX
    if geom.is_empty or not (lo_x <= geom.bounds[0] and geom.bounds[2] <= hi_x
                             and lo_y <= geom.bounds[1] and geom.bounds[3] <= hi_y):
        raise _field(name, "must be lon/lat (CGCS2000) inside China; check the axis order")
    if not geom.is_valid:
        raise _field(name, "is not a valid geometry (self-intersecting or degenerate)")
    return json.dumps(value)


def _near_line(db: DB, line_id: str, geojson: str | None, name: str) -> str | None:
    """GEOJSON (text) if it comes within SECTION_REACH_M of the current line, else InvalidInput."""
    if geojson is None:
        return None
    near = db.execute(text(
        "SELECT ST_DWithin(geom::geography, ST_SetSRID(ST_GeomFromGeoJSON(CAST(:g AS text)), 4490)::geography, "
        ":reach) FROM boundary_lines WHERE line_id = :l AND valid_to IS NULL"),
        {"g": geojson, "reach": SECTION_REACH_M, "l": line_id}).scalar()
    if not near:
        raise _field(name, f"is not within {SECTION_REACH_M:.0f} m of line {line_id}")
    return geojson


def _dates(start: dt.date | None, end: dt.date | None) -> None:
    if start is not None and end is not None and end < start:
        raise _field("planned_end", f"{end} is before planned_start {start}")


# ---------------------------------------------------------------- reads


_LINE = """SELECT line_id, level, left_code, right_code, line_number, name, last_inspection,
                  inspection_cycle_years AS cycle_years
           FROM boundary_lines WHERE line_id = :id AND valid_to IS NULL"""
_INSPECTION = """SELECT id, line_id, kind, round, reason, ST_AsGeoJSON(section, 8, 0) AS section, lead_party,
                        cooperating_party, planned_start, planned_end, state, completed_on, basis, summary,
                        report_sha256, created_by, created_at
                 FROM inspections"""
_RECORD = """SELECT r.id, r.inspection_id, m.number AS marker_number, r.status, r.reference_objects_complete,
                    ST_X(r.measured) AS lon, ST_Y(r.measured) AS lat, r.measured_datum, r.accuracy_m,
                    r.displacement_m, r.photos, r.notes, r.survey_record::text AS survey_record, r.recorded_by,
                    r.recorded_at
             FROM inspection_marker_records r JOIN markers m ON m.id = r.marker_id"""
_SECTION = """SELECT s.id, s.inspection_id, f.number AS from_marker, t.number AS to_marker,
                     ST_AsGeoJSON(s.geom, 8, 0) AS geometry, s.recognisable, s.changes_near_line,
                     s.cross_boundary_construction, s.notes, s.photos, s.survey_record::text AS survey_record,
                     s.recorded_by, s.recorded_at
              FROM inspection_section_records s
              LEFT JOIN markers f ON f.id = s.from_marker LEFT JOIN markers t ON t.id = s.to_marker"""
_TASK = """SELECT t.id, m.number AS marker_number, m.line_id, t.found_status, t.action, t.assigned_party,
                  t.neighbour_party, t.neighbour_presence_required, t.inspection_id,
                  t.survey_record::text AS survey_record, t.state, t.opened_at, t.closed_at, t.closed_by, t.note
           FROM repair_tasks t JOIN markers m ON m.id = t.marker_id"""


def get_line(db: DB, line_id: str, *, lock: bool = False):
    """The current line's row (line_id, level, parties, number, name, last_inspection, cycle); 404 if none."""
    row = None
    if LINE_ID.match(line_id or ""):
        row = db.execute(text(_LINE + (" FOR UPDATE" if lock else "")), {"id": line_id}).first()
    if row is None:
        raise NotFound(f"there is no current boundary line {line_id!r} (ids look like 330102-330105)")
    return row


def _inspection(row) -> Inspection:
    data = dict(row._mapping)
    data["section"] = json.loads(data["section"]) if data["section"] else None
    return Inspection(**data)


def get_inspection(db: DB, inspection_id: int, *, lock: bool = False) -> Inspection:
    """One inspection; 404 if there is none. LOCK takes a row lock for a change."""
    row = db.execute(text(_INSPECTION + " WHERE id = :id" + (" FOR UPDATE" if lock else "")),
                     {"id": inspection_id}).first()
    if row is None:
        raise NotFound(f"inspection {inspection_id} does not exist")
    return _inspection(row)


def list_inspections(db: DB, *, line_id: str | None = None, state: str | None = None, kind: str | None = None,
                     limit: int = 50, after: int | None = None) -> Page:
    """Inspections by id, filtered by line, state and kind."""
    if state is not None and state not in STATES:
        raise _field("state", "must be one of " + ", ".join(STATES))
    if kind is not None and kind not in KINDS:
        raise _field("kind", "must be one of " + ", ".join(KINDS))
    where, params = ["id > :after"], {"after": after or 0, "limit": min(max(limit, 1), MAX_PAGE) + 1}
    for name, value in (("line_id", line_id), ("state", state), ("kind", kind)):
        if value is not None:
            where.append(f"{name} = :{name}")
            params[name] = value
    rows = db.execute(text(f"{_INSPECTION} WHERE {' AND '.join(where)} ORDER BY id LIMIT :limit"), params).all()
    items = [_inspection(r) for r in rows[:params["limit"] - 1]]
    return Page(items, items[-1].id if len(rows) == params["limit"] else None)


def _record(row) -> MarkerRecord:
    return MarkerRecord(**(dict(row._mapping) | {"photos": list(row.photos or [])}))


def _section(row) -> SectionRecord:
    data = dict(row._mapping)
    data["geometry"] = json.loads(data["geometry"]) if data["geometry"] else None
    return SectionRecord(**(data | {"photos": list(row.photos or [])}))


def marker_records(db: DB, inspection_id: int) -> list[MarkerRecord]:
    """The marker results of an inspection, in marker order."""
    rows = db.execute(text(_RECORD + " WHERE r.inspection_id = :i ORDER BY m.seq, m.type_code"),
                      {"i": inspection_id})
    return [_record(r) for r in rows]


def section_records(db: DB, inspection_id: int) -> list[SectionRecord]:
    """The section results of an inspection, in the order recorded."""
    return [_section(r) for r in db.execute(text(_SECTION + " WHERE s.inspection_id = :i ORDER BY s.id"),
                                            {"i": inspection_id})]


def repair_tasks_of(db: DB, inspection_id: int) -> list[RepairTask]:
    """The repair tasks an inspection opened."""
    rows = db.execute(text(_TASK + " WHERE t.inspection_id = :i ORDER BY m.seq, m.type_code, t.id"),
                      {"i": inspection_id})
    return [RepairTask(**r._mapping) for r in rows]


def marker_scope(inspection: Inspection) -> tuple[str, dict[str, Any]]:
    """SQL condition on `markers m` selecting the markers an inspection covers, and its parameters."""
    condition = "m.line_id = :scope_line AND m.retired_on IS NULL"
    params: dict[str, Any] = {"scope_line": inspection.line_id}
    if inspection.section is not None:
        condition += (" AND ST_DWithin(m.geom::geography, (SELECT section FROM inspections "
                      "WHERE id = :scope_inspection)::geography, :scope_reach)")
        params |= {"scope_inspection": inspection.id, "scope_reach": MARKER_REACH_M}
    return condition, params


def unchecked_markers(db: DB, inspection: Inspection) -> list[str]:
    """Numbers of the markers the inspection covers that have no result in it."""
    condition, params = marker_scope(inspection)
    return list(db.execute(text(
        f"SELECT m.number FROM markers m WHERE {condition} AND NOT EXISTS (SELECT 1 FROM "
        "inspection_marker_records r WHERE r.marker_id = m.id AND r.inspection_id = :i) ORDER BY m.seq, m.type_code"
    ), params | {"i": inspection.id}).scalars())


def inspection_detail(db: DB, inspection_id: int) -> InspectionDetail:
    """An inspection with its results, the repair tasks it opened and its unchecked markers."""
    inspection = get_inspection(db, inspection_id)
    return InspectionDetail(inspection, marker_records(db, inspection_id), section_records(db, inspection_id),
                            repair_tasks_of(db, inspection_id), unchecked_markers(db, inspection))


def assigned(db: DB, line_id: str, username: str) -> bool:
    """Whether USERNAME is assigned to the line (surveyors record results only on their lines)."""
    return db.execute(text("SELECT 1 FROM line_assignments WHERE line_id = :l AND username = :u"),
                      {"l": line_id, "u": username}).first() is not None


# ---------------------------------------------------------------- basis documents (rule 41)


def _documents(db: DB, line_id: str) -> dict[str, list[int]]:
    rows = db.execute(text(
        "SELECT id, kind FROM line_documents WHERE line_id = :l AND kind IN ('协议书', '界桩登记表', '联检报告') "
        "ORDER BY id"), {"l": line_id}).all()
    return {"agreements": [r.id for r in rows if r.kind == "协议书"],
            "registers": [r.id for r in rows if r.kind == "界桩登记表"],
            "previous_reports": [r.id for r in rows if r.kind == "联检报告"]}


def _previous_round(db: DB, inspection: Inspection):
    below = "AND round < :round" if inspection.round is not None else ""
    return db.execute(text(
        f"SELECT id, round, report_sha256 FROM inspections WHERE line_id = :l AND kind = 'routine' "
        f"AND state = 'completed' {below} ORDER BY round DESC LIMIT 1"),
        {"l": inspection.line_id, "round": inspection.round}).first()


def missing_basis(db: DB, inspection: Inspection) -> list[str]:
    """What rule 41 needs and the line's documents lack: 协议书, 界桩登记表, the previous round's 联检报告."""
    docs = _documents(db, inspection.line_id)
    missing = [label for label, key in (("协议书", "agreements"), ("界桩登记表", "registers")) if not docs[key]]
    previous = _previous_round(db, inspection)
    if previous is not None:
        filed = previous.report_sha256 is not None and db.execute(text(
            "SELECT 1 FROM line_documents WHERE line_id = :l AND kind = '联检报告' AND sha256 = :s"),
            {"l": inspection.line_id, "s": previous.report_sha256}).first() is not None
        if not filed:
            missing.append(f"第{previous.round}轮联检报告")
    return missing


# ---------------------------------------------------------------- planning


def _insert(db: DB, values: dict[str, Any], *, actor: str) -> Inspection:
    inspection_id = db.execute(text(
        "INSERT INTO inspections (line_id, kind, round, reason, section, lead_party, cooperating_party, "
        "planned_start, planned_end, basis, created_by) VALUES (:line_id, :kind, :round, :reason, "
        "ST_SetSRID(ST_GeomFromGeoJSON(CAST(:section AS text)), 4490), :lead, :coop, :start, :end, "
        "CAST(:basis AS jsonb), :actor) RETURNING id"), values | {"actor": actor}).scalar_one()
    inspection = get_inspection(db, inspection_id)
    audit.record(db, actor=actor, action="create", entity_type="inspection", entity_id=str(inspection_id),
                 after={k: v for k, v in inspection.as_dict().items() if k not in ("section", "created_at")})
    return inspection


def _other(line, party: str) -> str:
    return line.right_code if party == line.left_code else line.left_code


def _check_party(line, party: str | None) -> None:
    if party is not None and party not in (line.left_code, line.right_code):
        raise _field("lead_party", f"{party} is not a party of line {line.line_id}")


def plan_inspection(db: DB, line_id: str, *, planned_start: dt.date | None, planned_end: dt.date | None,
                    actor: str, lead_party: str | None = None) -> Inspection:
    """Plan the line's next routine round; the lead and cooperating parties swap each round (§5.2)."""
    line = get_line(db, line_id, lock=True)  # serialises round numbering on the line
    _dates(planned_start, planned_end)
    _check_party(line, lead_party)
    unfinished = db.execute(text(
        "SELECT id, round FROM inspections WHERE line_id = :l AND kind = 'routine' AND state IN ('planned', "
        "'in_progress')"), {"l": line_id}).first()
    if unfinished is not None:
        raise Conflict(f"round {unfinished.round} (inspection {unfinished.id}) of line {line_id} is not finished")
    rounds = db.execute(text(
        "SELECT round, lead_party, cooperating_party, state FROM inspections WHERE line_id = :l "
        "AND kind = 'routine' ORDER BY round DESC"), {"l": line_id}).all()
    previous = next((r for r in rounds if r.state != "cancelled"), None)
    lead = previous.cooperating_party if previous else (lead_party or line.left_code)
    if previous and lead_party and lead_party != lead:
        raise _field("lead_party", f"round {rounds[0].round + 1} is led by {lead}: round {previous.round} was "
                     f"led by {previous.lead_party} and the roles swap each round")
    number = (rounds[0].round if rounds else 0) + 1
    return _insert(db, {"line_id": line_id, "kind": "routine", "round": number, "reason": None, "section": None,
                        "lead": lead, "coop": _other(line, lead), "start": planned_start, "end": planned_end,
                        "basis": json.dumps(_documents(db, line_id))}, actor=actor)


def _current_lead(db: DB, line) -> str:
    lead = db.execute(text(
        "SELECT lead_party FROM inspections WHERE line_id = :l AND kind = 'routine' AND state <> 'cancelled' "
        "ORDER BY round DESC LIMIT 1"), {"l": line.line_id}).scalar()
    return lead or line.left_code


def _check_reason(reason: str) -> None:
    if reason not in REASONS:
        raise _field("reason", "must be one of " + ", ".join(REASONS))


def plan_adhoc(db: DB, line_id: str, reason: str, section_geojson: dict | None = None, *, actor: str,
               planned_start: dt.date | None = None, planned_end: dt.date | None = None,
               lead_party: str | None = None, description: str | None = None) -> Inspection:
    """Plan an ad-hoc inspection of a line's section (rule 36); no section means the whole line."""
    line = get_line(db, line_id)
    _check_reason(reason)
    _dates(planned_start, planned_end)
    _check_party(line, lead_party)
    section = _near_line(db, line_id, parse_geometry(section_geojson, "section"), "section")
    lead = lead_party or _current_lead(db, line)
    basis = _documents(db, line_id) | ({"event": {"description": _text(description, "description")}}
                                       if description else {})
    return _insert(db, {"line_id": line_id, "kind": "ad_hoc", "round": None, "reason": reason, "section": section,
                        "lead": lead, "coop": _other(line, lead), "start": planned_start, "end": planned_end,
                        "basis": json.dumps(basis, ensure_ascii=False)}, actor=actor)


def schedule_for_event(db: DB, event_geojson: dict, buffer_m: float, reason: str, actor: str, *,
                       planned_start: dt.date | None = None, planned_end: dt.date | None = None,
                       description: str | None = None) -> list[Inspection]:
    """An ad-hoc inspection for every current line meeting the event buffered by BUFFER_M (rule 36);
    each one's section is the part of the line inside the buffer."""
    event = parse_geometry(event_geojson, "geometry")
    _check_reason(reason)
    _dates(planned_start, planned_end)
    if not (0 <= buffer_m <= MAX_BUFFER_M):  # NaN fails too
        raise _field("buffer_m", f"must be between 0 and {MAX_BUFFER_M:.0f} metres")
    description = _text(description, "description")
    hits = db.execute(text("""
        WITH event AS (SELECT ST_SetSRID(ST_GeomFromGeoJSON(CAST(:g AS text)), 4490) AS g),
             area AS (SELECT CASE WHEN :buffer > 0
                                  THEN ST_SetSRID(ST_Buffer(g::geography, :buffer)::geometry, 4490) ELSE g END AS g
                      FROM event)
        SELECT l.line_id,
               ST_AsGeoJSON(ST_Multi(ST_CollectionExtract(ST_Intersection(l.geom, area.g), 2)), 9, 0) AS part
        FROM boundary_lines l, area
        WHERE l.valid_to IS NULL AND ST_Intersects(l.geom, area.g)
        ORDER BY l.line_id
    """), {"g": event, "buffer": float(buffer_m)}).all()
    event_basis = {"event": {"reason": reason, "buffer_m": float(buffer_m), "description": description}}
    created = []
    for hit in hits:
        if not hit.part or not json.loads(hit.part)["coordinates"]:
            continue  # the buffer only touches the line at a point
        line = get_line(db, hit.line_id)
        lead = _current_lead(db, line)
        basis = _documents(db, line.line_id) | event_basis
        created.append(_insert(db, {
            "line_id": line.line_id, "kind": "ad_hoc", "round": None, "reason": reason, "section": hit.part,
            "lead": lead, "coop": _other(line, lead), "start": planned_start, "end": planned_end,
            "basis": json.dumps(basis, ensure_ascii=False)}, actor=actor))
    return created


# ---------------------------------------------------------------- results


def _open_for_results(db: DB, inspection_id: int) -> Inspection:
    inspection = get_inspection(db, inspection_id, lock=True)
    if inspection.state not in OPEN_STATES:
        raise Conflict(f"inspection {inspection_id} is {inspection.state}; it takes no more results")
    return inspection


def _start(db: DB, inspection: Inspection, actor: str) -> None:
    if inspection.state == "planned":
        db.execute(text("UPDATE inspections SET state = 'in_progress' WHERE id = :id"), {"id": inspection.id})
        audit.record(db, actor=actor, action="start", entity_type="inspection", entity_id=str(inspection.id),
                     before={"state": "planned"}, after={"state": "in_progress"})


def _covered_marker(db: DB, inspection: Inspection, number: str | None, name: str) -> Marker:
    try:
        parse_number(number or "")
    except InvalidInput as exc:
        raise _field(name, "malformed marker number", exc.detail) from exc
    try:
        marker = get_marker(db, number=number)
    except NotFound as exc:
        raise NotFound(exc.detail, errors=[{"field": name, "message": "no such marker"}]) from exc
    if marker.line_id != inspection.line_id:
        raise _field(name, f"marker {number} is on line {marker.line_id}, not on {inspection.line_id}")
    condition, params = marker_scope(inspection)
    if not db.execute(text(f"SELECT 1 FROM markers m WHERE m.id = :id AND {condition}"),
                      params | {"id": marker.id}).first():
        where = f"within {MARKER_REACH_M:.0f} m of the inspected section" if inspection.section else "current"
        raise _field(name, f"marker {number} is not {where}")
    return marker


def _checked(result: MarkerResult) -> MarkerResult:
    if result.status not in STATUSES:
        raise _field("status", "must be one of " + "、".join(STATUSES))
    _point(result.lon, result.lat)
    if result.accuracy_m is not None and not (0 <= result.accuracy_m <= 10_000):
        raise _field("accuracy_m", "must be between 0 and 10000 metres")
    datum = _text(result.datum, "datum", 40)
    if datum is None:
        raise _field("datum", "name the datum the position was measured in (e.g. CGCS2000)")
    return MarkerResult(result.marker_number, result.status, bool(result.reference_objects_complete),
                        result.lon, result.lat, datum, result.accuracy_m, tuple(_photos(result.photos)),
                        _text(result.notes, "notes"), _uuid(result.survey_record))


def _same(stored: MarkerRecord, result: MarkerResult) -> bool:
    position = (None if result.lon is None else (round(result.lon, 9), round(result.lat, 9)))
    stored_position = None if stored.lon is None else (round(stored.lon, 9), round(stored.lat, 9))
    status_same = stored.status == result.status or (result.status == "完好" and stored.status == "移位"
                                                     and position is not None)
    return (status_same and stored.reference_objects_complete == result.reference_objects_complete
            and stored_position == position and stored.photos == list(result.photos)
            and stored.notes == result.notes and stored.survey_record == result.survey_record)


def _add_photos(db: DB, marker_id: int, photos: list[str], caption: str, source_ref: str) -> None:
    for sha in photos:
        filename = db.execute(text("SELECT filename FROM survey_record_attachments WHERE sha256 = :s LIMIT 1"),
                              {"s": sha}).scalar() or sha
        db.execute(text(
            "INSERT INTO marker_photos (marker_id, sha256, filename, caption, source_ref) "
            "VALUES (:m, :s, :f, :c, :r) ON CONFLICT (marker_id, sha256) DO NOTHING"),
            {"m": marker_id, "s": sha, "f": filename, "c": caption, "r": source_ref})


def record_marker_result(db: DB, settings: Settings, inspection_id: int, result: MarkerResult, *,
                         actor: str) -> MarkerOutcome:
    """Record what the inspection found at a marker and apply it to the register (rules 37–38)."""
    inspection = _open_for_results(db, inspection_id)
    result = _checked(result)
    marker = _covered_marker(db, inspection, result.marker_number, "marker_number")
    existing = db.execute(text(_RECORD + " WHERE r.inspection_id = :i AND r.marker_id = :m"),
                          {"i": inspection_id, "m": marker.id}).first()
    if existing is not None:
        stored = _record(existing)
        if _same(stored, result):
            return MarkerOutcome(stored, stored.status == "移位" and result.status == "完好", None, replayed=True)
        raise Conflict(f"marker {marker.number} already has a result in inspection {inspection_id} "
                       f"({stored.status}, by {stored.recorded_by}); one result per marker per inspection")
    _start(db, inspection, actor)
    outcome = _apply(db, settings, inspection, marker, result, actor)
    _add_photos(db, marker.id, list(result.photos), f"联检 {inspection_id}: {outcome.record.status}",
                f"inspection:{inspection_id}")
    audit.record(db, actor=actor, action="record", entity_type="inspection_marker_record",
                 entity_id=str(outcome.record.id), after={
                     "inspection": inspection_id, "marker": marker.number, "status": outcome.record.status,
                     "displacement_m": outcome.record.displacement_m, "repair_task": outcome.repair_task_id,
                     "photos": list(result.photos)})
    return outcome


def _apply(db: DB, settings: Settings, inspection: Inspection, marker: Marker, result: MarkerResult,
           actor: str) -> MarkerOutcome:
    tolerance = tolerance_m(settings, line_level(db, marker.line_id))
    measured = _point(result.lon, result.lat)
    warnings: list[str] = []
    usable = None if result.status == "丢失" else measured  # a lost marker has no position to compare
    if usable is not None and result.accuracy_m is not None and result.accuracy_m > tolerance:
        usable = None
        warnings.append(f"position accuracy {result.accuracy_m:g} m is worse than the {tolerance:g} m tolerance: "
                        f"displacement recorded but not used to judge 移位")
    finding = apply_finding(db, settings, marker.number, result.status, measured=usable,
                            reference_objects_complete=result.reference_objects_complete, source="inspection",
                            source_ref=f"inspection:{inspection.id}", actor=actor, inspection_id=inspection.id,
                            survey_record=result.survey_record)
    moved = finding.displacement_m if usable is not None else (
        displacement_m(db, marker, *measured) if measured is not None else None)
    if finding.status == "完好":
        task = db.execute(text("SELECT id FROM repair_tasks WHERE marker_id = :m AND state = 'open'"),
                          {"m": marker.id}).scalar()
        if task is not None:
            warnings.append(f"marker {marker.number} was found 完好 but repair task {task} is still open; close "
                            "it once the repair is confirmed with the neighbour present")
    record_id = db.execute(text(
        "INSERT INTO inspection_marker_records (inspection_id, marker_id, status, reference_objects_complete, "
        "measured, measured_datum, accuracy_m, displacement_m, photos, notes, survey_record, recorded_by) "
        "VALUES (:i, :m, :status, :refs, ST_GeomFromText(CAST(:wkt AS text), 4490), :datum, :accuracy, :moved, "
        "CAST(:photos AS char(64)[]), :notes, CAST(:record AS uuid), :actor) RETURNING id"),
        {"i": inspection.id, "m": marker.id, "status": finding.status, "refs": result.reference_objects_complete,
         "wkt": None if measured is None else f"POINT({measured[0]!r} {measured[1]!r})",
         "datum": result.datum if measured is not None else None, "accuracy": result.accuracy_m,
         "moved": moved, "photos": list(result.photos), "notes": result.notes, "record": result.survey_record,
         "actor": actor}).scalar_one()
    record = _record(db.execute(text(_RECORD + " WHERE r.id = :id"), {"id": record_id}).one())
    return MarkerOutcome(record, finding.displaced, finding.repair_task_id, warnings=warnings)


def record_section(db: DB, inspection_id: int, result: SectionResult, *, actor: str) -> SectionRecord:
    """Record what the inspection found along a section of the line (界线联检记录表)."""
    inspection = _open_for_results(db, inspection_id)
    survey_record = _uuid(result.survey_record)
    if survey_record is not None:
        replay = db.execute(text(_SECTION + " WHERE s.inspection_id = :i AND s.survey_record = CAST(:r AS uuid)"),
                            {"i": inspection_id, "r": survey_record}).first()
        if replay is not None:
            return _section(replay)
    ends = [_covered_marker(db, inspection, number, name).id if number is not None else None
            for number, name in ((result.from_marker, "from_marker"), (result.to_marker, "to_marker"))]
    geometry = _near_line(db, inspection.line_id, parse_geometry(result.geometry, "geometry"), "geometry")
    values = {"i": inspection_id, "f": ends[0], "t": ends[1], "g": geometry, "ok": bool(result.recognisable),
              "changes": _text(result.changes_near_line, "changes_near_line"),
              "construction": _text(result.cross_boundary_construction, "cross_boundary_construction"),
              "notes": _text(result.notes, "notes"), "photos": _photos(result.photos), "record": survey_record,
              "actor": actor}
    _start(db, inspection, actor)
    section_id = db.execute(text(
        "INSERT INTO inspection_section_records (inspection_id, from_marker, to_marker, geom, recognisable, "
        "changes_near_line, cross_boundary_construction, notes, photos, survey_record, recorded_by) VALUES "
        "(:i, :f, :t, ST_SetSRID(ST_GeomFromGeoJSON(CAST(:g AS text)), 4490), :ok, :changes, :construction, "
        ":notes, CAST(:photos AS char(64)[]), CAST(:record AS uuid), :actor) RETURNING id"), values).scalar_one()
    audit.record(db, actor=actor, action="record", entity_type="inspection_section_record",
                 entity_id=str(section_id), after={
                     "inspection": inspection_id, "from": result.from_marker, "to": result.to_marker,
                     "recognisable": values["ok"], "changes_near_line": values["changes"],
                     "cross_boundary_construction": values["construction"]})
    return _section(db.execute(text(_SECTION + " WHERE s.id = :id"), {"id": section_id}).one())


# ---------------------------------------------------------------- completion


def _check_completed_on(db: DB, inspection: Inspection, completed_on: dt.date) -> None:
    if completed_on > today_shanghai():
        raise _field("completed_on", f"{completed_on} is in the future (Asia/Shanghai)")
    previous = db.execute(text(
        "SELECT max(completed_on) FROM inspections WHERE line_id = :l AND kind = 'routine' AND state = 'completed' "
        "AND id <> :id"), {"l": inspection.line_id, "id": inspection.id}).scalar()
    if inspection.kind == "routine" and previous is not None and completed_on < previous:
        raise _field("completed_on", f"{completed_on} is before the previous round's completion {previous}")


def complete_inspection(db: DB, inspection_id: int, completed_on: dt.date, summary: str | None, *, actor: str,
                        allow_incomplete: bool = False) -> Completion:
    """Complete an inspection; without the rule-41 basis documents it is refused (422) unless ALLOW_INCOMPLETE,
    which records the gap in its basis. A routine round moves the line's `last_inspection`."""
    inspection = get_inspection(db, inspection_id, lock=True)
    if inspection.state not in OPEN_STATES:
        raise Conflict(f"inspection {inspection_id} is {inspection.state} already")
    _check_completed_on(db, inspection, completed_on)
    summary = _text(summary, "summary")
    missing = missing_basis(db, inspection)
    if missing and not allow_incomplete:
        raise InvalidInput(f"inspection {inspection_id} is incomplete (rule 41): no {'、'.join(missing)} linked; "
                           "add the documents to the line, or complete with allow_incomplete",
                           errors=[{"field": "basis", "message": f"missing {m}"} for m in missing],
                           extra={"missing": missing})
    basis = {k: v for k, v in inspection.basis.items() if k not in ("missing", "incomplete")}
    basis |= _documents(db, inspection.line_id) | ({"missing": missing, "incomplete": True} if missing else {})
    db.execute(text(
        "UPDATE inspections SET state = 'completed', completed_on = :d, summary = :s, basis = CAST(:b AS jsonb) "
        "WHERE id = :id"), {"d": completed_on, "s": summary, "b": json.dumps(basis, ensure_ascii=False),
                            "id": inspection_id})
    audit.record(db, actor=actor, action="complete", entity_type="inspection", entity_id=str(inspection_id),
                 before={"state": inspection.state},
                 after={"state": "completed", "completed_on": completed_on, "missing": missing})
    warnings = _move_cycle(db, inspection, completed_on, actor)
    unchecked = unchecked_markers(db, inspection)
    if unchecked:
        warnings.append(f"{len(unchecked)} marker(s) have no result in this inspection: {', '.join(unchecked[:20])}"
                        + (" …" if len(unchecked) > 20 else ""))
    return Completion(get_inspection(db, inspection_id), missing, unchecked, warnings)


def _move_cycle(db: DB, inspection: Inspection, completed_on: dt.date, actor: str) -> list[str]:
    if inspection.kind != "routine":
        return []
    line = get_line(db, inspection.line_id, lock=True)
    if line.last_inspection is not None and line.last_inspection >= completed_on:
        return [f"line {line.line_id} keeps last_inspection {line.last_inspection} (not earlier than {completed_on})"]
    db.execute(text("UPDATE boundary_lines SET last_inspection = :d WHERE line_id = :l AND valid_to IS NULL"),
               {"d": completed_on, "l": line.line_id})
    audit.record(db, actor=actor, action="change", entity_type="boundary_line", entity_id=line.line_id,
                 before={"last_inspection": line.last_inspection},
                 after={"last_inspection": completed_on, "source": f"inspection:{inspection.id}"})
    return []


# ---------------------------------------------------------------- overdue (rule 35)


def _division_prefix(division: str) -> str:
    code = DivisionCode.parse(division)
    return {1: code.value[:2], 2: code.value[:4]}.get(code.level, code.value)


def overdue_lines(db: DB, today: dt.date | None = None, level: str | None = None,
                  division: str | None = None) -> list[OverdueLine]:
    """Current lines with last_inspection + cycle years before TODAY (Asia/Shanghai) or never inspected;
    never-inspected first, then the longest overdue. DIVISION keeps lines with a party in or under it."""
    today = today or today_shanghai()
    where, params = ["l.valid_to IS NULL"], {"today": today}
    if level is not None:
        if level not in LEVELS:
            raise _field("level", "must be one of " + ", ".join(LEVELS))
        where.append("l.level = :level")
        params["level"] = level
    if division is not None:
        where.append("(l.left_code LIKE :prefix OR l.right_code LIKE :prefix)")
        params["prefix"] = _division_prefix(division) + "%"
    rows = db.execute(text(f"""
        SELECT * FROM (
            SELECT l.line_id, l.name, l.level, l.left_code, l.right_code, l.last_inspection,
                   l.inspection_cycle_years AS cycle_years,
                   (l.last_inspection + make_interval(years => l.inspection_cycle_years))::date AS due_date,
                   (SELECT i.id FROM inspections i WHERE i.line_id = l.line_id AND i.kind = 'routine'
                      AND i.state IN ('planned', 'in_progress') ORDER BY i.round DESC LIMIT 1) AS open_inspection_id
            FROM boundary_lines l WHERE {' AND '.join(where)}) lines
        WHERE due_date IS NULL OR due_date < :today
        ORDER BY due_date NULLS FIRST, line_id
    """), params).all()
    return [OverdueLine(**(dict(r._mapping) | {"days_overdue": (today - r.due_date).days if r.due_date else None}))
            for r in rows]


# ---------------------------------------------------------------- repair tasks (rule 37)


def get_repair_task(db: DB, task_id: int, *, lock: bool = False) -> RepairTask:
    """One repair task; 404 if there is none."""
    row = db.execute(text(_TASK + " WHERE t.id = :id" + (" FOR UPDATE OF t" if lock else "")),
                     {"id": task_id}).first()
    if row is None:
        raise NotFound(f"repair task {task_id} does not exist")
    return RepairTask(**row._mapping)


def list_repair_tasks(db: DB, state: str | None = None, party: str | None = None, *, line_id: str | None = None,
                      limit: int = 50, after: int | None = None) -> Page:
    """Repair tasks by id, filtered by state, the party assigned to repair and the line."""
    if state is not None and state not in TASK_STATES:
        raise _field("state", "must be one of " + ", ".join(TASK_STATES))
    where, params = ["t.id > :after"], {"after": after or 0, "limit": min(max(limit, 1), MAX_PAGE) + 1}
    for condition, name, value in (("t.state = :state", "state", state),
                                   ("t.assigned_party = :party", "party", party),
                                   ("m.line_id = :line_id", "line_id", line_id)):
        if value is not None:
            where.append(condition)
            params[name] = value
    rows = db.execute(text(f"{_TASK} WHERE {' AND '.join(where)} ORDER BY t.id LIMIT :limit"), params).all()
    items = [RepairTask(**r._mapping) for r in rows[:params["limit"] - 1]]
    return Page(items, items[-1].id if len(rows) == params["limit"] else None)


def close_repair_task(db: DB, settings: Settings, task_id: int, *, neighbour_present: bool, note: str | None,
                      actor: str, lon: float | None = None, lat: float | None = None) -> RepairTask:
    """Close a repair task done with the neighbour present (§5.1 Art. 6); the marker is 完好 again.

    A 移位 repair restores the marker to its registered position, which the register still holds
    (findings never move it), so only the status changes. LON/LAT, if given, are where the repaired
    marker was measured: farther than the tolerance from the registered position is refused.
    """
    task = get_repair_task(db, task_id, lock=True)
    if task.state != "open":
        raise Conflict(f"repair task {task_id} is {task.state} already")
    if task.neighbour_presence_required and not neighbour_present:
        raise _field("neighbour_present", f"the repair must be done with the neighbour ({task.neighbour_party}) "
                     "present (界线条例 Art. 6)")
    note = _text(note, "note")
    marker = get_marker(db, number=task.marker_number)
    measured = _point(lon, lat)
    if measured is not None:
        moved = displacement_m(db, marker, *measured)
        tolerance = tolerance_m(settings, line_level(db, marker.line_id))
        if moved > tolerance:
            raise _field("lon", f"the repaired marker stands {moved:.2f} m from its registered position "
                         f"(tolerance {tolerance:g} m): re-erect it in place")
    change_marker(db, marker.id, {"status": "完好"}, source="repair", source_ref=f"repair_task:{task_id}",
                  actor=actor, reason=note or task.action)
    db.execute(text("UPDATE repair_tasks SET state = 'done', closed_at = now(), closed_by = :a, note = :n "
                    "WHERE id = :id"), {"a": actor, "n": note, "id": task_id})
    audit.record(db, actor=actor, action="close", entity_type="repair_task", entity_id=str(task_id),
                 before={"state": "open"}, after={"state": "done", "neighbour_present": bool(neighbour_present),
                                                  "note": note, "marker": task.marker_number})
    return get_repair_task(db, task_id)
