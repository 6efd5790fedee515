import pytest
from sqlalchemy import text

from data.accounts import add_user

PROBLEM = "application/problem+json"


def assert_problem(response, status):
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"] and body["type"]
    assert "Traceback" not in response.text
    return body


def test_health_reports_postgis_and_counts(client):
    body = client.get("/health").json()
    assert body["status"] == "ok" and body["database"] == "reachable"
    assert body["postgis"].startswith("3.")
    assert body["divisions"] == {"province": 31, "prefecture": 342, "county": 2978,
                                 "township": 41352, "village": 620573}
    assert body["polygons"]["county"] >= 0.95 * 2978


def test_division_330502_is_wuxing_under_huzhou_under_zhejiang(client):
    body = client.get("/v1/divisions/330502").json()
    assert (body["name"], body["level_name"], body["kind"]) == ("吴兴区", "county", "市辖区")
    assert [(c["code"], c["name"]) for c in body["chain"]] == [
        ("330000", "浙江省"), ("330500", "湖州市"), ("330502", "吴兴区")]
    assert body["children"] > 5 and body["has_geometry"] and body["geometry_approximate"]
    assert body["geometry"] is None


def test_division_geometry_on_request(client):
    body = client.get("/v1/divisions/330502", params={"geometry": "true"}).json()
    assert body["geometry"]["type"] == "MultiPolygon"
    lon, lat = body["label_point"]["coordinates"]
    assert 119.5 < lon < 120.6 and 30.3 < lat < 31.2


def test_municipality_chain_skips_the_placeholder(client):
    chain = client.get("/v1/divisions/110101").json()["chain"]
    assert [c["code"] for c in chain] == ["110000", "110101"]


@pytest.mark.parametrize("bad", ["33050", "33050A", "abcdef", "3305020", "0000001"])
def test_malformed_code_is_422_with_help(client, bad):
    body = assert_problem(client.get(f"/v1/divisions/{bad}"), 422)
    assert "6 digits" in body["detail"] or "00" in body["detail"]


def test_unknown_code_is_404(client):
    body = assert_problem(client.get("/v1/divisions/999999"), 404)
    assert "999999" in body["detail"]


def test_children_listing_and_paging(client):
    body = client.get("/v1/divisions", params={"parent": "330500"}).json()
    assert [i["name"] for i in body["items"]] == ["吴兴区", "南浔区", "德清县", "长兴县", "安吉县"]
    assert body["next"] is None
    first = client.get("/v1/divisions", params={"parent": "330502", "limit": 3}).json()
    assert len(first["items"]) == 3 and "after=" in first["next"] and "parent=330502" in first["next"]
    second = client.get(first["next"]).json()
    assert second["items"][0]["code"] > first["items"][-1]["code"]


def test_children_look_through_placeholders(client):
    names = {i["name"] for i in client.get("/v1/divisions", params={"parent": "110000"}).json()["items"]}
    assert "东城区" in names and "市辖区" not in names


def test_name_search_and_provinces(client):
    items = client.get("/v1/divisions", params={"q": "吴兴", "level": "county"}).json()["items"]
    assert [i["code"] for i in items] == ["330502"]
    provinces = client.get("/v1/divisions", params={"limit": 1000}).json()["items"]
    assert len(provinces) == 31


@pytest.mark.parametrize("params", [{"level": "planet", "q": "x"}, {"limit": 0},
                                    {"limit": 5000}, {"parent": "12"}, {"after": "x"}])
def test_list_parameter_errors_are_422(client, params):
    assert_problem(client.get("/v1/divisions", params=params), 422)


def test_locate_endpoint(client):
    body = client.get("/v1/divisions/locate", params={"lon": 120.09, "lat": 30.87}).json()
    assert body["county"]["code"] == "330502" and body["prefecture"]["code"] == "330500"
    assert body["province"]["code"] == "330000"


@pytest.mark.parametrize(("params", "status"), [
    ({"lon": 0, "lat": 0}, 404), ({"lon": 200, "lat": 30}, 422), ({"lon": "abc", "lat": 30}, 422),
    ({"lon": 120}, 422), ({"lon": "nan", "lat": 30}, 422),
])
def test_locate_errors(client, params, status):
    body = assert_problem(client.get("/v1/divisions/locate", params=params), status)
    if status == 422:
        assert body["errors"]


def test_openapi_and_landing(client):
    spec = client.get("/api").json()
    assert spec["openapi"].startswith("3.") and "/v1/divisions/{code}" in spec["paths"]
    links = {link["rel"] for link in client.get("/").json()["links"]}
    assert {"service-desc", "service-doc"} <= links


def test_unknown_route_is_problem(client):
    assert_problem(client.get("/no/such/page"), 404)


def _token(client, username, password):
    return client.post("/v1/auth/token", data={"username": username, "password": password})


def test_token_flow_and_roles(client, session):
    add_user(session, "admin-t", "correct horse", "admin")
    add_user(session, "reviewer-t", "battery staple", "reviewer")
    assert_problem(_token(client, "admin-t", "wrong password"), 401)
    assert_problem(_token(client, "nobody", "whatever1"), 401)
    token = _token(client, "admin-t", "correct horse").json()
    assert token["token_type"] == "bearer" and token["expires_in"] > 0
    auth = {"Authorization": f"Bearer {token['access_token']}"}
    assert client.get("/v1/auth/me", headers=auth).json() == {
        "username": "admin-t", "role": "admin", "active": True}
    created = client.post("/v1/users", headers=auth,
                          json={"username": "surveyor-t", "password": "long enough", "role": "surveyor"})
    assert created.status_code == 201, created.text
    reviewer = _token(client, "reviewer-t", "battery staple").json()["access_token"]
    denied = client.post("/v1/users", headers={"Authorization": f"Bearer {reviewer}"},
                         json={"username": "x-user", "password": "long enough", "role": "admin"})
    assert_problem(denied, 403)
    actors = session.execute(text(
        "SELECT actor FROM audit_log WHERE entity_type = 'user' AND entity_id = 'surveyor-t'"
    )).scalars().all()
    assert actors == ["admin-t"]


def test_protected_endpoints_need_a_valid_token(client):
    assert_problem(client.get("/v1/auth/me"), 401)
    assert_problem(client.get("/v1/auth/me", headers={"Authorization": "Bearer not-a-jwt"}), 401)


def test_bad_user_input_is_rejected_and_nothing_written(client, session):
    add_user(session, "admin-u", "correct horse", "admin")
    auth = {"Authorization": "Bearer " + _token(client, "admin-u", "correct horse").json()["access_token"]}
    before = session.execute(text("SELECT count(*) FROM users")).scalar_one()
    for body in ({"username": "ab", "password": "long enough", "role": "admin"},
                 {"username": "okname", "password": "short", "role": "admin"},
                 {"username": "okname", "password": "long enough", "role": "emperor"}):
        assert client.post("/v1/users", headers=auth, json=body).status_code == 422
    dup = client.post("/v1/users", headers=auth,
                      json={"username": "admin-u", "password": "long enough", "role": "admin"})
    assert_problem(dup, 409)
    assert session.execute(text("SELECT count(*) FROM users")).scalar_one() == before


def test_audit_log_is_append_only(session):
    from sqlalchemy.exc import DBAPIError

    add_user(session, "audited", "long enough", "applicant")
    with pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
        session.execute(text("UPDATE audit_log SET actor = 'someone else'"))
    with pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
        session.execute(text("DELETE FROM audit_log"))
