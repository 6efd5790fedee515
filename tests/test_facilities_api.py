"""The /v1/facilities API: types, writes with roles, versions and audit; coverage JSON and CSV; the demo set."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import text

from tests.builders import staff_headers
from tests.facility_builders import COMMUNITY, ORIGIN, add_homes, add_test_county, offset


@pytest.fixture
def county(session):
    add_test_county(session)
    add_homes(session, COMMUNITY, [ORIGIN, offset(400, 90)])
    return session


def _audit(session, facility_id: str) -> list[str]:
    return session.execute(text("SELECT action FROM audit_log WHERE entity_type = 'facility' AND entity_id = :id "
                                "ORDER BY id"), {"id": facility_id}).scalars().all()


def test_facility_types(client):
    body = client.get("/v1/facility-types").json()
    codes = [t["code"] for t in body]
    assert len(codes) == 13 and "MEAL_POINT" in codes and "SOCIAL_WORK" in codes
    meal = next(t for t in body if t["code"] == "MEAL_POINT")
    assert meal["default_radius_m"] == 500 and meal["capacity_unit"] == "meal_seats"


def test_create_change_close_with_versions_and_audit(client, county):
    headers = staff_headers(client, county, "reviewer")
    created = client.post("/v1/facilities", headers=headers, json={
        "name": "甲社区幸福食堂", "type_code": "meal_point", "lon": ORIGIN[0], "lat": ORIGIN[1], "meal_seats": 30})
    assert created.status_code == 201, created.text
    facility = created.json()
    assert facility["type_code"] == "MEAL_POINT" and facility["division_code"] == COMMUNITY
    assert facility["address_code"].startswith(COMMUNITY) and facility["version"] == 1
    assert facility["facility_id"] == "MEAL_POINT-339901-0001"
    url = f"/v1/facilities/{facility['facility_id']}"
    assert created.headers["location"].endswith(url)
    changed = client.patch(url, headers=headers, json={"base_version": 1, "meal_seats": 45})
    assert changed.status_code == 200 and changed.json()["meal_seats"] == 45 and changed.json()["version"] == 2
    stale = client.patch(url, headers=headers, json={"base_version": 1, "meal_seats": 50})
    assert stale.status_code == 409 and stale.json()["current_version"] == 2
    closed = client.post(f"{url}/close", headers=headers, json={"closed_on": "2026-01-01"})
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    assert client.get(url).json()["closed_on"] == "2026-01-01"
    assert _audit(county, facility["facility_id"]) == ["facility.create", "facility.update", "facility.close"]
    listed = client.get("/v1/facilities", params={"division": COMMUNITY}).json()["items"]
    assert facility["facility_id"] not in [f["facility_id"] for f in listed]  # closed: not current


def test_writes_need_a_writer_role(client, county):
    body = {"name": "x", "type_code": "MEAL_POINT", "lon": ORIGIN[0], "lat": ORIGIN[1]}
    assert client.post("/v1/facilities", json=body).status_code == 401
    assert client.post("/v1/facilities", json=body, headers=staff_headers(client, county, "surveyor")
                       ).status_code == 403


@pytest.mark.parametrize(("body", "field"), [
    ({"name": "x", "type_code": "NOPE", "lon": ORIGIN[0], "lat": ORIGIN[1]}, "type_code"),
    ({"name": "x", "type_code": "MEAL_POINT", "lon": 10.0, "lat": ORIGIN[1]}, "lon"),
    ({"name": "x", "type_code": "MEAL_POINT", "lon": ORIGIN[0]}, "lat"),
    ({"name": "x", "type_code": "MEAL_POINT", "address_code": "33990100100100099"}, "address_code"),
    ({"name": "x", "type_code": "MEAL_POINT", "lon": ORIGIN[0], "lat": ORIGIN[1], "beds": -1}, "beds"),
])
def test_bad_input_is_a_field_error_and_nothing_is_written(client, county, body, field):
    headers = staff_headers(client, county, "admin")
    response = client.post("/v1/facilities", headers=headers, json=body)
    assert response.status_code == 422, response.text
    assert field in " ".join(e["field"] for e in response.json()["errors"])
    assert county.execute(text("SELECT count(*) FROM facilities WHERE name = 'x'")).scalar_one() == 0


def test_coverage_validation(client):
    assert client.get("/v1/facilities/coverage", params={"division": "330100", "type": "NOPE"}).status_code == 422
    missing = client.get("/v1/facilities/coverage", params={"division": "339999", "type": "MEAL_POINT"})
    assert missing.status_code == 404
    assert client.get("/v1/facilities/coverage", params={"division": "330100", "radius": 10}).status_code == 422
    assert client.get("/v1/facilities/coverage", params={"division": "33x"}).status_code == 422


def test_demo_set_is_present_with_plausible_counts(session):
    rows = dict(session.execute(text(
        "SELECT type_code, count(*) FROM facilities WHERE division_code LIKE '3301%' AND source LIKE 'demo%' "
        "GROUP BY 1")).all())
    townships = session.execute(text("SELECT count(*) FROM divisions WHERE level = 4 AND valid_to IS NULL "
                                     "AND code LIKE '3301%'")).scalar_one()
    communities = session.execute(text(
        "SELECT count(*) FROM divisions WHERE level = 5 AND valid_to IS NULL AND code LIKE '3301%' "
        "AND substr(code, 10, 3) < '200'")).scalar_one()
    assert communities / 6 < rows["MEAL_POINT"] < communities
    assert townships / 2 < rows["SOCIAL_WORK"] < townships  # a few townships are left without one
    for county_level in ("FUNERAL_HOME", "MARRIAGE_REG", "RELIEF_STATION", "CHILD_WELFARE"):
        assert 5 <= rows[county_level] <= 13
    linked = session.execute(text("SELECT count(*) FILTER (WHERE address_code IS NULL) FROM facilities "
                                  "WHERE source LIKE 'demo%'")).scalar_one()
    assert linked == 0
    assert session.execute(text("SELECT count(*) FROM division_population WHERE code LIKE '3301%'")).scalar_one() > 0


def test_coverage_json_and_csv_on_the_demo_prefecture(client):
    params = {"division": "330100", "type": "MEAL_POINT", "radius": 500}
    body = client.get("/v1/facilities/coverage", params=params).json()
    assert body["division"]["code"] == "330100" and len(body["rows"]) >= 12
    total = body["total"]
    assert total["addresses"] == sum(r["addresses"] for r in body["rows"])
    shares = [r["share"] for r in total["radii"]]
    assert shares == sorted(shares) and 0 < shares[0] < shares[-1] <= 1
    assert any(g["rule"] == "no_social_work_station" for g in body["gaps"])
    as_csv = client.get("/v1/facilities/coverage", params=params, headers={"Accept": "text/csv"})
    assert as_csv.headers["content-type"].startswith("text/csv") and as_csv.text.startswith("\ufeff")
    table = list(csv.DictReader(io.StringIO(as_csv.text.lstrip("\ufeff"))))
    assert len(table) == len(body["rows"]) + 1 and table[-1]["code"] == "330100"
    assert int(table[-1]["covered_500m"]) == total["radii"][1]["covered"]
    gaps = client.get("/v1/facilities/coverage", params={**params, "format": "csv", "part": "gaps"})
    assert len(list(csv.DictReader(io.StringIO(gaps.text.lstrip("\ufeff"))))) == len(body["gaps"])


def test_list_pages_by_id(client):
    first = client.get("/v1/facilities", params={"division": "330106", "type": "MEAL_POINT", "limit": 5}).json()
    assert len(first["items"]) == 5 and first["next"]
    second = client.get(first["next"]).json()
    ids = [f["facility_id"] for f in first["items"] + second["items"]]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert all(f["type_code"] == "MEAL_POINT" and f["division_code"].startswith("330106") for f in second["items"])
