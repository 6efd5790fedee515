"""Reviewing survey records through the HTTP API: approve applies findings, reject changes nothing, conflicts."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import text

from boundaries.markers import change_marker, get_marker
from tests.builders import staff_headers
from tests.survey_builders import batch, check, count, field_line, observation, photo, proposal, put


@pytest.fixture
def field(client, session):
    return field_line(client, session)


@pytest.fixture
def reviewer(client, session):
    return staff_headers(client, session, "reviewer", "reviewer-wang")


def review(client, headers, record: dict, decision: str = "approve", note: str | None = None):
    return client.post(f"/v1/surveys/records/{record['uuid']}/review", json={"decision": decision, "note": note},
                       headers=headers)


def history(session, marker_id: int) -> list[tuple]:
    return [tuple(r) for r in session.execute(text(
        "SELECT version, status, source, source_ref FROM marker_history WHERE marker_id = :m ORDER BY version"),
        {"m": marker_id})]


def open_tasks(session, marker_id: int) -> list[tuple]:
    return [tuple(r) for r in session.execute(text(
        "SELECT found_status, assigned_party, neighbour_party, survey_record::text FROM repair_tasks "
        "WHERE marker_id = :m AND state = 'open'"), {"m": marker_id})]


def upload(client, headers, content: bytes) -> None:
    response = client.put(f"/v1/attachments/{hashlib.sha256(content).hexdigest()}", content=content,
                          headers=headers | {"Content-Type": "image/jpeg"})
    assert response.status_code in (200, 201)


def test_approval_applies_the_status_with_history_repair_task_and_photos(client, session, field, reviewer):
    marker = field.markers[0]
    picture = b"\xff\xd8 damaged marker" * 40
    record = check(marker, status="损坏", reference_objects_complete=False,
                   attachments=[photo(picture, "IMG_0007.jpg")])
    assert put(client, field.headers, batch(record)).status_code == 201
    upload(client, field.headers, picture)
    response = review(client, reviewer, record, note="照片清楚")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["review_state"], body["marker"], body["marker_status"], body["marker_version"]) == (
        "approved", marker.number, "损坏", 2)
    now = get_marker(session, marker_id=marker.id)
    assert (now.status, now.reference_objects_complete, now.version) == ("损坏", False, 2)
    assert history(session, marker.id)[-1] == (2, "损坏", "survey", f"survey:{record['uuid']}")
    left, right = field.line_id.split("-")
    assert open_tasks(session, marker.id) == [("损坏", marker.managing_party, right, record["uuid"])]
    assert body["repair_task_id"] is not None
    assert session.execute(text("SELECT filename FROM marker_photos WHERE marker_id = :m"),
                           {"m": marker.id}).scalars().all() == ["IMG_0007.jpg"]
    stored = session.execute(text("SELECT review_state, reviewed_by, review_note FROM survey_records WHERE uuid = :u"),
                             {"u": record["uuid"]}).one()
    assert tuple(stored) == ("approved", "reviewer-wang", "照片清楚")
    assert count(session, "audit_log", entity_type="survey_record", entity_id=record["uuid"]) == 1
    assert review(client, reviewer, record).status_code == 409          # reviewing twice


def test_an_intact_check_measured_beyond_tolerance_becomes_displaced(client, session, field, reviewer):
    marker = field.markers[1]
    record = check(marker, dlat=0.0001)                                  # ~11 m north
    assert put(client, field.headers, batch(record)).json()["records"][0]["reasons"][0]["code"] == "displaced"
    body = review(client, reviewer, record).json()
    assert body["marker_status"] == "移位" and get_marker(session, marker_id=marker.id).status == "移位"
    assert open_tasks(session, marker.id)[0][0] == "移位"


def test_rejection_stores_the_note_and_changes_nothing(client, session, field, reviewer):
    marker = field.markers[0]
    record = check(marker, status="丢失")
    put(client, field.headers, batch(record))
    response = review(client, reviewer, record, "reject", "照片不是这个界桩")
    assert response.status_code == 200 and response.json()["review_state"] == "rejected"
    assert get_marker(session, marker_id=marker.id).status == "完好"
    assert history(session, marker.id) == [(1, "完好", "register", None)]
    assert open_tasks(session, marker.id) == []
    note = session.execute(text("SELECT review_note FROM survey_records WHERE uuid = :u"),
                           {"u": record["uuid"]}).scalar_one()
    assert note == "照片不是这个界桩"
    assert review(client, reviewer, record, "approve").status_code == 409


def test_only_reviewers_review(client, session, field):
    record = check(field.markers[0])
    put(client, field.headers, batch(record))
    assert review(client, field.headers, record).status_code == 403
    approver = staff_headers(client, session, "approver", "approver-chen")
    assert review(client, approver, record).status_code == 403
    admin = staff_headers(client, session, "admin", "admin-sun")
    assert review(client, admin, record).status_code == 200


def test_missing_photos_block_approval(client, session, field, reviewer):
    picture = b"\xff\xd8 still on the phone"
    record = check(field.markers[0], status="损坏", attachments=[photo(picture, "IMG_0009.jpg")])
    put(client, field.headers, batch(record))
    blocked = review(client, reviewer, record)
    assert blocked.status_code == 409
    assert [m["filename"] for m in blocked.json()["attachments_missing"]] == ["IMG_0009.jpg"]
    assert get_marker(session, marker_id=field.markers[0].id).status == "完好"
    upload(client, field.headers, picture)
    assert review(client, reviewer, record).status_code == 200


def test_a_hard_conflict_must_be_resolved_first(client, session, field, reviewer):
    marker = field.markers[0]
    record = check(marker, status="完好")
    change_marker(session, marker.id, {"status": "损坏"}, source="manual", actor="office")
    put(client, field.headers, batch(record))
    blocked = review(client, reviewer, record)
    assert blocked.status_code == 409
    conflict_id = blocked.json()["conflict_id"]
    assert f"/v1/surveys/conflicts/{conflict_id}/resolve" in blocked.json()["detail"]
    assert get_marker(session, marker_id=marker.id).status == "损坏"

    listed = client.get("/v1/surveys/conflicts", params={"state": "open"}, headers=reviewer).json()["items"]
    assert [(c["id"], c["kind"], c["marker"], c["fields"]) for c in listed] == [
        (conflict_id, "hard", marker.number, ["status"])]
    resolved = client.post(f"/v1/surveys/conflicts/{conflict_id}/resolve",
                           json={"resolution": "apply", "note": "现场复核为完好"}, headers=reviewer)
    assert resolved.status_code == 200, resolved.text
    now = get_marker(session, marker_id=marker.id)
    assert (now.status, now.version) == ("完好", 3)
    assert client.get("/v1/surveys/conflicts", params={"state": "open"}, headers=reviewer).json()["items"] == []
    row = session.execute(text("SELECT state, resolution, resolved_by FROM survey_conflicts WHERE id = :i"),
                          {"i": conflict_id}).one()
    assert tuple(row) == ("resolved", "apply", "reviewer-wang")
    again = client.post(f"/v1/surveys/conflicts/{conflict_id}/resolve", json={"resolution": "apply"},
                        headers=reviewer)
    assert again.status_code == 409


def test_discarding_a_conflict_rejects_the_record(client, session, field, reviewer):
    marker = field.markers[0]
    record = check(marker, status="丢失")
    change_marker(session, marker.id, {"status": "损坏"}, source="manual", actor="office")
    receipt = put(client, field.headers, batch(record)).json()
    conflict_id = receipt["records"][0]["conflict"]["id"]
    response = client.post(f"/v1/surveys/conflicts/{conflict_id}/resolve", json={"resolution": "discard"},
                           headers=reviewer)
    assert response.status_code == 200 and response.json()["review_state"] == "rejected"
    assert get_marker(session, marker_id=marker.id).status == "损坏"


def test_a_soft_conflict_may_be_approved_directly(client, session, field, reviewer):
    marker = field.markers[0]
    record = check(marker, status="损坏")
    change_marker(session, marker.id, {"precision_m": 0.02}, source="manual", actor="office")
    receipt = put(client, field.headers, batch(record)).json()
    assert receipt["records"][0]["conflict"]["kind"] == "soft"
    assert review(client, reviewer, record).status_code == 200
    assert get_marker(session, marker_id=marker.id).status == "损坏"
    state = session.execute(text("SELECT state, resolution FROM survey_conflicts WHERE record_uuid = :u"),
                            {"u": record["uuid"]}).one()
    assert tuple(state) == ("resolved", "apply")


def test_a_change_approved_after_upload_becomes_a_conflict(client, session, field, reviewer):
    """Two surveyors checked the same marker on version 1; approving the first must not be overwritten."""
    marker = field.markers[0]
    damaged, intact = check(marker, status="损坏"), check(marker, status="完好")
    put(client, field.headers, batch(damaged, intact))
    assert review(client, reviewer, damaged).status_code == 200
    blocked = review(client, reviewer, intact)
    assert blocked.status_code == 409 and blocked.json()["conflict_kind"] == "hard"
    row = session.execute(text("SELECT kind, base_version, current_version, state FROM survey_conflicts "
                               "WHERE record_uuid = :u"), {"u": intact["uuid"]}).one()
    assert tuple(row) == ("hard", 1, 2, "open")                        # kept although the answer was 409
    assert get_marker(session, marker_id=marker.id).status == "损坏"


def test_observations_are_kept_and_proposals_register_a_marker(client, session, field, reviewer):
    section = [(m.lon, m.lat) for m in field.markers[:2]]
    seen = observation(field.line_id, section)
    lon, lat = field.markers[2].lon + 0.002, field.markers[2].lat + 0.0005
    picture = b"\xff\xd8 new marker"
    found = proposal(field.line_id, lon, lat, accuracy_m=0.3, attachments=[photo(picture, "IMG_0100.jpg")])
    put(client, field.headers, batch(seen, found))
    upload(client, field.headers, picture)
    markers_before = count(session, "markers", line_id=field.line_id)
    assert review(client, reviewer, seen).json()["review_state"] == "approved"
    assert count(session, "markers", line_id=field.line_id) == markers_before

    registered = review(client, reviewer, found).json()
    assert registered["marker"] == "T001004Q"
    marker = get_marker(session, number="T001004Q")
    assert (marker.type, marker.line_id, marker.precision_m) == ("单立", field.line_id, pytest.approx(0.3))
    assert (round(marker.lon, 7), round(marker.lat, 7)) == (round(lon, 7), round(lat, 7))
    containing = session.execute(text(
        "SELECT code FROM divisions WHERE code = ANY(:c) AND valid_to IS NULL "
        "AND ST_Contains(geom, ST_SetSRID(ST_MakePoint(:x, :y), 4490))"),
        {"c": field.line_id.split("-"), "x": lon, "y": lat}).scalars().all()
    assert [marker.managing_party] == containing
    assert history(session, marker.id) == [(1, "完好", "survey", f"survey:{found['uuid']}")]
    assert session.execute(text("SELECT filename FROM marker_photos WHERE marker_id = :m"),
                           {"m": marker.id}).scalars().all() == ["IMG_0100.jpg"]


def test_batch_review_skips_blocked_records(client, session, field, reviewer):
    blocked_marker = field.markers[1]
    fine = check(field.markers[0], status="损坏")
    stale = check(blocked_marker, status="丢失")
    change_marker(session, blocked_marker.id, {"status": "损坏"}, source="manual", actor="office")
    batch_uuid = put(client, field.headers, batch(fine, stale)).json()["batch"]
    response = client.post(f"/v1/surveys/batches/{batch_uuid}/review", json={"decision": "approve"},
                           headers=reviewer)
    assert response.status_code == 200, response.text
    results = {r["uuid"]: r for r in response.json()["results"]}
    assert results[fine["uuid"]]["review_state"] == "approved"
    assert results[stale["uuid"]]["review_state"] == "flagged"
    assert results[stale["uuid"]]["skipped"]["conflict_kind"] == "hard"
    status = client.get(f"/v1/surveys/batches/{batch_uuid}", headers=reviewer).json()
    assert sorted(r["review_state"] for r in status["records"]) == ["approved", "flagged"]
    rejected = client.post(f"/v1/surveys/batches/{batch_uuid}/review",
                           json={"decision": "reject", "note": "重测"}, headers=reviewer)
    assert [r["review_state"] for r in rejected.json()["results"]] == ["rejected"]
    nothing_left = client.post(f"/v1/surveys/batches/{batch_uuid}/review", json={"decision": "approve"},
                               headers=reviewer)
    assert nothing_left.status_code == 409


def test_the_review_queue(client, session, field, reviewer):
    flagged = check(field.markers[0], accuracy_m=4.0)
    accepted = check(field.markers[1])
    put(client, field.headers, batch(flagged, accepted))
    queue = client.get("/v1/surveys/records", params={"review_state": "flagged", "line_id": field.line_id},
                       headers=reviewer)
    assert queue.status_code == 200
    items = queue.json()["items"]
    assert [i["uuid"] for i in items] == [flagged["uuid"]]
    assert items[0]["reasons"][0]["code"] == "low_accuracy" and items[0]["geometry"]["type"] == "Point"
    assert client.get("/v1/surveys/records", params={"review_state": "bogus"}, headers=reviewer).status_code == 422
    assert client.get("/v1/surveys/records", headers=field.headers).status_code == 403
    one = client.get(f"/v1/surveys/records/{accepted['uuid']}", headers=reviewer).json()
    assert one["marker"] == field.markers[1].number and one["review_state"] == "accepted"
