"""Issue 6 end to end over HTTP: a joint inspection is planned, a surveyor uploads a batch with photos for
it (retrying twice), a reviewer approves, the markers' statuses change with history, repair tasks open for
the damaged, lost and displaced markers, the inspection completes and leaves the overdue list, and the
联检报告 PDF comes out with its map."""

from __future__ import annotations

import datetime as dt
import io
import uuid

from pypdf import PdfReader
from sqlalchemy import text

from tests.boundary_builders import add_line, add_markers
from tests.builders import staff_headers
from tests.survey_builders import OBSERVED, assign, batch, check, observation, photo

JPEG = b"\xff\xd8\xff\xe0"


def add_basis(session, line_id: str) -> None:
    """The agreement and the marker register that rule 41 asks an inspection to cite."""
    for kind, title in (("协议书", "吴兴区南浔区行政区域界线协议书"), ("界桩登记表", "吴兴区南浔区界桩登记表")):
        session.execute(text("INSERT INTO line_documents (line_id, kind, title, added_by) "
                             "VALUES (:l, :k, :t, 'test')"), {"l": line_id, "k": kind, "t": title})


def documented_line(client, session, markers: int):
    """A line last inspected in 2019 with its basis documents and MARKERS markers, the admin, reviewer and
    surveyor (assigned to it) headers."""
    line_id = add_line(session, last_inspection="2019-05-01")
    add_basis(session, line_id)
    found = add_markers(session, line_id, markers)
    staff = tuple(staff_headers(client, session, role, f"{role}-flow") for role in ("admin", "reviewer", "surveyor"))
    assign(session, line_id, "surveyor-flow")
    return line_id, found, staff


def overdue_ids(client, headers, day: str) -> set[str]:
    answer = client.get("/v1/inspections/overdue", params={"as_of": day, "division": "330500"}, headers=headers)
    assert answer.status_code == 200, answer.text
    return {item["line_id"] for item in answer.json()["items"]}


def test_inspection_flow_from_field_upload_to_report(client, session):
    line_id, markers, (admin, reviewer, surveyor) = documented_line(client, session, 4)
    assert line_id in overdue_ids(client, reviewer, "2026-11-24")      # 2019 + 5 years < today

    plan = client.post("/v1/inspections", json={"line_id": line_id, "planned_start": "2026-11-01",
                                                 "planned_end": "2026-11-30"}, headers=admin)
    assert plan.status_code == 201, plan.text
    inspection_id = plan.json()["id"]

    damaged_photo, lost_photo = JPEG + b"damaged marker" * 400, JPEG + b"empty pit" * 500
    records = [check(markers[0]), check(markers[1], status="损坏", attachments=[photo(damaged_photo, "损坏.jpg")]),
               check(markers[2], status="丢失", attachments=[photo(lost_photo, "丢失.jpg")]),
               check(markers[3], dlat=0.0001),                          # ~11 m north: displaced
               observation(line_id, [(m.lon, m.lat) for m in markers[:2]], recognisable=False,
                           notes="界线两侧新修道路", changes_near_line="新修公路")]
    body = batch(*records, inspection_id=inspection_id, captured_at=OBSERVED)
    batch_uuid = str(uuid.uuid4())
    url = f"/v1/surveys/batches/{batch_uuid}"
    first = client.put(url, json=body, headers=surveyor)
    assert first.status_code == 201, first.text
    for _ in range(2):                                                   # the device retries twice
        again = client.put(url, json=body, headers=surveyor)
        assert again.status_code == 200 and again.content == first.content
    outcomes = [r["outcome"] for r in first.json()["records"]]
    assert outcomes == ["accepted", "accepted", "accepted", "flagged", "accepted"]

    status = client.get(url, headers=surveyor).json()
    assert {m["filename"] for m in status["attachments_missing"]} == {"损坏.jpg", "丢失.jpg"}
    blocked = client.post(f"{url}/review", json={"decision": "approve"}, headers=reviewer)
    left_open = {item["marker"] for item in blocked.json()["results"] if item["review_state"] != "approved"}
    assert left_open == {markers[1].number, markers[2].number}          # photos first: nothing gets lost
    for content in (damaged_photo, lost_photo):
        sha = photo(content, "x")["sha256"]
        assert client.put(f"/v1/attachments/{sha}", content=content, headers=surveyor).status_code == 201
    assert client.get(url, headers=surveyor).json()["attachments_missing"] == []

    review = client.post(f"{url}/review", json={"decision": "approve", "note": "与联检记录一致"}, headers=reviewer)
    assert review.status_code == 200, review.text
    states = {r["uuid"]: r["review_state"] for r in client.get(url, headers=surveyor).json()["records"]}
    assert set(states.values()) == {"approved"}

    found = {m.number: client.get(f"/v1/markers/{m.number}").json() for m in markers}
    assert [found[m.number]["status"] for m in markers] == ["完好", "损坏", "丢失", "移位"]
    history = session.execute(text(
        "SELECT m.number, h.version, h.status, h.source FROM marker_history h JOIN markers m ON m.id = h.marker_id "
        "WHERE m.line_id = :l ORDER BY m.number, h.version"), {"l": line_id}).all()
    assert [(h.number, h.version, h.status, h.source) for h in history if h.version > 1] == [
        (markers[1].number, 2, "损坏", "inspection"), (markers[2].number, 2, "丢失", "inspection"),
        (markers[3].number, 2, "移位", "inspection")]
    photos = session.execute(text("SELECT count(*) FROM marker_photos WHERE marker_id = :m"),
                             {"m": markers[1].id}).scalar_one()
    assert photos == 1

    tasks = client.get("/v1/repair-tasks", params={"state": "open", "line_id": line_id}, headers=reviewer).json()
    by_marker = {t["marker_number"]: t for t in tasks["items"]}
    assert set(by_marker) == {markers[1].number, markers[2].number, markers[3].number}
    assert all(t["neighbour_presence_required"] for t in by_marker.values())
    assert {t["assigned_party"] for t in by_marker.values()} == {markers[0].managing_party}

    detail = client.get(f"/v1/inspections/{inspection_id}", headers=reviewer).json()
    assert len(detail["markers"]) == 4 and len(detail["sections"]) == 1 and detail["unchecked_markers"] == []
    assert detail["sections"][0]["recognisable"] is False

    done = client.post(f"/v1/inspections/{inspection_id}/complete",
                       json={"completed_on": "2026-11-23", "summary": "一处损坏、一处丢失、一处移位"}, headers=admin)
    assert done.status_code == 200, done.text
    assert line_id not in overdue_ids(client, reviewer, "2026-11-24")
    assert line_id in overdue_ids(client, reviewer, str(dt.date(2031, 11, 24)))   # due again five years on

    pdf = client.get(f"/v1/inspections/{inspection_id}/report.pdf", headers=reviewer)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(pdf.content))
    content = "".join(page.extract_text() for page in reader.pages)
    assert all(m.number in content for m in markers)
    drawing = reader.pages[0].get_contents().get_data()
    assert drawing.count(b" l\n") + drawing.count(b" l ") > 20      # the map: the line and the parties drawn
    page = client.get(f"/maps/boundaries/{line_id}")
    assert page.status_code == 200 and photo(damaged_photo, "x")["sha256"] in page.text


def test_a_record_the_batch_review_cannot_apply_leaves_nothing_behind(client, session):
    line_id, markers, (admin, reviewer, surveyor) = documented_line(client, session, 2)
    inspection_id = client.post("/v1/inspections", json={"line_id": line_id, "planned_start": "2026-11-01",
                                                          "planned_end": "2026-11-30"}, headers=admin).json()["id"]
    recorded = client.post(f"/v1/inspections/{inspection_id}/markers",
                           json={"marker_number": markers[0].number, "status": "完好"}, headers=admin)
    assert recorded.status_code in (200, 201), recorded.text
    picture = JPEG + b"second opinion" * 300
    sha = photo(picture, "x")["sha256"]
    assert client.put(f"/v1/attachments/{sha}", content=picture, headers=surveyor).status_code == 201
    body = batch(check(markers[0], status="损坏", attachments=[photo(picture, "again.jpg")]), check(markers[1]),
                 inspection_id=inspection_id)
    batch_uuid = str(uuid.uuid4())
    assert client.put(f"/v1/surveys/batches/{batch_uuid}", json=body, headers=surveyor).status_code == 201
    review = client.post(f"/v1/surveys/batches/{batch_uuid}/review", json={"decision": "approve"}, headers=reviewer)
    states = {item["marker"]: item["review_state"] for item in review.json()["results"]}
    assert states == {markers[0].number: "accepted", markers[1].number: "approved"}   # one result per inspection
    untouched = session.execute(text(
        "SELECT m.status, m.version, (SELECT count(*) FROM marker_photos p WHERE p.marker_id = m.id) AS photos, "
        "(SELECT count(*) FROM repair_tasks t WHERE t.marker_id = m.id) AS tasks FROM markers m WHERE m.id = :m"),
        {"m": markers[0].id}).one()
    assert tuple(untouched) == ("完好", 1, 0, 0)
