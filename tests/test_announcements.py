"""公告 (placenames.announcements, the announce step of placenames.workflow): the six required fields
(domain.md §1.7, §9 rule 19), the Atom feed and the printable page."""

from __future__ import annotations

import datetime as dt
import hashlib
import xml.etree.ElementTree as ET

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from data.accounts import add_user
from data.errors import InvalidInput
from placenames.announcements import atom_feed, get_announcement
from placenames.workflow import ApplicationInput, add_attachment, create_application, transition

ATOM = "{http://www.w3.org/2005/Atom}"
PASSWORD = "long enough pw"
LOCATION = "东起青铜路，西至<龙溪北路>&二环"
LABELS = ("标准名称", "罗马字母拼写", "所属政区", "位置描述", "批准机关", "批准时间")


@pytest.fixture
def staff(session):
    return {role: add_user(session, f"ann-{role}", PASSWORD, role)
            for role in ("applicant", "reviewer", "approver", "admin")}


@pytest.fixture
def filed(session, staff) -> int:
    """A 命名 application for a new street, approved and filed, without a location description."""
    app_id = create_application(session, ApplicationInput(
        kind="命名", category="0801", division_code="330502", proposed_name="琴溪路",
        reasons="新建道路需要命名"), actor=staff["applicant"])
    for kind in ("comprehensive_assessment", "expert_review", "consultation"):
        content = f"%PDF-1.4 {kind}".encode()
        add_attachment(session, app_id, kind=kind, filename=f"{kind}.pdf", media_type="application/pdf",
                       content=content, sha256=hashlib.sha256(content).hexdigest(), actor=staff["applicant"])
    for role, action, payload in (
        ("applicant", "submit", None), ("reviewer", "accept", None),
        ("reviewer", "review", {"opinion": "无重名，同意", "recommendation": "approve"}),
        ("approver", "approve", {"approver_kind": "government", "approver_division": "330500",
                                 "approval_date": "2025-03-03", "approval_document": "湖政函〔2025〕12号"}),
        ("approver", "file", {"filing_date": "2025-03-10"}),
    ):
        transition(session, app_id, action, payload, actor=staff[role])
    return app_id


def announcements_of(session, app_id) -> int:
    return session.execute(text("SELECT count(*) FROM announcements WHERE application_id = :a"),
                           {"a": app_id}).scalar_one()


def state_of(session, app_id) -> str:
    return session.execute(text("SELECT state FROM applications WHERE id = :a"), {"a": app_id}).scalar_one()


@pytest.mark.parametrize("payload", [{"published_on": "2025-03-14"}, {"location": "   "}])
def test_announce_without_a_location_is_refused(session, staff, filed, payload):
    with pytest.raises(InvalidInput) as caught:
        transition(session, filed, "announce", payload, actor=staff["admin"])
    assert caught.value.status == 422 and "rule 19" in caught.value.detail
    assert [e["field"] for e in caught.value.errors] == ["location"]
    assert announcements_of(session, filed) == 0 and state_of(session, filed) == "filed"


def test_announce_with_a_location_publishes_all_six_fields(session, staff, filed):
    view = transition(session, filed, "announce", {"location": LOCATION, "published_on": "2025-03-14"},
                      actor=staff["admin"])
    assert view.state == "announced" and view.announcement_date == "2025-03-14"
    ann_id = view.events[-1]["details"]["announcement_id"]
    published = get_announcement(session, ann_id)
    assert (published.standard_name, published.romanization, published.division, published.location,
            published.approver, published.approval_date, published.title) == (
        "琴溪路", "Qinxi Lu", "浙江省湖州市吴兴区", LOCATION, "湖州市人民政府", "2025-03-03", "地名命名公告")


def test_announce_over_http_without_a_location_is_422(client, session, staff, filed):
    token = client.post("/v1/auth/token", data={"username": "ann-admin", "password": PASSWORD}).json()
    response = client.post(f"/v1/applications/{filed}/announce", json={},
                           headers={"Authorization": f"Bearer {token['access_token']}"})
    assert response.status_code == 422 and response.headers["content-type"] == "application/problem+json"
    assert announcements_of(session, filed) == 0


FIELDS = {"standard_name": "琴溪路", "romanization": "Qinxi Lu", "division": "浙江省湖州市吴兴区",
          "location": "东起青铜路", "approver": "湖州市人民政府", "approval_date": dt.date(2025, 3, 3)}


@pytest.fixture
def bare(session) -> int:
    """An application row for the announcements' foreign key."""
    return session.execute(text(
        "INSERT INTO applications (kind, state, proposed_name, category, division_code, reasons, applicant) "
        "VALUES ('name', 'filed', '琴溪路', '0801', '330502', '测试', 'tester') RETURNING id")).scalar_one()


@pytest.mark.parametrize("missing", ["standard_name", "romanization", "division", "location", "approver"])
@pytest.mark.parametrize("value", ["", None])
def test_the_table_refuses_an_empty_required_field(session, bare, missing, value):
    row = {**FIELDS, missing: value, "a": bare}
    with pytest.raises(IntegrityError), session.begin_nested():
        session.execute(text(
            "INSERT INTO announcements (application_id, name_id, kind, standard_name, romanization, division, "
            "location, approver, approval_date, published_on) VALUES (:a, 1, 'name', :standard_name, "
            ":romanization, :division, :location, :approver, :approval_date, '2025-03-14')"), row)
    assert announcements_of(session, bare) == 0


def test_the_table_refuses_a_missing_approval_date(session, bare):
    with pytest.raises(IntegrityError), session.begin_nested():
        session.execute(text(
            "INSERT INTO announcements (application_id, name_id, kind, standard_name, romanization, division, "
            "location, approver, approval_date, published_on) VALUES (:a, 1, 'name', :standard_name, "
            ":romanization, :division, :location, :approver, NULL, '2025-03-14')"), {**FIELDS, "a": bare})


@pytest.fixture
def announced(session, staff, filed) -> int:
    view = transition(session, filed, "announce", {"location": LOCATION, "published_on": "2025-03-14"},
                      actor=staff["admin"])
    return view.events[-1]["details"]["announcement_id"]


def test_atom_feed_is_valid_and_lists_the_announcement(client, announced):
    response = client.get("/v1/announcements", params={"f": "atom"})
    assert response.headers["content-type"].startswith("application/atom+xml")
    feed = ET.fromstring(response.content)
    assert feed.tag == f"{ATOM}feed"
    for tag in ("id", "title", "updated", "author/" + ATOM + "name"):
        assert feed.find(ATOM + tag).text
    self_link = feed.find(f"{ATOM}link[@rel='self']")
    assert self_link.get("href").endswith("/v1/announcements?f=atom")
    entries = {e.find(f"{ATOM}id").text.rsplit("/", 1)[1]: e for e in feed.findall(f"{ATOM}entry")}
    entry = entries[str(announced)]
    assert entry.find(f"{ATOM}title").text == "地名命名公告：琴溪路"
    assert dt.datetime.fromisoformat(entry.find(f"{ATOM}updated").text).tzinfo is not None
    summary = entry.find(f"{ATOM}summary").text
    assert all(label in summary for label in LABELS) and LOCATION in summary       # escaped, then parsed back
    assert entry.find(f"{ATOM}link[@rel='alternate']").get("href").endswith(f"/v1/announcements/{announced}?f=html")
    by_accept = client.get("/v1/announcements", headers={"Accept": "application/atom+xml"})
    assert ET.fromstring(by_accept.content).tag == f"{ATOM}feed"


def test_empty_feed_is_still_a_feed():
    feed = ET.fromstring(atom_feed([], "http://example.test"))
    assert feed.findall(f"{ATOM}entry") == [] and feed.find(f"{ATOM}updated").text.startswith("2000-01-01")
    assert feed.find(f"{ATOM}link[@rel='self']").get("href") == "http://example.test/v1/announcements?f=atom"


def test_printable_page_has_the_six_fields(client, announced):
    page = client.get(f"/v1/announcements/{announced}", params={"f": "html"})
    assert page.headers["content-type"].startswith("text/html")
    assert all(f"<th>{label}</th>" in page.text for label in LABELS)
    for value in ("琴溪路", "Qinxi Lu", "浙江省湖州市吴兴区", "湖州市人民政府", "2025-03-03"):
        assert value in page.text
    assert "&lt;龙溪北路&gt;&amp;二环" in page.text and "<龙溪北路>" not in page.text
    assert client.get(f"/v1/announcements/{announced}", headers={"Accept": "text/html"}).text == page.text
