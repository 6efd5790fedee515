"""Address versions: a moved point opens a new version; retiring takes everything below along; codes
are never reused; every change is audited; only admins and reviewers may change addresses."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text

from addresses import edits, library
from addresses.edits import Change
from addresses.reverse import reverse
from data.errors import InvalidInput, NotFound
from tests.address_builders import add_building, add_plate, add_room, add_street, add_unit
from tests.builders import staff_headers


@pytest.fixture
def building(connection):
    street = add_street(connection, name="文一路")
    plate = add_plate(connection, street, 7)
    building = add_building(connection, plate, 1)
    unit = add_unit(connection, building, 1)
    rooms = [add_room(connection, unit, n) for n in (101, 102)]
    return {"street": street, "plate": plate, "building": building, "unit": unit, "rooms": rooms}


def _audits(connection, code: str) -> list[str]:
    return list(connection.execute(text("SELECT action FROM audit_log WHERE entity_type = 'address' "
                                        "AND entity_id = :c ORDER BY id"), {"c": code}).scalars())


def test_moving_a_plate_opens_a_new_version(connection, building):
    plate = building["plate"]
    edits.revise(connection, plate.code, Change(lon=103.80, lat=36.05, reason="实地核对"), actor="t",
                 on=dt.date(2026, 1, 1))
    versions = library.history(connection, plate.code)
    assert [v.valid_to for v in versions] == ["2026-01-01", None]
    assert (versions[-1].lon, versions[-1].lat) == (103.80, 36.05)
    assert reverse(connection, 103.80, 36.05, radius=5).address["code"] == plate.code
    assert _audits(connection, plate.code) == ["revise"]


def test_revision_needs_reason_both_coordinates_and_a_later_date(connection, building):
    code = building["plate"].code
    with pytest.raises(InvalidInput, match="say why"):
        edits.revise(connection, code, Change(reserved=True), actor="t")
    with pytest.raises(InvalidInput, match="both lon and lat"):
        edits.revise(connection, code, Change(lon=103.8, reason="x"), actor="t")
    with pytest.raises(InvalidInput, match="outside China"):
        edits.revise(connection, code, Change(lon=10.0, lat=50.0, reason="x"), actor="t")
    with pytest.raises(InvalidInput, match="before the current"):
        edits.revise(connection, code, Change(reserved=True, reason="x"), actor="t", on=dt.date(2000, 1, 1))
    assert len(library.history(connection, code)) == 1


def test_retiring_a_building_takes_units_and_rooms_along(connection, building):
    retired = edits.retire(connection, building["building"].code, actor="t", reason="房屋拆除")
    assert retired == sorted([building["building"].code, building["unit"].code,
                              *(r.code for r in building["rooms"])])
    with pytest.raises(NotFound, match="retired"):
        library.get_address(connection, building["rooms"][0].code)
    assert library.get_address(connection, building["plate"].code).level == "plate"
    again = add_building(connection, building["plate"], 1)
    assert again.code not in retired  # 废码不用: the next serial, never the retired one


def test_http_edits_need_an_editor(client, session, building):
    code = building["plate"].code
    body = {"lon": 103.81, "lat": 36.06, "reason": "实地核对"}
    assert client.patch(f"/v1/addresses/{code}", json=body).status_code == 401
    applicant = staff_headers(client, session, "applicant")
    assert client.patch(f"/v1/addresses/{code}", json=body, headers=applicant).status_code == 403
    reviewer = staff_headers(client, session, "reviewer")
    moved = client.patch(f"/v1/addresses/{code}", json=body, headers=reviewer)
    assert moved.status_code == 200 and moved.json()["point"]["coordinates"] == [103.81, 36.06]
    bad = client.patch(f"/v1/addresses/{code}", json={**body, "lat": 999}, headers=reviewer)
    assert bad.status_code == 422
    gone = client.post(f"/v1/addresses/{building['unit'].code}/retire", json={"reason": "拆除"}, headers=reviewer)
    assert gone.status_code == 200 and gone.json()["count"] == 3
    assert client.get(f"/v1/addresses/{building['unit'].code}").status_code == 404
