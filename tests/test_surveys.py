"""Survey batches through the HTTP API: receipts, idempotency, per-record checks, conflicts, dry run."""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
import uuid

import pytest
from shapely.geometry import Point
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.deps import get_settings
from boundaries import surveys
from boundaries.markers import change_marker
from data.db import make_engine
from data.gcj02 import wgs84_to_gcj02
from tests.boundary_builders import add_line, add_markers, points_along
from tests.builders import staff_headers
from tests.survey_builders import (
    Field,
    batch,
    check,
    count,
    field_line,
    observation,
    outcome,
    photo,
    proposal,
    put,
    uploads_by,
)


@pytest.fixture
def field(client, session) -> Field:
    return field_line(client, session)


# ---- happy path and idempotency ---------------------------------------------------------------------------

def test_happy_path_batch_with_two_photos(client, session, field):
    photos = [b"\xff\xd8 photo one" * 50, b"\xff\xd8 photo two" * 60]
    record = check(field.markers[0], attachments=[photo(photos[0], "IMG_0001.jpg"), photo(photos[1], "IMG_0002.jpg")])
    batch_uuid = str(uuid.uuid4())
    response = put(client, field.headers, batch(record), batch_uuid)
    assert response.status_code == 201, response.text
    assert response.headers["location"].endswith(f"/v1/surveys/batches/{batch_uuid}")
    receipt = response.json()
    assert receipt["batch"] == batch_uuid and receipt["dry_run"] is False
    assert receipt["counts"] == {"total": 1, "accepted": 1, "flagged": 0, "rejected": 0, "duplicates": 0}
    assert receipt["records"][0]["outcome"] == "accepted" and receipt["records"][0]["reasons"] == []
    assert receipt["uploaded_by"] == field.username and receipt["surveyor"] == "张三"
    assert receipt["captured_at"] == "2026-11-20T01:30:00Z"
    assert "attachments_missing" not in receipt
    assert count(session, "survey_records", batch_uuid=batch_uuid) == 1
    assert count(session, "survey_record_attachments", record_uuid=record["uuid"]) == 2
    assert count(session, "audit_log", entity_type="survey_batch", entity_id=batch_uuid) == 1

    status = client.get(f"/v1/surveys/batches/{batch_uuid}", headers=field.headers).json()
    assert sorted(m["filename"] for m in status["attachments_missing"]) == ["IMG_0001.jpg", "IMG_0002.jpg"]
    assert status["records"][0]["review_state"] == "accepted"
    for content in photos:
        uploaded = client.put(f"/v1/attachments/{hashlib.sha256(content).hexdigest()}", content=content,
                              headers=field.headers | {"Content-Type": "image/jpeg"})
        assert uploaded.status_code == 201
    status = client.get(f"/v1/surveys/batches/{batch_uuid}", headers=field.headers).json()
    assert status["attachments_missing"] == [] and status["receipt"] == receipt


def test_retry_gets_the_byte_identical_receipt_and_changed_content_409(client, session, field):
    body = batch(check(field.markers[0]), check(field.markers[1], accuracy_m=9.0))
    batch_uuid = str(uuid.uuid4())
    first = put(client, field.headers, body, batch_uuid)
    assert first.status_code == 201
    again = put(client, field.headers, body, batch_uuid)
    assert again.status_code == 200 and again.content == first.content
    assert count(session, "survey_batches", uuid=batch_uuid) == 1
    assert count(session, "survey_records", batch_uuid=batch_uuid) == 2

    changed = json.loads(json.dumps(body))
    changed["records"][0]["status"] = "损坏"
    conflict = put(client, field.headers, changed, batch_uuid)
    assert conflict.status_code == 409 and conflict.headers["content-type"] == "application/problem+json"
    assert conflict.json()["stored_content_sha256"] == first.json()["content_sha256"]
    assert count(session, "survey_records", batch_uuid=batch_uuid) == 2
    assert session.execute(text("SELECT status FROM survey_records WHERE uuid = :u"),
                           {"u": body["records"][0]["uuid"]}).scalar_one() == "完好"


def test_equal_content_in_another_spelling_is_the_same_batch(client, field):
    record = check(field.markers[0], accuracy_m=1)
    body = batch(record)
    batch_uuid = str(uuid.uuid4())
    first = put(client, field.headers, body, batch_uuid)
    respelled = {"records": [dict(reversed(list(record.items()))) | {"accuracy_m": 1.0,
                                                                     "observed_at": "2026-11-20T01:42:00Z"}],
                 "captured_at": "2026-11-20T01:30:00+00:00", "surveyor": "张三", "device": "Pixel-7 / QField 3.4"}
    again = client.put(f"/v1/surveys/batches/{batch_uuid}", content=json.dumps(respelled, indent=4),
                       headers=field.headers | {"Content-Type": "application/json"})
    assert again.status_code == 200 and again.content == first.content


def test_a_record_uuid_in_another_batch_is_never_stored_twice(client, session, field):
    record = check(field.markers[0])
    first_batch = str(uuid.uuid4())
    assert put(client, field.headers, batch(record), first_batch).status_code == 201
    same = put(client, field.headers, batch(record, device="another phone"))
    assert same.status_code == 201
    assert outcome(same) == ("accepted", ["duplicate_record"])
    assert same.json()["records"][0]["duplicate_of"] == first_batch
    assert same.json()["counts"]["duplicates"] == 1
    reused = put(client, field.headers, batch(record | {"status": "损坏"}))
    assert outcome(reused) == ("rejected", ["record_uuid_reused"])
    assert count(session, "survey_records", uuid=record["uuid"]) == 1


def test_concurrent_identical_puts_store_one_batch(settings):
    """Two retries in flight on two connections: one stores, the other waits and returns the same receipt.

    Runs in a throw-away schema whose tables shadow the public ones (search_path), because the two
    transactions must commit to see each other; the schema is dropped afterwards.
    """
    engine = make_engine(settings, pool_size=3, max_overflow=0)
    schema = f"survey_race_{uuid.uuid4().hex[:10]}"
    tables = ("boundary_lines", "markers", "marker_history", "survey_batches", "survey_records",
              "survey_record_attachments", "survey_conflicts", "audit_log")
    try:
        with Session(engine) as s, s.begin():
            s.execute(text(f"CREATE SCHEMA {schema}"))
            for table in tables:
                s.execute(text(f"CREATE TABLE {schema}.{table} (LIKE public.{table} INCLUDING ALL)"))
            s.execute(text(f"SET LOCAL search_path TO {schema}, public"))
            line_id = add_line(s)
            markers = add_markers(s, line_id, 2)
        body = surveys.BatchIn.model_validate(batch(check(markers[0]), check(markers[1], status="损坏")))
        batch_uuid = uuid.uuid4()
        claimed, release, results, pids = threading.Event(), threading.Event(), {}, {}

        def upload(name: str) -> None:
            with Session(engine) as s, s.begin():
                s.execute(text(f"SET LOCAL search_path TO {schema}, public"))
                pids[name] = s.execute(text("SELECT pg_backend_pid()")).scalar_one()
                hold = (lambda _: (claimed.set(), release.wait(30))) if name == "first" else None
                results[name] = surveys.store_batch(s, settings, batch_uuid, body, actor="race", role="admin",
                                                    on_progress=hold)

        first = threading.Thread(target=upload, args=("first",))
        first.start()
        assert claimed.wait(30)
        second = threading.Thread(target=upload, args=("second",))
        second.start()
        with engine.connect() as watcher:   # wait until the second PUT blocks on the batch's primary key
            for _ in range(600):
                waiting = "second" in pids and watcher.execute(text(
                    "SELECT wait_event_type FROM pg_stat_activity WHERE pid = :p"), {"p": pids["second"]}).scalar()
                if waiting == "Lock":
                    break
                time.sleep(0.05)
        assert waiting == "Lock"
        release.set()
        first.join(30)
        second.join(30)
        assert results["first"].created and not results["second"].created
        assert surveys.receipt_bytes(results["first"].receipt) == surveys.receipt_bytes(results["second"].receipt)
        with engine.connect() as conn:
            stored = conn.execute(text(f"SELECT count(*) FROM {schema}.survey_batches")).scalar_one()
            records = conn.execute(text(f"SELECT count(*) FROM {schema}.survey_records")).scalar_one()
        assert (stored, records) == (1, 2)
    finally:
        release.set()
        with engine.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        engine.dispose()


def test_dry_run_stores_nothing(client, session, field):
    marker = field.markers[0]
    change_marker(session, marker.id, {"status": "损坏"}, source="manual", actor="test")
    body = batch(check(marker))
    batch_uuid = str(uuid.uuid4())
    dry = put(client, field.headers, body, batch_uuid, dry_run="true")
    assert dry.status_code == 200 and dry.json()["dry_run"] is True
    assert outcome(dry) == ("flagged", ["conflict_hard"]) and dry.json()["records"][0]["conflict"]["id"] is None
    assert count(session, "survey_batches", uuid=batch_uuid) == 0
    assert count(session, "survey_records", batch_uuid=batch_uuid) == 0
    assert count(session, "survey_conflicts", marker_id=marker.id) == 0
    assert count(session, "audit_log", entity_type="survey_batch", entity_id=batch_uuid) == 0
    real = put(client, field.headers, body, batch_uuid)
    assert real.status_code == 201 and real.json()["dry_run"] is False
    assert count(session, "survey_conflicts", marker_id=marker.id) == 1


# ---- per-record checks -------------------------------------------------------------------------------------

def test_schema_failures_reject_the_whole_batch(client, session, field):
    good = check(field.markers[0])
    for body in (batch(good, colour="red"), batch(good | {"kind": "marker_visit"}),
                 batch(good | {"observed_at": "2026-11-20T09:42:00"}), batch(),
                 batch(good, good), batch(good | {"accuracy_m": -1}),
                 batch(good | {"position": {"type": "Point", "coordinates": ["120", "30"]}})):
        response = put(client, field.headers, body)
        assert response.status_code == 422, body
        assert response.headers["content-type"] == "application/problem+json"
    assert uploads_by(session, field.username) == (0, 0)


def rejected_for(client, field, record: dict) -> list[str]:
    response = put(client, field.headers, batch(record, check(field.markers[2])))
    assert response.status_code == 201, response.text
    assert outcome(response, 1) == ("accepted", [])        # the other record goes on
    result, codes = outcome(response)
    assert result == "rejected", codes
    return codes


def test_kind_fields(client, field):
    assert rejected_for(client, field, check(field.markers[0], base_version=None)) == ["missing_field"]
    assert rejected_for(client, field, check(field.markers[0], status=None)) == ["missing_field"]
    assert rejected_for(client, field, observation(field.line_id, points_along_line(field)[0],
                                                   status="完好")) == ["unexpected_field"]
    assert "missing_field" in rejected_for(client, field, observation(None, points_along_line(field)[0]))


def points_along_line(field: Field) -> list[tuple[float, float]]:
    return [(m.lon, m.lat) for m in field.markers]


def test_datums(client, session, field):
    assert rejected_for(client, field, check(field.markers[0], datum=None)) == ["missing_datum"]
    legacy = put(client, field.headers, batch(check(field.markers[0], datum="Xian80")))
    assert outcome(legacy) == ("rejected", ["unsupported_datum"])
    assert "transformation parameters" in legacy.json()["records"][0]["reasons"][0]["message"]
    assert rejected_for(client, field, check(field.markers[0], datum="Beijing54")) == ["unsupported_datum"]
    assert rejected_for(client, field, check(field.markers[0], datum="ED50")) == ["unsupported_datum"]

    marker = field.markers[1]
    wgs = check(marker, datum="WGS84")
    assert outcome(put(client, field.headers, batch(wgs))) == ("accepted", [])
    stored = session.execute(text("SELECT datum, ST_X(geom) AS x, ST_Y(geom) AS y, position FROM survey_records "
                                  "WHERE uuid = :u"), {"u": wgs["uuid"]}).one()
    assert stored.datum == "WGS84" and stored.position["coordinates"] == [marker.lon, marker.lat]
    assert math.isclose(stored.x, marker.lon, abs_tol=1e-7) and math.isclose(stored.y, marker.lat, abs_tol=1e-7)

    gx, gy = wgs84_to_gcj02(marker.lon, marker.lat)
    gcj = check(marker, datum="GCJ02", position={"type": "Point", "coordinates": [float(gx), float(gy)]})
    response = put(client, field.headers, batch(gcj))
    assert outcome(response) == ("accepted", [])
    assert response.json()["records"][0]["displacement_m"] < 0.01     # converted back onto the marker
    stored = session.execute(text("SELECT datum, ST_X(geom) AS x, ST_Y(geom) AS y FROM survey_records "
                                  "WHERE uuid = :u"), {"u": gcj["uuid"]}).one()
    assert stored.datum == "GCJ02" and math.isclose(stored.x, marker.lon, abs_tol=1e-7)


@pytest.mark.parametrize("position", [
    {"type": "Point", "coordinates": [190.0, 30.0]},
    {"type": "Point", "coordinates": [120.0]},
    {"type": "LineString", "coordinates": [[120.15, 30.26], [120.16, 30.26]]},   # not for a check
    {"type": "Polygon", "coordinates": [[[120.15, 30.26], [120.16, 30.26], [120.16, 30.27], [120.15, 30.26]]]},
])
def test_invalid_geometry_of_a_check(client, field, position):
    assert rejected_for(client, field, check(field.markers[0], position=position)) == ["invalid_geometry"]


def test_self_intersecting_and_non_finite_geometry(client, field):
    lon, lat = field.markers[0].lon, field.markers[0].lat
    bowtie = [(lon, lat), (lon + 0.001, lat + 0.001), (lon + 0.001, lat), (lon, lat + 0.001)]
    assert rejected_for(client, field, observation(field.line_id, bowtie)) == ["invalid_geometry"]
    section = [(m.lon, m.lat) for m in field.markers]
    body = batch(observation(field.line_id, section), check(field.markers[1]))
    assert [outcome(put(client, field.headers, body), i)[0] for i in (0, 1)] == ["accepted", "accepted"]
    nan_body = json.dumps(batch(check(field.markers[0]))).replace(f"[{lon}, {lat}]", f"[NaN, {lat}]")
    assert "NaN" in nan_body
    response = client.put(f"/v1/surveys/batches/{uuid.uuid4()}", content=nan_body,
                          headers=field.headers | {"Content-Type": "application/json"})
    assert response.status_code == 201 and outcome(response) == ("rejected", ["invalid_geometry"])


def test_markers_and_lines_must_exist_and_agree(client, session, field):
    assert rejected_for(client, field, check(field.markers[0], marker="T01-001Q")) == ["malformed_number"]
    assert rejected_for(client, field, check(field.markers[0], marker="T001000Q")) == ["malformed_number"]
    assert rejected_for(client, field, check(field.markers[0], marker="T001099Q")) == ["unknown_marker"]
    assert rejected_for(client, field, check(field.markers[0], line_id="330522-330523")) == ["line_mismatch"]
    assert rejected_for(client, field, observation("330503-330523", points_along_line(field)[0])) == [
        "unknown_line"]
    assert rejected_for(client, field, check(field.markers[0], base_version=7)) == ["unknown_base_version"]


def test_a_check_naming_its_own_line_is_accepted(client, field):
    response = put(client, field.headers, batch(check(field.markers[0], line_id=field.line_id)))
    assert outcome(response) == ("accepted", [])


def test_surveyor_must_be_assigned_but_reviewers_need_not(client, session, field):
    other = staff_headers(client, session, "surveyor", "surveyor-li")
    response = put(client, other, batch(check(field.markers[0])))
    assert outcome(response) == ("rejected", ["not_assigned"])
    reviewer = staff_headers(client, session, "reviewer", "reviewer-wang")
    assert outcome(put(client, reviewer, batch(check(field.markers[0])))) == ("accepted", [])
    applicant = staff_headers(client, session, "applicant", "applicant-zhao")
    assert put(client, applicant, batch(check(field.markers[0]))).status_code == 403
    assert put(client, {}, batch(check(field.markers[0]))).status_code == 401


def test_positions_outside_both_parties_are_rejected(client, field):
    far = {"type": "Point", "coordinates": [121.47, 31.23]}   # 上海
    assert rejected_for(client, field, check(field.markers[0], position=far)) == ["outside_parties"]
    assert rejected_for(client, field, proposal(field.line_id, 120.6, 30.0)) == ["outside_parties"]
    nearby = proposal(field.line_id, field.markers[0].lon, field.markers[0].lat + 0.003)   # ~330 m off the line
    assert outcome(put(client, field.headers, batch(nearby))) == ("accepted", [])


def test_attachment_checks(client, session, field):
    content = b"a stored photo"
    assert client.put(f"/v1/attachments/{hashlib.sha256(content).hexdigest()}", content=content,
                      headers=field.headers).status_code == 201
    wrong_size = photo(content, "IMG_1.jpg") | {"size": len(content) + 1}
    assert rejected_for(client, field, check(field.markers[0], attachments=[wrong_size])) == ["attachment_mismatch"]
    for bad in ({"sha256": "XYZ"}, {"size": 0}, {"filename": "  "}):
        ref = photo(b"not yet uploaded", "IMG_2.jpg") | bad
        assert rejected_for(client, field, check(field.markers[0], attachments=[ref])) == ["invalid_attachment"]
    twice = [photo(content, "a.jpg"), photo(content, "b.jpg")]
    assert rejected_for(client, field, check(field.markers[0], attachments=twice)) == ["invalid_attachment"]
    later = photo(b"arrives later", "IMG_3.jpg")
    response = put(client, field.headers, batch(check(field.markers[0], attachments=[later])))
    assert outcome(response) == ("accepted", [])
    status = client.get(f"/v1/surveys/batches/{response.json()['batch']}", headers=field.headers).json()
    assert [m["sha256"] for m in status["attachments_missing"]] == [later["sha256"]]


def test_accuracy_gate_and_displacement_flag(client, session, field):
    response = put(client, field.headers, batch(
        check(field.markers[0], accuracy_m=3.5),
        check(field.markers[1], dlat=0.00005),
        check(field.markers[2], accuracy_m=None)))
    assert response.status_code == 201
    assert outcome(response, 0) == ("flagged", ["low_accuracy"])
    assert outcome(response, 1) == ("flagged", ["displaced"])
    displaced = response.json()["records"][1]
    assert 5 < displaced["displacement_m"] < 6.5 and "5." in displaced["reasons"][0]["message"]
    assert outcome(response, 2) == ("flagged", ["accuracy_unknown"])
    states = session.execute(text("SELECT review_state FROM survey_records WHERE batch_uuid = :b"),
                             {"b": response.json()["batch"]}).scalars().all()
    assert states == ["flagged"] * 3


def test_soft_and_hard_conflicts(client, session, field):
    soft_marker, hard_marker = field.markers[0], field.markers[1]
    soft = check(soft_marker)                                  # made on version 1
    hard = check(hard_marker)
    change_marker(session, soft_marker.id, {"reference_objects": [{"name": "电杆", "bearing_deg": 45,
                                                                   "distance_m": 12.5}]},
                  source="manual", actor="test")               # a field the check does not set
    change_marker(session, hard_marker.id, {"status": "损坏"}, source="manual", actor="test")
    response = put(client, field.headers, batch(soft, hard))
    assert outcome(response, 0) == ("flagged", ["conflict_soft"])
    assert outcome(response, 1) == ("flagged", ["conflict_hard"])
    hard_entry = response.json()["records"][1]["conflict"]
    assert hard_entry["fields"] == ["status"] and (hard_entry["base_version"], hard_entry["current_version"]) == (1, 2)
    rows = session.execute(text("SELECT record_uuid::text, kind, fields, state FROM survey_conflicts "
                                "ORDER BY id")).all()
    assert [(r.record_uuid, r.kind, list(r.fields), r.state) for r in rows] == [
        (soft["uuid"], "soft", [], "open"), (hard["uuid"], "hard", ["status"], "open")]
    statuses = session.execute(text("SELECT status FROM markers WHERE id = ANY(:ids) ORDER BY id"),
                               {"ids": [soft_marker.id, hard_marker.id]}).scalars().all()
    assert statuses == ["完好", "损坏"]                           # nothing overwritten


def test_unknown_inspection_and_too_many_records(client, session, field):
    response = put(client, field.headers, batch(check(field.markers[0]), inspection_id=987654321))
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "inspection_id"
    client.app.dependency_overrides[get_settings] = lambda: client.app.state.settings.model_copy(
        update={"survey_max_records": 2})
    try:
        response = put(client, field.headers, batch(*(check(m) for m in field.markers)))
    finally:
        client.app.dependency_overrides.pop(get_settings)
    assert response.status_code == 422 and "at most 2 records" in response.json()["detail"]
    assert uploads_by(session, field.username) == (0, 0)


def test_batch_lists_and_who_sees_them(client, session, field):
    uploaded = [put(client, field.headers, batch(check(m))).json()["batch"] for m in field.markers]
    listed = client.get("/v1/surveys/batches", params={"limit": 2}, headers=field.headers).json()
    assert len(listed["items"]) == 2 and listed["next"] is not None
    rest = client.get(listed["next"], headers=field.headers).json()
    assert sorted(i["uuid"] for i in listed["items"] + rest["items"]) == sorted(uploaded)
    assert rest["next"] is None

    other = staff_headers(client, session, "surveyor", "surveyor-li")
    assert client.get(f"/v1/surveys/batches/{uploaded[0]}", headers=other).status_code == 403
    assert client.get("/v1/surveys/batches", headers=other).json()["items"] == []
    assert client.get("/v1/surveys/batches", params={"surveyor": field.username}, headers=other).status_code == 403
    reviewer = staff_headers(client, session, "reviewer", "reviewer-wang")
    mine = client.get("/v1/surveys/batches", params={"surveyor": field.username}, headers=reviewer).json()
    assert len(mine["items"]) == 3 and mine["items"][0]["counts"]["accepted"] == 1
    future = client.get("/v1/surveys/batches", params={"since": "2999-01-01T00:00:00Z"}, headers=reviewer).json()
    assert future["items"] == []
    assert client.get(f"/v1/surveys/batches/{uuid.uuid4()}", headers=reviewer).status_code == 404
    assert client.get("/v1/surveys/batches", params={"after": "nonsense"}, headers=reviewer).status_code == 422


def test_points_along_builder_line_are_inside_the_parties(session):
    line_id = add_line(session)
    for lon, lat in points_along(session, line_id, 5):
        assert surveys.within_parties(session, line_id, Point(lon, lat))
