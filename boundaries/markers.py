"""Boundary markers (界桩): numbers (§5.3), registration, and versioned changes with history.

Every change to a marker goes through `change_marker`, which bumps `markers.version` and writes one
`marker_history` row with the fields changed, so a stale `base_version` can be compared field by
field (rule 37/38 handling and the field-upload conflicts both rely on it).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from data import audit
from data.errors import Conflict, InvalidInput, NotFound

STATUSES = ("完好", "损坏", "丢失", "移位")
TYPES = {"单立": ("Q",), "同号双立": ("A", "B"), "同号三立": ("C", "D", "E"), "三交点": ("Q", "C", "D", "E")}
NUMBER = re.compile(r"^([0-9A-Z]{4})([0-9]{3})([QABCDE])$")
# Fields a change may touch; the position is kept as (lon, lat) in EPSG:4490.
CHANGEABLE = ("status", "position", "reference_objects", "reference_objects_complete", "precision_m",
              "source_datum", "managing_party", "retired_on")


@dataclass(frozen=True, slots=True)
class MarkerNumber:
    """The three parts of an 8-character marker number."""

    line_number: str
    seq: int
    type_code: str

    def __str__(self) -> str:
        return f"{self.line_number}{self.seq:03d}{self.type_code}"


def parse_number(number: str) -> MarkerNumber:
    """Split a marker number (line number + 3-digit sequence + type code); 422 if malformed."""
    match = NUMBER.match(number or "")
    if not match or match.group(2) == "000":
        raise InvalidInput(f"marker number {number!r} must be 4 characters of line number, a sequence "
                           "001–999 and a type code Q, A, B, C, D or E (e.g. 3334012Q)",
                           errors=[{"field": "number", "message": "malformed marker number"}])
    return MarkerNumber(match.group(1), int(match.group(2)), match.group(3))


@dataclass(frozen=True, slots=True)
class Marker:
    """A marker as the rest of the system sees it."""

    id: int
    number: str
    line_id: str
    seq: int
    type: str
    type_code: str
    side_code: str | None
    tri_junction_id: str | None
    lon: float
    lat: float
    source_datum: str
    precision_m: float | None
    managing_party: str
    reference_objects: list[dict[str, Any]]
    reference_objects_complete: bool
    status: str
    version: int


_SELECT = """
SELECT id, number, line_id, seq, type, type_code, side_code, tri_junction_id,
       ST_X(geom) AS lon, ST_Y(geom) AS lat, source_datum, precision_m, managing_party,
       reference_objects, reference_objects_complete, status, version
FROM markers
"""


def get_marker(session: Session, *, number: str | None = None, marker_id: int | None = None,
               lock: bool = False) -> Marker:
    """One marker by number or id; 404 if there is none. LOCK takes a row lock for a change."""
    where = "number = :key" if number is not None else "id = :key"
    sql = _SELECT + f"WHERE {where}" + (" FOR UPDATE" if lock else "")
    row = session.execute(text(sql), {"key": number if number is not None else marker_id}).mappings().first()
    if row is None:
        raise NotFound(f"marker {number or marker_id} does not exist")
    return Marker(**row)


def _state(marker: Marker) -> dict[str, Any]:
    return {"status": marker.status, "position": [marker.lon, marker.lat],
            "reference_objects": marker.reference_objects,
            "reference_objects_complete": marker.reference_objects_complete,
            "precision_m": marker.precision_m, "source_datum": marker.source_datum,
            "managing_party": marker.managing_party, "retired_on": None}


def change_marker(session: Session, marker_id: int, changes: dict[str, Any], *, source: str, actor: str,
                  source_ref: str | None = None, reason: str | None = None) -> Marker:
    """Apply CHANGES (a subset of CHANGEABLE), bump the version, write history and audit; returns the marker.

    Fields whose value does not change are dropped; a change with nothing left is a no-op.
    """
    unknown = sorted(set(changes) - set(CHANGEABLE))
    if unknown:
        raise InvalidInput(f"cannot change {', '.join(unknown)}",
                           errors=[{"field": f, "message": "not a changeable marker field"} for f in unknown])
    if "status" in changes and changes["status"] not in STATUSES:
        raise InvalidInput(f"status must be one of {'、'.join(STATUSES)}",
                           errors=[{"field": "status", "message": f"unknown status {changes['status']!r}"}])
    marker = get_marker(session, marker_id=marker_id, lock=True)
    before = _state(marker)
    diff = {k: [before.get(k), v] for k, v in changes.items() if before.get(k) != v}
    if not diff:
        return marker
    _update(session, marker, {k: v for k, (_, v) in diff.items()})
    updated = get_marker(session, marker_id=marker_id)
    _history(session, updated, diff, source=source, source_ref=source_ref, reason=reason, actor=actor)
    audit.record(session, actor=actor, action="change", entity_type="marker", entity_id=marker.number,
                 before={k: b for k, (b, _) in diff.items()}, after={k: a for k, (_, a) in diff.items()}
                 | {"version": updated.version, "source": source, "source_ref": source_ref})
    return updated


def _update(session: Session, marker: Marker, values: dict[str, Any]) -> None:
    sets, params = ["version = version + 1", "updated_at = now()"], {"id": marker.id}
    for field, value in values.items():
        if field == "position":
            sets.append("geom = ST_SetSRID(ST_MakePoint(:lon, :lat), 4490)")
            params["lon"], params["lat"] = float(value[0]), float(value[1])
        elif field == "reference_objects":
            sets.append("reference_objects = CAST(:reference_objects AS jsonb)")
            params["reference_objects"] = json.dumps(value, ensure_ascii=False)
        else:
            sets.append(f"{field} = :{field}")
            params[field] = value
    session.execute(text(f"UPDATE markers SET {', '.join(sets)} WHERE id = :id"), params)


def _history(session: Session, marker: Marker, diff: dict[str, Any], *, source: str, source_ref: str | None,
             reason: str | None, actor: str) -> None:
    session.execute(text(
        "INSERT INTO marker_history (marker_id, version, changed, status, geom, source, source_ref, reason, actor) "
        "VALUES (:id, :version, CAST(:changed AS jsonb), :status, ST_SetSRID(ST_MakePoint(:lon, :lat), 4490), "
        ":source, :source_ref, :reason, :actor)"
    ), {"id": marker.id, "version": marker.version, "changed": json.dumps(diff, ensure_ascii=False, default=str),
        "status": marker.status, "lon": marker.lon, "lat": marker.lat, "source": source,
        "source_ref": source_ref, "reason": reason, "actor": actor})


def fields_changed_since(session: Session, marker_id: int, base_version: int) -> set[str]:
    """The fields changed by the versions after BASE_VERSION (for soft/hard conflict detection)."""
    rows = session.execute(text(
        "SELECT changed FROM marker_history WHERE marker_id = :id AND version > :base"
    ), {"id": marker_id, "base": base_version}).scalars()
    return {field for changed in rows for field in changed}


@dataclass(frozen=True, slots=True)
class NewMarker:
    """What registering a marker needs; position in EPSG:4490 (lon, lat)."""

    number: str
    line_id: str
    type: str
    lon: float
    lat: float
    managing_party: str
    source_datum: str = "CGCS2000"
    precision_m: float | None = None
    side_code: str | None = None
    tri_junction_id: str | None = None
    reference_objects: tuple[dict[str, Any], ...] = ()
    erected_on: str | None = None


def register_marker(session: Session, new: NewMarker, *, actor: str, source: str = "register",
                    source_ref: str | None = None) -> Marker:
    """Insert a marker (version 1) with its first history row; 409 if the number is taken."""
    number = parse_number(new.number)
    if new.type not in TYPES or number.type_code not in TYPES[new.type]:
        raise InvalidInput(f"type code {number.type_code} does not fit marker type {new.type!r}",
                           errors=[{"field": "type", "message": "type and type code disagree"}])
    if session.execute(text("SELECT 1 FROM markers WHERE number = :n"), {"n": new.number}).first():
        raise Conflict(f"marker {new.number} exists already")
    marker_id = session.execute(text(
        "INSERT INTO markers (number, line_id, seq, type, type_code, side_code, tri_junction_id, geom, "
        "source_datum, precision_m, managing_party, reference_objects, erected_on) "
        "VALUES (:number, :line_id, :seq, :type, :code, :side, :tri, ST_SetSRID(ST_MakePoint(:lon, :lat), 4490), "
        ":datum, :precision, :party, CAST(:refs AS jsonb), CAST(:erected AS date)) RETURNING id"
    ), {"number": new.number, "line_id": new.line_id, "seq": number.seq, "type": new.type,
        "code": number.type_code, "side": new.side_code, "tri": new.tri_junction_id, "lon": new.lon,
        "lat": new.lat, "datum": new.source_datum, "precision": new.precision_m, "party": new.managing_party,
        "refs": json.dumps(list(new.reference_objects), ensure_ascii=False), "erected": new.erected_on}).scalar_one()
    marker = get_marker(session, marker_id=marker_id)
    _history(session, marker, {"registered": [None, new.number]}, source=source, source_ref=source_ref,
             reason=None, actor=actor)
    audit.record(session, actor=actor, action="create", entity_type="marker", entity_id=new.number,
                 after=_state(marker) | {"line_id": new.line_id, "type": new.type})
    return marker
