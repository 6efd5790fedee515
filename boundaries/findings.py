"""What a marker was found to be, applied to the register: displacement, 移位, repair tasks (rules 37–38).

Both routes to a finding (a joint-inspection record and an approved field check) come through
`apply_finding`, so they set status, history and repair tasks the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from boundaries.markers import Marker, change_marker, get_marker
from data import audit
from data.settings import Settings

# §5.3 condition handling, as the repair task's action.
ACTIONS = {
    "损坏": "管护方修复或重制，在相邻方在场时原位重新埋设",
    "丢失": "管护方重制，在相邻方在场时原位重新埋设",
    "移位": "双方共同恢复到原登记位置",
}


def line_level(session: Session, line_id: str) -> str:
    """The level (province, county, township) of a current line."""
    level = session.execute(text(
        "SELECT level FROM boundary_lines WHERE line_id = :id AND valid_to IS NULL"), {"id": line_id}).scalar()
    return level or "county"


def tolerance_m(settings: Settings, level: str) -> float:
    """The displacement tolerance and accuracy gate for a line level, in metres."""
    return float(settings.marker_tolerance_m.get(level, settings.marker_tolerance_m.get("county", 2.0)))


def displacement_m(session: Session, marker: Marker, lon: float, lat: float) -> float:
    """Geodesic distance in metres from the marker's registered position to (LON, LAT) in EPSG:4490."""
    return float(session.execute(text(
        "SELECT ST_Distance(geom::geography, ST_SetSRID(ST_MakePoint(:lon, :lat), 4490)::geography) "
        "FROM markers WHERE id = :id"), {"id": marker.id, "lon": lon, "lat": lat}).scalar_one())


def neighbour_of(session: Session, marker: Marker) -> str:
    """The other party of the marker's line (the one that is not the managing party)."""
    left, right = marker.line_id.split("-")
    return right if marker.managing_party == left else left


def open_repair_task(session: Session, marker: Marker, found_status: str, *, actor: str,
                     inspection_id: int | None = None, survey_record: str | None = None) -> int:
    """Open (or return the already open) repair task for MARKER, assigned to its managing party."""
    existing = session.execute(text(
        "SELECT id FROM repair_tasks WHERE marker_id = :m AND state = 'open'"), {"m": marker.id}).scalar()
    if existing is not None:
        return existing
    task_id = session.execute(text(
        "INSERT INTO repair_tasks (marker_id, found_status, action, assigned_party, neighbour_party, "
        "inspection_id, survey_record) VALUES (:m, :s, :a, :p, :n, :i, CAST(:r AS uuid)) RETURNING id"
    ), {"m": marker.id, "s": found_status, "a": ACTIONS[found_status], "p": marker.managing_party,
        "n": neighbour_of(session, marker), "i": inspection_id, "r": survey_record}).scalar_one()
    audit.record(session, actor=actor, action="create", entity_type="repair_task", entity_id=str(task_id),
                 after={"marker": marker.number, "found_status": found_status,
                        "assigned_party": marker.managing_party, "neighbour_presence_required": True})
    return task_id


@dataclass(frozen=True, slots=True)
class Finding:
    """What applying a finding did."""

    marker: Marker
    status: str
    displacement_m: float | None
    displaced: bool
    repair_task_id: int | None


def apply_finding(session: Session, settings: Settings, marker_number: str, status: str, *,
                  measured: tuple[float, float] | None = None, reference_objects_complete: bool | None = None,
                  source: str, source_ref: str | None, actor: str, inspection_id: int | None = None,
                  survey_record: str | None = None) -> Finding:
    """Set the marker's status from a finding; a measured position beyond the line level's tolerance
    makes an intact marker 移位 (rule 38); any status other than 完好 opens a repair task (rule 37)."""
    marker = get_marker(session, number=marker_number, lock=True)
    moved = displacement_m(session, marker, *measured) if measured is not None else None
    displaced = moved is not None and moved > tolerance_m(settings, line_level(session, marker.line_id))
    if displaced and status == "完好":
        status = "移位"
    changes: dict = {"status": status}
    if reference_objects_complete is not None:
        changes["reference_objects_complete"] = reference_objects_complete
    reason = f"measured {moved:.2f} m from the registered position" if moved is not None else None
    marker = change_marker(session, marker.id, changes, source=source, source_ref=source_ref,
                           actor=actor, reason=reason)
    task = None
    if status != "完好":
        task = open_repair_task(session, marker, status, actor=actor, inspection_id=inspection_id,
                                survey_record=survey_record)
    return Finding(marker, status, moved, displaced, task)
