"""Field-upload builders: a surveyor on a builder line, records of each kind, batches, photos, PUT.

Shared by the survey, review, import and end-to-end boundary tests.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

from sqlalchemy import text

from boundaries.markers import Marker
from tests.boundary_builders import add_line, add_markers
from tests.builders import staff_headers

OBSERVED = "2026-11-20T09:42:00+08:00"


@dataclass
class Field:
    """A builder line with three markers and a surveyor assigned to it."""

    line_id: str
    markers: list[Marker]
    headers: dict[str, str]
    username: str


def assign(session, line_id: str, username: str) -> None:
    session.execute(text("INSERT INTO line_assignments (line_id, username, assigned_by) VALUES (:l, :u, 'test')"),
                    {"l": line_id, "u": username})


def field_line(client, session, username: str = "surveyor-zhang", *, assigned: bool = True) -> Field:
    line_id = add_line(session)
    markers = add_markers(session, line_id, 3)
    headers = staff_headers(client, session, "surveyor", username)
    if assigned:
        assign(session, line_id, username)
    return Field(line_id, markers, headers, username)


def check(marker: Marker, /, *, dlat: float = 0.0, **overrides) -> dict:
    """A marker_check standing on the marker (DLAT degrees north of it)."""
    body = {"uuid": str(uuid.uuid4()), "kind": "marker_check", "marker": marker.number,
            "base_version": marker.version, "status": "完好", "reference_objects_complete": True,
            "position": {"type": "Point", "coordinates": [marker.lon, marker.lat + dlat]},
            "accuracy_m": 0.5, "datum": "CGCS2000", "observed_at": OBSERVED, "notes": "界桩完好"}
    return body | overrides


def observation(line_id: str, coordinates, **overrides) -> dict:
    kind = "LineString" if isinstance(coordinates[0], (list, tuple)) else "Point"
    body = {"uuid": str(uuid.uuid4()), "kind": "line_observation", "line_id": line_id,
            "position": {"type": kind, "coordinates": [list(c) for c in coordinates] if kind == "LineString"
                         else list(coordinates)},
            "accuracy_m": 0.5, "datum": "CGCS2000", "observed_at": OBSERVED, "notes": "界线清晰"}
    return body | overrides


def proposal(line_id: str, lon: float, lat: float, **overrides) -> dict:
    body = {"uuid": str(uuid.uuid4()), "kind": "marker_proposal", "line_id": line_id,
            "position": {"type": "Point", "coordinates": [lon, lat]}, "accuracy_m": 0.5, "datum": "CGCS2000",
            "observed_at": OBSERVED, "notes": "发现未登记界桩"}
    return body | overrides


def batch(*records: dict, **overrides) -> dict:
    body = {"device": "Pixel-7 / QField 3.4", "surveyor": "张三", "captured_at": "2026-11-20T09:30:00+08:00",
            "inspection_id": None, "records": list(records)}
    return body | overrides


def photo(content: bytes, filename: str, media_type: str = "image/jpeg") -> dict:
    return {"sha256": hashlib.sha256(content).hexdigest(), "filename": filename, "size": len(content),
            "media_type": media_type}


def put(client, headers, body: dict, batch_uuid: str | None = None, **params):
    batch_uuid = batch_uuid or str(uuid.uuid4())
    return client.put(f"/v1/surveys/batches/{batch_uuid}", json=body, headers=headers, params=params)


def outcome(response, index: int = 0) -> tuple[str, list[str]]:
    entry = response.json()["records"][index]
    return entry["outcome"], [r["code"] for r in entry["reasons"]]


def count(session, table: str, **where) -> int:
    clause = " AND ".join(f"{k} = :{k}" for k in where) or "true"
    return session.execute(text(f"SELECT count(*) FROM {table} WHERE {clause}"), where).scalar_one()


def uploads_by(session, surveyor: str) -> tuple[int, int]:
    """(batches, records) stored from SURVEYOR's account: the test's own, whatever else the database holds."""
    row = session.execute(text(
        "SELECT count(DISTINCT b.uuid), count(r.uuid) FROM survey_batches b "
        "LEFT JOIN survey_records r ON r.batch_uuid = b.uuid WHERE b.surveyor = :s"), {"s": surveyor}).one()
    return row[0], row[1]
