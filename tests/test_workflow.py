"""The 命名/更名/注销 workflow end to end over HTTP: roles, states, attachments, deadlines, announcement."""

from __future__ import annotations

import datetime as dt
import hashlib
import xml.etree.ElementTree as ET

import pytest
from sqlalchemy import text

from data.errors import InvalidInput
from placenames import workflow
from placenames.registry import NameInput, history, register
from tests.builders import staff_headers

REPORTS = ("comprehensive_assessment", "expert_review", "consultation")
PASSWORD = "long enough pw"


def _headers(client, session, username: str, role: str) -> dict[str, str]:
    return staff_headers(client, session, role, username)


@pytest.fixture
def staff(client, session):
    return {role: _headers(client, session, f"wf-{role}", role)
            for role in ("applicant", "reviewer", "approver", "admin")}


@pytest.fixture
def street(session) -> int:
    return register(session, NameInput(name="文昌路", category="0801", division_code="330502",
                                       geometry={"type": "LineString",
                                                 "coordinates": [[120.09, 30.87], [120.10, 30.875]]}),
                    actor="test", valid_from=dt.date(2010, 1, 1))


def _attach(client, headers, app_id, kind, content=b"%PDF-1.4 report", sha=None):
    return client.post(f"/v1/applications/{app_id}/attachments", headers=headers,
                       data={"kind": kind, "sha256": sha or hashlib.sha256(content).hexdigest()},
                       files={"file": (f"{kind}.pdf", content, "application/pdf")})


def _act(client, headers, app_id, action, body=None):
    return client.post(f"/v1/applications/{app_id}/{action}", headers=headers, json=body or {})


def _rename(client, staff, street, name="凤栖路") -> int:
    response = client.post("/v1/applications", headers=staff["applicant"], json={
        "kind": "更名", "category": "0801", "division_code": "330502", "name_id": street,
        "proposed_name": name, "reasons": "道路延伸后名实不符，按规划统一命名",
        "location_description": "东起青铜路，西至龙溪北路"})
    assert response.status_code == 201, response.text
    return response.json()["id"]


APPROVAL = {"approver_kind": "government", "approver_division": "330500",
            "approval_date": "2025-03-03", "approval_document": "湖政函〔2025〕12号"}


def test_renaming_from_draft_to_announcement(client, session, staff, street):
    app_id = _rename(client, staff, street)
    draft = client.get(f"/v1/applications/{app_id}", headers=staff["applicant"]).json()
    assert draft["state"] == "draft" and draft["romanization"] == "Fengqi Lu"
    assert draft["missing_attachments"] == list(REPORTS)

    incomplete = _act(client, staff["applicant"], app_id, "submit")  # §9 rule 14
    assert incomplete.status_code == 409 and incomplete.json()["missing_attachments"] == list(REPORTS)
    for kind in REPORTS:
        assert _attach(client, staff["applicant"], app_id, kind).status_code == 201

    assert _act(client, staff["applicant"], app_id, "submit").json()["state"] == "submitted"
    assert _act(client, staff["reviewer"], app_id, "accept").json()["state"] == "accepted"
    reviewed = _act(client, staff["reviewer"], app_id, "review",
                    {"opinion": "专家论证通过，无重名", "recommendation": "approve"})
    assert reviewed.json()["state"] == "under_review"

    approved = _act(client, staff["approver"], app_id, "approve", APPROVAL).json()
    assert approved["state"] == "approved"
    assert approved["approver_name"] == "湖州市人民政府"
    assert approved["filing_target"].startswith("浙江省人民政府")           # Art. 13: next-higher government
    assert approved["filing_due"] == "2025-03-18"                        # approval + 15 days
    assert approved["announcement_due"] == "2025-03-18"                  # government: approval + 15 days

    versions = history(session, street)                                   # same transaction wrote the version
    assert [v.name for v in versions] == ["文昌路", "凤栖路"]
    assert versions[0].valid_to == "2025-03-03" and versions[1].former_names == ["文昌路"]
    assert versions[1].application_id == app_id

    filed = _act(client, staff["approver"], app_id, "file", {"filing_date": "2025-03-10"}).json()
    assert filed["state"] == "filed" and filed["late"] == []
    announced = _act(client, staff["admin"], app_id, "announce",
                     {"published_on": "2025-03-14"}).json()
    assert announced["state"] == "announced" and announced["next_actions"] == []
    assert [e["action"] for e in announced["events"]] == [
        "create", "submit", "accept", "review", "approve", "file", "announce"]

    feed = client.get("/v1/announcements").json()["items"][0]
    assert {k: feed[k] for k in ("standard_name", "romanization", "division", "approver", "approval_date")} == {
        "standard_name": "凤栖路", "romanization": "Fengqi Lu", "division": "浙江省湖州市吴兴区",
        "approver": "湖州市人民政府", "approval_date": "2025-03-03"}
    assert feed["location"] == "东起青铜路，西至龙溪北路" and feed["former_name"] == "文昌路"
    atom = ET.fromstring(client.get("/v1/announcements?f=atom").content)
    assert atom.find("{http://www.w3.org/2005/Atom}entry/{http://www.w3.org/2005/Atom}title").text.endswith("凤栖路")
    page = client.get(f"/v1/announcements/{feed['id']}?f=html")
    assert page.headers["content-type"].startswith("text/html") and "Fengqi Lu" in page.text

    audited = session.execute(text("SELECT count(*) FROM audit_log WHERE entity_type = 'application' "
                                   "AND entity_id = :i"), {"i": str(app_id)}).scalar_one()
    assert audited == 7 + len(REPORTS)


def test_forbidden_transitions_name_the_allowed_actions(client, session, staff, street):
    app_id = _rename(client, staff, street)
    wrong_role = _act(client, staff["reviewer"], app_id, "submit")
    assert wrong_role.status_code == 403
    assert wrong_role.json()["allowed_actions"] == ["submit", "withdraw"]
    assert wrong_role.headers["content-type"] == "application/problem+json"
    wrong_state = _act(client, staff["approver"], app_id, "approve", APPROVAL)
    assert wrong_state.status_code == 409 and wrong_state.json()["state"] == "draft"
    assert _act(client, staff["admin"], app_id, "announce").status_code == 409     # right role, wrong state
    assert _act(client, staff["applicant"], app_id, "announce").status_code == 403
    assert _act(client, staff["applicant"], app_id, "fly").status_code == 404

    other = _headers(client, session, "wf-other-applicant", "applicant")
    assert _act(client, other, app_id, "withdraw").status_code == 403          # not their application
    assert client.get(f"/v1/applications/{app_id}", headers=other).status_code == 403
    assert _act(client, staff["applicant"], app_id, "withdraw").json()["state"] == "withdrawn"
    final = _act(client, staff["applicant"], app_id, "submit")
    assert final.status_code == 409 and final.json()["allowed_actions"] == []
    assert client.post(f"/v1/applications/{app_id}/submit").status_code == 401


def _to_review(client, staff, app_id):
    for kind in REPORTS:
        _attach(client, staff["applicant"], app_id, kind)
    for role, action, body in (("applicant", "submit", None), ("reviewer", "accept", None),
                               ("reviewer", "review", {"opinion": "同意", "recommendation": "approve"})):
        assert _act(client, staff[role], app_id, action, body).status_code == 200


def test_wrong_authority_and_filing_target_are_refused(client, session, staff, street):
    app_id = _rename(client, staff, street)
    _to_review(client, staff, app_id)
    district = _act(client, staff["approver"], app_id, "approve", {**APPROVAL, "approver_division": "330502"})
    assert district.status_code == 409 and "直辖市、市、县" in district.json()["detail"]   # §9 rule 15
    housing = _act(client, staff["approver"], app_id, "approve", {**APPROVAL, "approver_kind": "housing_dept"})
    assert housing.status_code == 409
    assert session.execute(text("SELECT count(*) FROM place_names WHERE name_id = :i"),
                           {"i": street}).scalar_one() == 1                    # nothing written
    assert _act(client, staff["approver"], app_id, "approve", APPROVAL).status_code == 200
    wrong = _act(client, staff["approver"], app_id, "file",
                 {"filing_date": "2025-03-05", "filing_target": "湖州市民政局"})
    assert wrong.status_code == 422                                            # §9 rule 17
    early = _act(client, staff["approver"], app_id, "file", {"filing_date": "2025-03-01"})
    assert early.status_code == 422


def test_overdue_filing_and_announcement(client, session, staff, street):
    app_id = _rename(client, staff, street)
    _to_review(client, staff, app_id)
    _act(client, staff["approver"], app_id, "approve", APPROVAL)
    on_time, late = dt.date(2025, 3, 18), dt.date(2025, 3, 19)
    assert workflow.list_applications(session, overdue=True, on=on_time)[0] == []
    overdue = workflow.list_applications(session, overdue=True, on=late)[0]
    assert [(a.id, a.overdue) for a in overdue] == [(app_id, ["filing", "announcement"])]
    listed = client.get("/v1/applications?overdue=true", headers=staff["reviewer"]).json()["items"]
    assert app_id in [a["id"] for a in listed]                                 # today is long past 2025-03-18
    filed = _act(client, staff["approver"], app_id, "file", {"filing_date": "2025-03-20"}).json()
    assert filed["late"] == ["filing"]                                         # §9 rule 16
    assert filed["overdue"] == ["announcement"]


def test_other_department_announces_within_15_days_of_filing(client, session, staff):
    station = register(session, NameInput(name="吴兴汽车站", category="0804", division_code="330502"),
                       actor="test", valid_from=dt.date(2015, 1, 1))
    response = client.post("/v1/applications", headers=staff["applicant"], json={
        "kind": "rename", "category": "0804", "division_code": "330502", "name_id": station,
        "proposed_name": "湖州汽车南站", "reasons": "站场迁建后更名", "location_description": "吴兴区二环南路"})
    app_id = response.json()["id"]
    _to_review(client, staff, app_id)
    approved = _act(client, staff["approver"], app_id, "approve", {
        "approver_kind": "other_dept", "approver_division": "330500", "approver_name": "湖州市交通运输局",
        "approval_date": "2025-05-06", "approval_document": "湖交〔2025〕3号"}).json()
    assert approved["filing_target"] == "湖州市民政局"                          # same-level 地名 department
    assert approved["announcement_due"] is None                                # unknown until filed
    filed = _act(client, staff["approver"], app_id, "file", {"filing_date": "2025-05-12"}).json()
    assert filed["announcement_due"] == "2025-05-27"                           # §9 rule 18: filing + 15


def test_protected_name_needs_a_linked_measure(client, session, staff, street):
    from placenames.protection import add_measure, protect

    protected = protect(session, name_id=street, category="历史地名", reason="明代文昌阁所在",
                        listed_on=dt.date(2020, 1, 1), measures=[], actor="test")
    app_id = _rename(client, staff, street)
    _to_review(client, staff, app_id)
    blocked = _act(client, staff["approver"], app_id, "approve", APPROVAL)
    assert blocked.status_code == 409 and blocked.json()["rule"] == 20           # §9 rule 20
    add_measure(session, protected, kind="设立标志", description="原址立文昌路地名纪念碑",
                application_id=app_id, actor="test")
    assert _act(client, staff["approver"], app_id, "approve", APPROVAL).status_code == 200


def test_attachments_are_checked_and_nothing_bad_is_stored(client, session, staff, street):
    app_id = _rename(client, staff, street)
    wrong_hash = _attach(client, staff["applicant"], app_id, "expert_review", sha="0" * 64)
    assert wrong_hash.status_code == 422 and "sha256" in wrong_hash.text
    unknown_kind = _attach(client, staff["applicant"], app_id, "poem")
    assert unknown_kind.status_code == 422
    empty = _attach(client, staff["applicant"], app_id, "expert_review", content=b"")
    assert empty.status_code == 422
    with pytest.raises(InvalidInput, match="limit"):
        workflow.add_attachment(session, app_id, kind="expert_review", filename="big.pdf",
                                media_type="application/pdf", content=b"x" * 2048,
                                sha256=hashlib.sha256(b"x" * 2048).hexdigest(),
                                actor=workflow_account(session, "wf-applicant"), max_bytes=1024)
    assert session.execute(text("SELECT count(*) FROM application_attachments WHERE application_id = :a"),
                           {"a": app_id}).scalar_one() == 0
    again = [_attach(client, staff["applicant"], app_id, "expert_review").json()["id"] for _ in range(2)]
    assert again[0] == again[1]                                                # same file twice: one row
    download = client.get(f"/v1/applications/{app_id}/attachments/{again[0]}", headers=staff["reviewer"])
    assert download.content == b"%PDF-1.4 report"


def workflow_account(session, username):
    from data.accounts import get_account

    return get_account(session, username)


@pytest.mark.parametrize("body, field", [
    ({"kind": "merge"}, "kind"),
    ({"category": "0999"}, "category"),
    ({"division_code": "339999"}, "division_code"),
    ({"proposed_name": "凤\x07路"}, "proposed_name"),
    ({"proposed_name": "路" * 51}, "proposed_name"),
    ({"name_id": 999999999}, None),
])
def test_bad_applications_are_refused(client, session, staff, street, body, field):
    base = {"kind": "rename", "category": "0801", "division_code": "330502", "name_id": street,
            "proposed_name": "凤栖路", "reasons": "名实不符需要更名"}
    response = client.post("/v1/applications", headers=staff["applicant"], json={**base, **body})
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert session.execute(text("SELECT count(*) FROM applications")).scalar_one() == 0


def test_idempotency_key(client, staff, street):
    body = {"kind": "rename", "category": "0801", "division_code": "330502", "name_id": street,
            "proposed_name": "凤栖路", "reasons": "名实不符需要更名"}
    key = {"Idempotency-Key": "a7f0c1d2-0000-4000-8000-000000000001"}
    first = client.post("/v1/applications", headers={**staff["applicant"], **key}, json=body)
    second = client.post("/v1/applications", headers={**staff["applicant"], **key}, json=body)
    assert first.json()["id"] == second.json()["id"]
    changed = client.post("/v1/applications", headers={**staff["applicant"], **key},
                          json={**body, "proposed_name": "凤鸣路"})
    assert changed.status_code == 409


def test_naming_creates_a_new_registry_name_and_cancel_closes_it(client, session, staff):
    response = client.post("/v1/applications", headers=staff["applicant"], json={
        "kind": "命名", "category": "0801", "division_code": "330502", "proposed_name": "栖凤路",
        "reasons": "新建道路需要命名", "location_description": "吴兴区新建道路"})
    app_id = response.json()["id"]
    _to_review(client, staff, app_id)
    approved = _act(client, staff["approver"], app_id, "approve", APPROVAL).json()
    name = client.get(f"/v1/placenames/{approved['name_id']}").json()
    assert name["name"] == "栖凤路" and name["valid_from"] == "2025-03-03" and name["romanization"] == "Qifeng Lu"

    cancel = client.post("/v1/applications", headers=staff["applicant"], json={
        "kind": "注销", "category": "0801", "division_code": "330502", "name_id": approved["name_id"],
        "reasons": "道路因拆迁已不存在"}).json()["id"]
    _to_review(client, staff, cancel)
    cancelled = _act(client, staff["approver"], cancel, "approve", {**APPROVAL, "approval_date": "2025-06-01"})
    assert cancelled.status_code == 200, cancelled.text
    assert client.get(f"/v1/placenames/{approved['name_id']}").json()["status"] == "cancelled"
