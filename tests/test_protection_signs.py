import datetime as dt
import json
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import text

from data.errors import Conflict, InvalidInput, NotFound
from placenames import protection, signs
from placenames.registry import NameInput, register, revise, today
from tests.builders import staff_headers

PROBLEM = "application/problem+json"
WUXING = (120.09, 30.87)  # a point in 吴兴区, 湖州


def assert_problem(response, status):
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status and body["detail"] and "Traceback" not in response.text
    return body


def add_name(session, name="文昌路", category="0801", division_code="330502"):
    return register(session, NameInput(name=name, category=category, division_code=division_code),
                    actor="test")


def add_application(session, name_id, kind="rename", proposed_name="文兴路"):
    return session.execute(text(
        "INSERT INTO applications (kind, state, name_id, proposed_name, category, division_code, reasons, "
        "applicant) VALUES (:kind, 'draft', :name_id, :proposed, '0801', '330502', '测试', 'tester') "
        "RETURNING id"), {"kind": kind, "name_id": name_id, "proposed": proposed_name}).scalar_one()


def auth_for(client, session, role, username=None):
    return staff_headers(client, session, role, username or f"{role}-ps")


def audit_rows(session, entity_type, entity_id):
    return session.execute(text(
        "SELECT actor, action, before, after FROM audit_log WHERE entity_type = :t AND entity_id = :i "
        "ORDER BY id"), {"t": entity_type, "i": str(entity_id)}).all()


def sign_body(name_id, **overrides):
    body = {"name_id": name_id, "kind": "街牌", "lon": WUXING[0], "lat": WUXING[1],
            "text_zh": "文昌路", "text_pinyin": "WENCHANG LU"}
    return body | overrides


def codes(view):
    return {f.code for f in view.checks}


# ---------------------------------------------------------------- protection list (domain)

def test_protect_lists_a_current_name_with_measures_and_audits(session):
    name_id = add_name(session)
    pid = protection.protect(session, name_id=name_id, category="历史地名", reason="明代已有此名",
                             listed_on=dt.date(2024, 5, 1),
                             measures=[{"kind": "设立标志", "description": "路口立碑"}], actor="approver-1")
    entry = protection.get_protected(session, pid)
    assert (entry.name, entry.romanization, entry.category) == ("文昌路", "Wenchang Lu", "历史地名")
    assert entry.listed_on == "2024-05-01" and entry.name_status == "standard"
    measures = [(m.kind, m.description, m.application_id) for m in entry.measures]
    assert measures == [("设立标志", "路口立碑", None)]
    listed = audit_rows(session, "protected_name", pid)
    assert [(r.actor, r.action) for r in listed] == [("approver-1", "protection.list")]
    assert listed[0].after["name_id"] == name_id and listed[0].after["listed_on"] == "2024-05-01"
    measure = audit_rows(session, "protection_measure", entry.measures[0].id)
    assert measure[0].action == "protection.measure" and measure[0].after["kind"] == "设立标志"


def test_a_name_is_listed_once(session):
    name_id = add_name(session)
    protection.protect(session, name_id=name_id, category="文化地名", reason="理由", actor="a")
    with pytest.raises(Conflict, match="already on the protection list"):
        protection.protect(session, name_id=name_id, category="历史地名", reason="再列", actor="a")


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"category": "名人地名"}, "category"),
    ({"reason": "  "}, "reason"),
    ({"listed_on": dt.date.today() + dt.timedelta(days=3)}, "listed_on"),
    ({"measures": [{"kind": "挂牌", "description": "x"}]}, "measures.0.kind"),
    ({"measures": [{"kind": "其他", "description": ""}]}, "measures.0.description"),
    ({"measures": [{"kind": "其他", "description": "x", "application_id": 987654321}]},
     "measures.0.application_id"),
    ({"name_id": 987654321}, "name_id"),
])
def test_protect_rejects_bad_input_with_the_field(session, kwargs, field):
    values = {"name_id": add_name(session), "category": "历史地名", "reason": "理由"} | kwargs
    with pytest.raises(InvalidInput) as caught:
        protection.protect(session, **values, actor="a")
    assert caught.value.errors[0]["field"] == field


def test_add_measure_checks_kind_and_entry(session):
    pid = protection.protect(session, name_id=add_name(session), category="红色地名", reason="理由",
                             actor="a")
    with pytest.raises(InvalidInput, match="设立标志"):
        protection.add_measure(session, pid, kind="立碑", description="x", actor="a")
    with pytest.raises(NotFound):
        protection.add_measure(session, pid + 1000, kind="其他", description="x", actor="a")
    for kind in protection.MEASURE_KINDS:  # every kind the schema's CHECK allows
        protection.add_measure(session, pid, kind=kind, description=f"{kind}措施", actor="a")
    assert [m.kind for m in protection.get_protected(session, pid).measures] == list(protection.MEASURE_KINDS)


def test_rule_20_blocks_a_rename_until_a_measure_is_linked_to_it(session):
    name_id = add_name(session)
    app_id = add_application(session, name_id)
    other_app = add_application(session, name_id, kind="cancel", proposed_name=None)
    assert protection.protection_block(session, name_id, app_id) is None  # not listed: no block
    pid = protection.protect(session, name_id=name_id, category="历史地名", reason="理由", actor="a",
                             measures=[{"kind": "宣传推广", "description": "编入地名志"}])
    message = protection.protection_block(session, name_id, app_id)
    assert message and "保护名录" in message and str(app_id) in message
    protection.add_measure(session, pid, kind="派生命名", description="用于新区道路",
                           application_id=other_app, actor="a")
    assert protection.protection_block(session, name_id, app_id)  # a measure for another application
    protection.add_measure(session, pid, kind="派生命名", description="原名移用于附近新路",
                           application_id=app_id, actor="a")
    assert protection.protection_block(session, name_id, app_id) is None
    assert protection.protection_block(session, None, app_id) is None


def test_list_protected_filters_by_category_and_pages(session):
    listing = (("文昌路", "历史地名"), ("红旗路", "红色地名"), ("府前街", "历史地名"), ("仓前街", "历史地名"))
    ids = [protection.protect(session, name_id=add_name(session, name=n), category=c, reason="理由",
                              actor="a") for n, c in listing]
    first = protection.list_protected(session, category="历史地名", limit=2)
    assert [e.id for e in first.items] == [ids[0], ids[2]] and first.next_after == ids[2]
    second = protection.list_protected(session, category="历史地名", limit=2, after=first.next_after)
    assert [e.id for e in second.items] == [ids[3]] and second.next_after is None
    with pytest.raises(InvalidInput):
        protection.list_protected(session, category="nope")


# ---------------------------------------------------------------- protection list (API)

def test_protection_api_roles_and_statuses(client, session):
    name_id = add_name(session)
    body = {"name_id": name_id, "category": "历史地名", "reason": "清代古街",
            "measures": [{"kind": "设立标志", "description": "立牌"}]}
    assert_problem(client.post("/v1/protected-names", json=body), 401)
    assert_problem(client.post("/v1/protected-names", json=body,
                               headers=auth_for(client, session, "surveyor")), 403)
    approver = auth_for(client, session, "approver")
    created = client.post("/v1/protected-names", json=body, headers=approver)
    assert created.status_code == 201, created.text
    entry = created.json()
    assert entry["name"] == "文昌路" and entry["created_by"] == "approver-ps"
    assert created.headers["location"].endswith(f"/v1/protected-names/{entry['id']}")
    assert client.get(f"/v1/protected-names/{entry['id']}").json() == entry  # reads are public
    assert_problem(client.post("/v1/protected-names", json=body, headers=approver), 409)
    added = client.post(f"/v1/protected-names/{entry['id']}/measures", headers=approver,
                        json={"kind": "活化使用", "description": "新建公园沿用此名"})
    assert added.status_code == 201
    assert [m["kind"] for m in added.json()["measures"]] == ["设立标志", "活化使用"]
    assert_problem(client.post(f"/v1/protected-names/{entry['id'] + 999}/measures", headers=approver,
                               json={"kind": "其他", "description": "x"}), 404)
    assert_problem(client.get(f"/v1/protected-names/{entry['id'] + 999}"), 404)


@pytest.mark.parametrize(("patch", "field"), [
    ({"category": "名人地名"}, "category"),
    ({"measures": [{"kind": "挂牌", "description": "x"}]}, "measures.0.kind"),
    ({"reason": ""}, "reason"),
    ({"reason": "x" * 3000}, "reason"),
    ({"surprise": 1}, "surprise"),
    ({"name_id": 2**63}, "name_id"),
    ({"listed_on": "2024-13-01"}, "listed_on"),
])
def test_protection_api_bad_input_is_422(client, session, patch, field):
    body = {"name_id": add_name(session), "category": "历史地名", "reason": "理由"} | patch
    problem = assert_problem(client.post("/v1/protected-names", json=body,
                                         headers=auth_for(client, session, "admin")), 422)
    assert any(e["field"] == field for e in problem["errors"]), problem


def test_protection_api_paging_next_repeats_the_query(client, session):
    for name in ("文昌路", "府前街", "仓前街"):
        protection.protect(session, name_id=add_name(session, name=name), category="文化地名", reason="理由",
                           actor="a")
    page = client.get("/v1/protected-names", params={"category": "文化地名", "limit": 2}).json()
    assert len(page["items"]) == 2
    query = parse_qs(urlsplit(page["next"]).query)
    assert query["category"] == ["文化地名"] and query["limit"] == ["2"]
    rest = client.get(page["next"]).json()
    assert [e["name"] for e in rest["items"]] == ["仓前街"] and rest["next"] is None
    assert_problem(client.get("/v1/protected-names", params={"category": "外国地名"}), 422)
    assert_problem(client.get("/v1/protected-names", params={"limit": 201}), 422)


# ---------------------------------------------------------------- signs (domain)

def test_correct_sign_in_all_caps_passes(session):
    name_id = add_name(session)
    sign = signs.get_sign(session, signs.add_sign(session, name_id=name_id, kind="街牌", lon=WUXING[0],
                                                  lat=WUXING[1], text_zh="文昌路", text_pinyin="WENCHANG LU",
                                                  actor="s"))
    assert not sign.mismatched and not [f for f in sign.checks if f.severity == "error"]
    assert (sign.name, sign.romanization, sign.lon, sign.lat) == ("文昌路", "Wenchang Lu", *WUXING)
    for spelling in ("Wenchang Lu", "Wénchāng Lù", "WÉNCHĀNG LÙ"):  # tone marks are optional
        assert signs.sign_checks("文昌路", spelling, "文昌路", "Wenchang Lu", "standard") == []
        sign_id = signs.add_sign(session, name_id=name_id, kind="街牌", lon=WUXING[0], lat=WUXING[1],
                                 text_zh="文昌路", text_pinyin=spelling, actor="s")
        assert not signs.get_sign(session, sign_id).mismatched


@pytest.mark.parametrize(("text_zh", "text_pinyin", "code"), [
    ("文唱路", "WENCHANG LU", "sign-name-mismatch"),
    ("文昌路", "Wenchang Road", "english-word"),        # English 通名: rule 25
    ("文昌路", "WENCHANG ROAD", "english-word"),
    ("文昌路", "Wen Chang Lu", "sign-word-division"),   # 专名 is written as one word
    ("文昌路", "Wenchang Jie", "sign-mismatch"),
])
def test_wrong_sign_text_is_an_error(session, text_zh, text_pinyin, code):
    name_id = add_name(session)
    sign_id = signs.add_sign(session, name_id=name_id, kind="街牌", lon=WUXING[0], lat=WUXING[1],
                             text_zh=text_zh, text_pinyin=text_pinyin, actor="s")
    sign = signs.get_sign(session, sign_id)
    errors = [f for f in sign.checks if f.severity == "error"]
    assert sign.mismatched and errors
    assert code in codes(sign)
    assert all(f.as_dict()["message"] for f in sign.checks)


def test_english_generic_finding_comes_from_rule_25(session):
    sign_id = signs.add_sign(session, name_id=add_name(session), kind="街牌", lon=WUXING[0], lat=WUXING[1],
                             text_zh="文昌路", text_pinyin="Wenchang Road", actor="s")
    assert any(f.rule == 25 and f.severity == "error" for f in signs.get_sign(session, sign_id).checks)


def test_checks_follow_the_current_name(session):
    name_id = add_name(session)
    sign_id = signs.add_sign(session, name_id=name_id, kind="街牌", lon=WUXING[0], lat=WUXING[1],
                             text_zh="文昌路", text_pinyin="WENCHANG LU", actor="s")
    revise(session, name_id, {"name": "文兴路"}, actor="test")
    sign = signs.get_sign(session, sign_id)
    assert sign.name == "文兴路" and sign.mismatched and "sign-name-mismatch" in codes(sign)
    revise(session, name_id, {"name": "文昌路", "status": "cancelled"}, actor="test")
    sign = signs.get_sign(session, sign_id)
    warning = next(f for f in sign.checks if f.code == "sign-name-not-in-use")
    assert warning.severity == "warning" and not sign.mismatched


@pytest.mark.parametrize(("lon", "lat", "field"), [
    (float("nan"), 30.0, "lon"), (120.0, float("inf"), "lat"), (200.0, 30.0, "lon"), (120.0, -91.0, "lat"),
    (30.87, 120.09, "lat"),  # swapped axes
    (2.35, 48.85, "lon"),    # Paris
])
def test_bad_coordinates_are_rejected(session, lon, lat, field):
    with pytest.raises(InvalidInput) as caught:
        signs.add_sign(session, name_id=add_name(session), kind="街牌", lon=lon, lat=lat, text_zh="文昌路",
                       text_pinyin="WENCHANG LU", actor="s")
    assert field in {e["field"] for e in caught.value.errors}


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"kind": "广告牌"}, "kind"), ({"condition": "broken"}, "condition"), ({"text_zh": "  "}, "text_zh"),
    ({"installed_on": dt.date.today() + dt.timedelta(days=2)}, "installed_on"),
    ({"name_id": 987654321}, "name_id"),
])
def test_add_sign_rejects_bad_input(session, kwargs, field):
    values = {"name_id": add_name(session), "kind": "街牌", "lon": WUXING[0], "lat": WUXING[1],
              "text_zh": "文昌路", "text_pinyin": "WENCHANG LU"} | kwargs
    with pytest.raises(InvalidInput) as caught:
        signs.add_sign(session, **values, actor="s")
    assert caught.value.errors[0]["field"] == field


def test_inspections_update_the_condition_and_are_audited(session):
    sign_id = signs.add_sign(session, name_id=add_name(session), kind="街牌", lon=WUXING[0], lat=WUXING[1],
                             text_zh="文昌路", text_pinyin="WENCHANG LU", installed_on=dt.date(2023, 1, 10),
                             actor="s")
    assert audit_rows(session, "sign", sign_id)[0].action == "sign.create"
    signs.inspect_sign(session, sign_id, inspected_on=dt.date(2024, 3, 1), condition="faded", note="褪色",
                       actor="insp")
    assert signs.get_sign(session, sign_id).condition == "faded"
    signs.inspect_sign(session, sign_id, inspected_on=dt.date(2023, 6, 1), condition="good", actor="insp")
    sign = signs.get_sign(session, sign_id)
    assert sign.condition == "faded"  # a back-dated inspection does not override a later one
    assert [(i.inspected_on, i.condition, i.inspector) for i in sign.inspections] == [
        ("2024-03-01", "faded", "insp"), ("2023-06-01", "good", "insp")]
    rows = audit_rows(session, "sign", sign_id)
    assert [r.action for r in rows] == ["sign.create", "sign.inspect", "sign.inspect"]
    assert rows[1].before == {"condition": "good"} and rows[1].after["condition"] == "faded"
    assert rows[1].actor == "insp" and rows[2].after["condition"] == "faded"
    with pytest.raises(InvalidInput, match="installed"):
        signs.inspect_sign(session, sign_id, inspected_on=dt.date(2022, 1, 1), condition="good", actor="i")
    with pytest.raises(InvalidInput, match="future"):
        signs.inspect_sign(session, sign_id, inspected_on=today() + dt.timedelta(days=1), condition="good",
                           actor="i")
    with pytest.raises(NotFound):
        signs.inspect_sign(session, sign_id + 999, inspected_on=today(), condition="good", actor="i")


def test_list_signs_filters(session):
    name_id = add_name(session)
    other = add_name(session, name="府前街")
    good = signs.add_sign(session, name_id=name_id, kind="街牌", lon=120.09, lat=30.87, text_zh="文昌路",
                          text_pinyin="WENCHANG LU", actor="s")
    wrong = signs.add_sign(session, name_id=name_id, kind="街牌", lon=120.20, lat=30.90, text_zh="文昌路",
                           text_pinyin="WENCHANG ROAD", condition="damaged", actor="s")
    elsewhere = signs.add_sign(session, name_id=other, kind="街牌", lon=121.0, lat=31.0, text_zh="府前街",
                               text_pinyin="FUQIAN JIE", actor="s")

    def ids(**kw):
        return [s.id for s in signs.list_signs(session, **kw).items]

    assert ids(name_id=name_id) == [good, wrong]
    assert ids(name_id=name_id, mismatched=True) == [wrong]
    assert ids(name_id=name_id, mismatched=False) == [good]
    assert ids(condition="damaged", name_id=name_id) == [wrong]
    assert ids(bbox=(120.5, 30.5, 121.5, 31.5)) == [elsewhere]
    with pytest.raises(InvalidInput):
        signs.list_signs(session, condition="gone")


# ---------------------------------------------------------------- signs (API)

def test_sign_api_roles_and_checks(client, session):
    name_id = add_name(session)
    assert_problem(client.post("/v1/signs", json=sign_body(name_id)), 401)
    approver = auth_for(client, session, "approver")
    assert_problem(client.post("/v1/signs", json=sign_body(name_id), headers=approver), 403)
    surveyor = auth_for(client, session, "surveyor")
    created = client.post("/v1/signs", json=sign_body(name_id, text_pinyin="Wenchang Road"), headers=surveyor)
    assert created.status_code == 201, created.text
    sign = created.json()
    assert sign["mismatched"] and any(c["severity"] == "error" for c in sign["checks"])
    assert sign["geometry"] == {"type": "Point", "coordinates": list(WUXING)}
    assert created.headers["location"].endswith(f"/v1/signs/{sign['id']}")
    inspected = client.post(f"/v1/signs/{sign['id']}/inspections", headers=surveyor,
                            json={"inspected_on": str(today()), "condition": "missing", "note": "牌已丢失"})
    assert inspected.status_code == 201 and inspected.json()["condition"] == "missing"
    assert inspected.json()["inspections"][0]["note"] == "牌已丢失"
    assert_problem(client.post(f"/v1/signs/{sign['id']}/inspections", json={"inspected_on": str(today()),
                                                                           "condition": "good"}), 401)
    public = client.get(f"/v1/signs/{sign['id']}")
    assert public.status_code == 200 and public.json()["condition"] == "missing"
    assert_problem(client.get(f"/v1/signs/{sign['id'] + 999}"), 404)
    assert_problem(client.post(f"/v1/signs/{sign['id'] + 999}/inspections", headers=surveyor,
                               json={"inspected_on": str(today()), "condition": "good"}), 404)


@pytest.mark.parametrize(("patch", "field"), [
    ({"lon": 200}, "lon"), ({"lat": 120.09, "lon": 30.87}, "lat"), ({"kind": "广告牌"}, "kind"),
    ({"condition": "broken"}, "condition"), ({"text_zh": ""}, "text_zh"),
    ({"text_pinyin": "x" * 101}, "text_pinyin"),
    ({"color": "blue"}, "color"), ({"installed_on": "2999-01-01"}, "installed_on"), ({"lon": "east"}, "lon"),
])
def test_sign_api_bad_input_is_422(client, session, patch, field):
    headers = auth_for(client, session, "reviewer")
    problem = assert_problem(client.post("/v1/signs", json=sign_body(add_name(session), **patch),
                                         headers=headers), 422)
    assert any(e["field"] == field for e in problem["errors"]), problem


def test_sign_api_nan_is_422(client, session):
    headers = auth_for(client, session, "admin") | {"Content-Type": "application/json"}
    name_id = add_name(session)
    raw = json.dumps(sign_body(name_id)).replace(str(WUXING[0]), "NaN")
    problem = assert_problem(client.post("/v1/signs", content=raw, headers=headers), 422)
    assert problem["errors"][0]["field"] == "lon"
    assert signs.list_signs(session, name_id=name_id).items == []


def test_sign_api_list_filters_and_next(client, session):
    name_id = add_name(session)
    for pinyin in ("WENCHANG LU", "WENCHANG ROAD", "Wenchang Lu", "WEN CHANG LU"):
        signs.add_sign(session, name_id=name_id, kind="街牌", lon=WUXING[0], lat=WUXING[1], text_zh="文昌路",
                       text_pinyin=pinyin, actor="s")
    page = client.get("/v1/signs", params={"name_id": name_id, "mismatched": "true", "limit": 1}).json()
    assert [s["text_pinyin"] for s in page["items"]] == ["WENCHANG ROAD"]
    query = parse_qs(urlsplit(page["next"]).query)
    assert query["mismatched"] == ["true"] and query["name_id"] == [str(name_id)]
    rest = client.get(page["next"]).json()
    assert [s["text_pinyin"] for s in rest["items"]] == ["WEN CHANG LU"] and rest["next"] is None
    ok = client.get("/v1/signs", params={"name_id": name_id, "mismatched": "false"}).json()
    assert [s["text_pinyin"] for s in ok["items"]] == ["WENCHANG LU", "Wenchang Lu"]
    bbox = client.get("/v1/signs", params={"bbox": "100,20,101,21"}).json()
    assert bbox["items"] == [] and bbox["next"] is None
    assert_problem(client.get("/v1/signs", params={"bbox": "1,2,3"}), 422)
    assert_problem(client.get("/v1/signs", params={"condition": "gone"}), 422)
    assert_problem(client.get("/v1/signs", params={"limit": 0}), 422)
