"""Duplicates and homophones against the real registry (placenames.checks; domain.md §1.3 items 7–8,
§9 rules 3–6), the check and romanize endpoints and reviewer overrides of a romanization."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from placenames.categories import get_category
from placenames.checks import check_proposal
from placenames.registry import NameInput, register
from placenames.rules import Proposal
from tests.builders import staff_headers

PROBLEM = "application/problem+json"
PASSWORD = "long enough pw"
INSIDE = {"type": "LineString", "coordinates": [[120.09, 30.87], [120.10, 30.875]]}    # in the built-up area
OUTSIDE = {"type": "LineString", "coordinates": [[119.95, 30.70], [119.96, 30.71]]}    # 吴兴区, but rural
BUILTUP = "MULTIPOLYGON(((120.05 30.84, 120.15 30.84, 120.15 30.92, 120.05 30.92, 120.05 30.84)))"


def check(session, name, category, division, **kwargs):
    return check_proposal(session, Proposal(name=name, category=get_category(category), division_code=division),
                          **kwargs)


def summary(findings):
    return [(f.rule, f.code, f.severity, f.evidence.get("name")) for f in findings]


def seeded(session, name, category, stem):
    return session.execute(text(
        "SELECT name_id, division_code FROM place_names WHERE name = :n AND category = :c "
        "AND division_code LIKE :s AND valid_to IS NULL ORDER BY name_id"),
        {"n": name, "c": category, "s": stem + "%"}).all()


# ---------------------------------------------------------------- rule 6: county level and above, nationwide


def test_rule6_county_name_used_elsewhere_in_the_country(session):
    found = check(session, "朝阳区", "0403", "330502")
    duplicates = [f for f in found if f.code == "duplicate"]
    assert {f.evidence["division_code"] for f in duplicates} == {"110105", "220104"}   # 北京 and 长春
    assert {(f.rule, f.severity) for f in duplicates} == {(6, "error")}
    assert duplicates[0].evidence["scope"] == "全国"
    assert ("homophone", "潮阳区") in {(f.code, f.evidence["name"]) for f in found}    # chaoyangqu, 汕头


def test_rule6_homophone_of_a_prefecture_is_a_warning(session):
    assert summary(check(session, "湖洲市", "0402", "330500")) == [(6, "homophone", "warning", "湖州市")]


def test_rule6_new_county_name_passes(session):
    assert check(session, "凤栖区", "0403", "330502") == []


def test_rule6_compares_across_the_three_levels(session):
    found = check(session, "湖州市", "0403", "330502")                  # a county-level 湖州市 is still a duplicate
    assert summary(found) == [(6, "duplicate", "error", "湖州市")]


# ---------------------------------------------------------------- rule 3: townships within a province


def test_rule3_township_duplicate_within_the_province(session):
    [(zhili_id, code)] = seeded(session, "织里镇", "0404", "330502")
    found = check(session, "织里镇", "0404", "330503")                  # proposed in 南浔区, same province
    assert summary(found) == [(3, "duplicate", "error", "织里镇")]
    assert found[0].evidence["name_id"] == zhili_id and found[0].evidence["scope"] == "省级政区 浙江省"
    assert code.startswith("330502")


def test_rule3_same_township_name_in_another_province_passes(session):
    assert seeded(session, "织里镇", "0404", "11") == []
    assert check(session, "织里镇", "0404", "110105") == []


def test_rule3_township_homophone_within_the_province(session):
    [(daixi_id, _)] = seeded(session, "岱西镇", "0404", "33")             # 舟山市岱山县
    found = check(session, "埭溪镇", "0404", "330503")
    assert (3, "homophone", "warning", "岱西镇") in summary(found)
    assert daixi_id in [f.evidence["name_id"] for f in found]


# ---------------------------------------------------------------- rule 4: committees within a county


def test_rule4_village_committee_within_the_county(session):
    village, code = session.execute(text(
        "SELECT name, division_code FROM place_names WHERE category = '0502' AND division_code LIKE '330502%' "
        "AND valid_to IS NULL AND name LIKE '%村委会' ORDER BY division_code LIMIT 1")).one()
    found = check(session, village, "0502", code[:9])                   # another township of the same county
    assert (4, "duplicate", "error", village) in summary(found)
    assert all(f.evidence["division_code"].startswith("330502") for f in found)
    taken = {n for (n,) in session.execute(text(
        "SELECT name FROM place_names WHERE category LIKE '05%' AND division_code LIKE '330503%'"))}
    assert village not in taken
    assert [f for f in check(session, village, "0502", "330503") if f.rule == 4] == []   # 南浔区


def test_rule4_new_village_committee_passes(session):
    assert check(session, "凤栖村委会", "0502", "330502") == []


def test_rule4_exclude_name_id_for_a_rename(session):
    name_id = register(session, NameInput(name="凤栖村委会", category="0502", division_code="330502"), actor="test")
    assert summary(check(session, "凤栖村委会", "0502", "330502")) == [(4, "duplicate", "error", "凤栖村委会")]
    assert check(session, "凤栖村委会", "0502", "330502", exclude_name_id=name_id) == []


# ---------------------------------------------------------------- rule 5: streets within a built-up area


def street(session, name, geometry):
    return register(session, NameInput(name=name, category="0801", division_code="330502", geometry=geometry),
                    actor="test")


def add_builtup_area(session):
    session.execute(text(
        "INSERT INTO builtup_areas (name, division_code, geom, source) "
        "VALUES ('湖州市中心城区', '330502', ST_GeomFromText(:wkt, 4490), 'test')"), {"wkt": BUILTUP})


def test_rule5_without_a_builtup_layer_the_county_is_the_scope(session):
    assert session.execute(text("SELECT count(*) FROM builtup_areas")).scalar_one() == 0
    fallback = check(session, "琴溪路", "0801", "330502")
    assert summary(fallback) == [(5, "scope-fallback", "info", None)]
    assert "吴兴区" in fallback[0].evidence["scope"]
    street(session, "琴溪路", OUTSIDE)
    found = check(session, "琴溪路", "0801", "330502", geometry=INSIDE)
    assert summary(found) == [(5, "duplicate", "error", "琴溪路")]
    assert found[0].evidence["scope"].startswith("县级政区 吴兴区")


def test_rule5_with_a_builtup_area_only_streets_inside_it_count(session):
    street(session, "琴溪路", OUTSIDE)
    add_builtup_area(session)
    assert check(session, "琴溪路", "0801", "330502", geometry=INSIDE) == []          # the other one is outside
    assert check(session, "琴溪路", "0801", "330502") == []                           # area found by division
    inside = street(session, "琴溪路", INSIDE)
    found = check(session, "琴溪路", "0801", "330502", geometry=INSIDE)
    assert summary(found) == [(5, "duplicate", "error", "琴溪路")]
    assert found[0].evidence["name_id"] == inside and found[0].evidence["scope"] == "建成区 湖州市中心城区"
    homophone = check(session, "勤溪路", "0801", "330502", geometry=INSIDE)
    assert summary(homophone) == [(5, "homophone", "warning", "琴溪路")]
    assert check(session, "琴溪路", "0801", "330502", geometry=INSIDE, exclude_name_id=inside) == []


# ---------------------------------------------------------------- POST /v1/placenames/check


def test_check_endpoint_reports_findings(client):
    response = client.post("/v1/placenames/check", json={"name": "朝阳区", "category": "0403",
                                                         "division_code": "330502"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["name"], body["category"], body["passes"]) == ("朝阳区", "0403", False)
    first = body["findings"][0]
    assert set(first) == {"rule", "code", "severity", "message", "evidence", "source"}
    assert (first["rule"], first["severity"]) == (6, "error") and "LRB-DM" in first["source"]


def test_check_endpoint_passes_a_clean_name(client):
    body = client.post("/v1/placenames/check", json={"name": "凤栖区", "category": "县级行政区域",
                                                     "division_code": "330502"}).json()
    assert (body["passes"], body["findings"]) == (True, [])


def test_check_endpoint_takes_geometry_and_exclude_name_id(client, session):
    add_builtup_area(session)
    inside = street(session, "琴溪路", INSIDE)
    body = {"name": "琴溪路", "category": "0801", "division_code": "330502", "geometry": INSIDE}
    assert client.post("/v1/placenames/check", json=body).json()["passes"] is False
    assert client.post("/v1/placenames/check", json={**body, "exclude_name_id": inside}).json()["passes"] is True


@pytest.mark.parametrize("patch", [
    {"division_code": "339999"},
    {"category": "0999"},
    {"name": "朝\x07阳区"},
    {"geometry": {"type": "Point", "coordinates": [30.87, 120.09]}},
    {"colour": "red"},
])
def test_check_endpoint_bad_input_is_422(client, patch):
    body = {"name": "凤栖区", "category": "0403", "division_code": "330502", **patch}
    response = client.post("/v1/placenames/check", json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM


# ---------------------------------------------------------------- GET /v1/romanize and overrides


def test_romanize_endpoint(client):
    body = client.get("/v1/romanize", params={"name": "湖州市"}).json()
    assert (body["text"], body["sign_text"]) == ("Huzhou Shi", "HUZHOU SHI")
    assert [s["hanzi"] for s in body["segments"]] == ["湖州", "市"]
    urumqi = client.get("/v1/romanize", params={"name": "乌鲁木齐市", "division": "650100"}).json()
    assert urumqi["text"] == "Ürümqi Shi"


@pytest.mark.parametrize("params", [
    {"name": "湖\x07州市"},
    {"name": "湖" * 51},
    {"name": "Huzhou"},
    {"name": "湖州市", "division": "6501"},
    {"name": "湖州市", "category": "0999"},
])
def test_romanize_bad_input_is_422(client, params):
    response = client.get("/v1/romanize", params=params)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM


def auth(client, session, role):
    return staff_headers(client, session, role, f"ck-{role}")


OVERRIDE = {"name": "栖贤路", "romanization": "Xixian Lu", "reason": "当地读 xī，经审音确认"}


def overrides_of(session, name):
    return session.execute(text("SELECT count(*) FROM romanization_overrides WHERE name = :n"),
                           {"n": name}).scalar_one()


def test_override_needs_a_reviewer_and_a_reason(client, session):
    assert client.put("/v1/romanize/overrides", json=OVERRIDE).status_code == 401
    assert client.put("/v1/romanize/overrides", json=OVERRIDE,
                      headers=auth(client, session, "applicant")).status_code == 403
    reviewer = auth(client, session, "reviewer")
    for body in ({**OVERRIDE, "reason": "  "}, {k: v for k, v in OVERRIDE.items() if k != "reason"},
                 {**OVERRIDE, "romanization": "Xixian <b>Lu</b>"}):
        response = client.put("/v1/romanize/overrides", json=body, headers=reviewer)
        assert response.status_code == 422 and response.headers["content-type"] == PROBLEM
    assert overrides_of(session, "栖贤路") == 0


def test_override_is_audited_and_returned_by_romanize(client, session):
    assert client.get("/v1/romanize", params={"name": "栖贤路"}).json()["text"] == "Qixian Lu"
    stored = client.put("/v1/romanize/overrides", json=OVERRIDE, headers=auth(client, session, "reviewer"))
    assert stored.status_code == 200, stored.text
    override = stored.json()
    assert (override["romanization"], override["created_by"]) == ("Xixian Lu", "ck-reviewer")
    audited = session.execute(text(
        "SELECT actor, action, after->>'reason' FROM audit_log WHERE entity_type = 'romanization_override' "
        "AND entity_id = :i"), {"i": str(override["id"])}).all()
    assert [tuple(a) for a in audited] == [("ck-reviewer", "romanization.override", OVERRIDE["reason"])]
    body = client.get("/v1/romanize", params={"name": "栖贤路"}).json()
    assert (body["text"], body["sign_text"]) == ("Xixian Lu", "XIXIAN LU")
    assert OVERRIDE["reason"] in body["segments"][0]["rule"]
    name_id = register(session, NameInput(name="栖贤路", category="0801", division_code="330502"), actor="test")
    assert client.get(f"/v1/placenames/{name_id}").json()["romanization"] == "Xixian Lu"


def test_category_override_applies_to_that_category_only(client, session):
    approver = auth(client, session, "approver")
    response = client.put("/v1/romanize/overrides", json={**OVERRIDE, "category": "0801"}, headers=approver)
    assert response.status_code == 200, response.text
    assert client.get("/v1/romanize", params={"name": "栖贤路", "category": "0801"}).json()["text"] == "Xixian Lu"
    assert client.get("/v1/romanize", params={"name": "栖贤路"}).json()["text"] == "Qixian Lu"
    again = client.put("/v1/romanize/overrides", json={**OVERRIDE, "category": "0801", "romanization": "Xixian Jie"},
                       headers=approver).json()
    assert again["id"] == response.json()["id"] and overrides_of(session, "栖贤路") == 1   # replaced, not added
