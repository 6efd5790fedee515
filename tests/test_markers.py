"""Markers (界桩): demo placement, numbering checks (rules 39–40) on demo and crafted registers, the API.

Lines are derived around 海曙区/鄞州区 (宁波) and 长兴县 and the demo markers placed on three of them inside
the test's transaction (a second or two). These are not the lines the demo loader fills (杭州市 and
浙江—安徽), so the tests see freshly placed markers whether or not the demo boundaries (and the demo
inspections on top of them) are loaded in the cluster.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text

from boundaries.demo_markers import PAIR_EVERY, place_demo_markers
from boundaries.lines import derive_lines, derive_tri_junctions
from boundaries.marker_register import axis_key, check_line_markers, check_register, line_axis
from boundaries.markers import NewMarker, change_marker, get_marker, register_marker
from tests.boundary_builders import points_along
from tests.builders import staff_headers

WITHIN = ["330203", "330212", "330522"]
LINE = "330203-330212"           # 海曙区—鄞州区, numbered N→S, ends at the 海曙—鄞州—奉化 tri-junction
PAIR_LINE = "330212-330213"      # 鄞州区—奉化区, 75 km: pairs at every 6th sequence
DEMO_LINES = [LINE, PAIR_LINE, "330522-341882"]   # the last: 长兴县—广德市, two provinces
TRIPLE = "330203-330212-330213"


@pytest.fixture
def demo(connection):
    """Lines around 海曙区, 鄞州区 and 长兴县, their tri-junctions, and demo markers on DEMO_LINES."""
    derive_lines(connection, within=WITHIN)
    derive_tri_junctions(connection, "county", within=WITHIN)
    place_demo_markers(connection, DEMO_LINES)
    return connection


def _number(connection, line_id: str) -> str:
    return connection.execute(text("SELECT line_number FROM boundary_lines WHERE line_id = :l AND valid_to IS NULL"),
                              {"l": line_id}).scalar_one()


def _markers(connection, line_id: str):
    return connection.execute(text(
        "SELECT number, seq, type, type_code, side_code, tri_junction_id, ST_X(geom) AS lon, ST_Y(geom) AS lat, "
        "status, managing_party FROM markers WHERE line_id = :l AND retired_on IS NULL ORDER BY seq, type_code"),
        {"l": line_id}).all()


def _inside(connection, code: str, lon: float, lat: float) -> bool:
    return connection.execute(text(
        "SELECT ST_Intersects(geom, ST_SetSRID(ST_MakePoint(:x, :y), 4490)) FROM divisions "
        "WHERE code = :c AND level = 3 AND valid_to IS NULL"), {"c": code, "x": lon, "y": lat}).scalar_one()


def _register(session, number: str, line_id: str, kind: str, lon: float, lat: float, side: str | None = None,
              tri: str | None = None):
    return register_marker(session, NewMarker(number, line_id, kind, lon, lat, line_id.split("-")[0],
                                              side_code=side, tri_junction_id=tri), actor="test")


# ---------------------------------------------------------------- demo markers


def test_demo_markers_pass_the_numbering_checks(demo, session):
    for line_id in DEMO_LINES:
        markers = _markers(demo, line_id)
        assert len(markers) >= 2
        assert check_line_markers(session, line_id) == [], line_id
        number = _number(demo, line_id)
        assert all(m.number.startswith(number) for m in markers)
        assert min(m.seq for m in markers) == 1


def test_demo_markers_are_numbered_along_the_line_axis(demo):
    for line_id in DEMO_LINES:
        axis = line_axis(demo, line_id)
        singles = [m for m in _markers(demo, line_id) if m.type_code == "Q"]
        keys = [axis_key(axis, m.lon, m.lat) for m in singles]
        assert keys == sorted(keys), line_id


def test_demo_pairs_stand_in_their_parties(demo):
    pairs = [m for m in _markers(demo, PAIR_LINE) if m.type_code in "AB"]
    assert pairs and all(m.seq % PAIR_EVERY == 0 for m in pairs)
    for m in pairs:
        expected = "330212" if m.type_code == "A" else "330213"
        assert m.side_code == expected == m.managing_party
        assert _inside(demo, expected, m.lon, m.lat), m.number


def test_demo_tri_junction_set_has_one_marker_in_each_division(demo):
    triple = [m for m in _markers(demo, LINE) if m.type == "三交点"]
    assert sorted(m.type_code for m in triple) == ["C", "D", "E"]
    assert {m.tri_junction_id for m in triple} == {TRIPLE}
    assert len({m.seq for m in triple}) == 1
    for m in triple:
        assert _inside(demo, m.side_code, m.lon, m.lat), m.number
    far = demo.execute(text(
        "SELECT max(ST_Distance(m.geom::geography, t.geom::geography)) FROM markers m "
        "JOIN tri_junctions t ON t.id = m.tri_junction_id WHERE t.id = :t"), {"t": TRIPLE}).scalar_one()
    assert far < 20


def test_demo_statuses_have_history_and_repair_tasks(demo):
    rows = demo.execute(text("""
        SELECT m.status, count(*) AS n,
               count(*) FILTER (WHERE EXISTS (SELECT 1 FROM repair_tasks t WHERE t.marker_id = m.id
                                              AND t.state = 'open' AND t.found_status = m.status)) AS with_task,
               count(*) FILTER (WHERE EXISTS (SELECT 1 FROM marker_history h WHERE h.marker_id = m.id
                                              AND h.source = 'demo' AND h.changed ? 'status')) AS with_history
        FROM markers m WHERE m.line_id = ANY(:lines) GROUP BY m.status"""), {"lines": DEMO_LINES}).all()
    by_status = {r.status: r for r in rows}
    assert by_status["完好"].n > sum(r.n for r in rows) / 2
    for r in rows:
        if r.status != "完好":
            assert r.with_task == r.n == r.with_history, r


def test_demo_lines_get_a_last_inspection_between_2019_and_2024(demo):
    dates = demo.execute(text("SELECT last_inspection FROM boundary_lines WHERE line_id = ANY(:l) "
                              "AND valid_to IS NULL"), {"l": DEMO_LINES}).scalars().all()
    assert len(dates) == 3 and all(d is not None and 2019 <= d.year <= 2024 for d in dates)


def test_demo_placement_is_deterministic(demo):
    first = [tuple(m) for m in _markers(demo, LINE)]
    demo.execute(text("DELETE FROM repair_tasks WHERE marker_id IN (SELECT id FROM markers WHERE line_id = :l)"),
                 {"l": LINE})
    demo.execute(text("DELETE FROM marker_history WHERE marker_id IN (SELECT id FROM markers WHERE line_id = :l)"),
                 {"l": LINE})
    demo.execute(text("DELETE FROM markers WHERE line_id = :l"), {"l": LINE})
    assert place_demo_markers(demo, [LINE]) == len(first)
    assert [tuple(m) for m in _markers(demo, LINE)] == first


# ---------------------------------------------------------------- crafted defects


def _codes(session, line_id: str) -> set[str]:
    return {f.code for f in check_line_markers(session, line_id)}


def test_single_marker_sharing_its_sequence_is_an_error(demo, session):
    single = next(m for m in _markers(demo, LINE) if m.type_code == "Q")
    _register(session, f"{single.number[:7]}A", LINE, "同号双立", single.lon, single.lat, side="330203")
    findings = check_line_markers(session, LINE)
    hit = [f for f in findings if f.code == "marker-single-not-alone"]
    assert len(hit) == 1 and hit[0].severity == "error" and hit[0].evidence["seq"] == single.seq


def test_incomplete_pair_and_triple_are_errors(demo, session):
    number = _number(demo, LINE)
    lon, lat = points_along(session, LINE, 1)[0]
    _register(session, f"{number}900A", LINE, "同号双立", lon, lat, side="330203")
    _register(session, f"{number}901C", LINE, "同号三立", lon, lat, side="330203")
    _register(session, f"{number}901D", LINE, "同号三立", lon, lat, side="330212")
    codes = _codes(session, LINE)
    assert {"marker-pair-incomplete", "marker-triple-incomplete"} <= codes


def test_pair_on_the_wrong_side_is_an_error(demo, session):
    number = _number(demo, PAIR_LINE)
    pair = [m for m in _markers(demo, PAIR_LINE) if m.type_code in "AB"][:2]
    a, b = sorted(pair, key=lambda m: m.type_code)
    # A and B swap positions: A now stands in 奉化区 (the larger code)
    change_marker(session, get_marker(session, number=a.number).id, {"position": [b.lon, b.lat]},
                  source="manual", actor="test")
    change_marker(session, get_marker(session, number=b.number).id, {"position": [a.lon, a.lat]},
                  source="manual", actor="test")
    position = [f for f in check_line_markers(session, PAIR_LINE) if f.code == "marker-pair-position"]
    assert {f.marker for f in position} == {a.number, b.number}
    _register(session, f"{number}902A", PAIR_LINE, "同号双立", a.lon, a.lat, side="330213")
    assert "marker-pair-side" in _codes(session, PAIR_LINE)


def test_order_inversion_is_reported(demo, session):
    singles = [m for m in _markers(demo, PAIR_LINE) if m.type_code == "Q"][:2]
    first, second = singles
    change_marker(session, get_marker(session, number=first.number).id, {"position": [second.lon, second.lat]},
                  source="manual", actor="test")
    change_marker(session, get_marker(session, number=second.number).id, {"position": [first.lon, first.lat]},
                  source="manual", actor="test")
    order = [f for f in check_line_markers(session, PAIR_LINE) if f.code == "marker-order"]
    assert order and order[0].rule == 40 and order[0].severity == "warning"
    assert second.seq in {f.evidence["next_seq"] for f in order} | {f.evidence["seq"] for f in order}


def test_wrong_line_number_and_missing_first_sequence(demo, session):
    line_id = "330205-330212"                  # 宁波市江北区—鄞州区: derived, without markers
    number = _number(demo, line_id)
    (lon1, lat1), (lon2, lat2) = points_along(session, line_id, 2)
    axis = line_axis(demo, line_id)
    if axis_key(axis, lon2, lat2) < axis_key(axis, lon1, lat1):
        (lon1, lat1), (lon2, lat2) = (lon2, lat2), (lon1, lat1)
    _register(session, f"{number}002Q", line_id, "单立", lon1, lat1)
    _register(session, f"{number}003Q", line_id, "单立", lon2, lat2)
    assert _codes(session, line_id) == {"marker-sequence-start"}
    _register(session, "ZZZZ004Q", line_id, "单立", lon2, lat2)
    assert "marker-line-number" in _codes(session, line_id)


def test_whole_register_check_reports_markers_of_lines_that_are_not_current(demo, session):
    lon, lat = points_along(session, LINE, 1)[0]
    _register(session, "YYYY001Q", "330105-330108", "单立", lon, lat)
    findings = check_register(session)
    assert [f.line_id for f in findings if f.code == "marker-line-not-current"] == ["330105-330108"]
    assert not [f for f in findings if f.line_id in DEMO_LINES]


# ---------------------------------------------------------------- API


def _body(connection, session, seq: int = 950, **extra) -> dict:
    lon, lat = points_along(session, LINE, 3)[1]
    return {"number": f"{_number(connection, LINE)}{seq:03d}Q", "type": "单立", "lon": lon, "lat": lat,
            "precision_m": 0.05, "reference_objects": [{"name": "电杆", "bearing_deg": 45, "distance_m": 12.3}]} | extra


def test_register_a_marker(client, session, demo):
    headers = staff_headers(client, session, "reviewer")
    body = _body(demo, session)
    response = client.post("/v1/markers", json=body, headers=headers)
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["line_id"] == LINE and created["version"] == 1 and created["source_datum"] == "CGCS2000"
    assert created["history"][0]["source"] == "register" and created["history"][0]["actor"] == "t-reviewer"
    assert response.headers["location"].endswith(f"/v1/markers/{body['number']}")
    assert client.post("/v1/markers", json=body, headers=headers).status_code == 409
    wgs = client.post("/v1/markers", json=_body(demo, session, 951, datum="WGS84"), headers=headers).json()
    assert wgs["source_datum"] == "WGS84"


@pytest.mark.parametrize(("change", "field"), [
    ({"datum": "Xian1980"}, "datum"),
    ({"lon": 120.5}, "lon"),                       # tens of km from the line
    ({"number": "ZZZZ950Q"}, "number"),            # no line has this number
    ({"type": "同号双立"}, "type"),                 # Q is not a pair's type code
])
def test_register_refuses_bad_markers(client, session, demo, change, field):
    headers = staff_headers(client, session, "reviewer")
    response = client.post("/v1/markers", json=_body(demo, session) | change, headers=headers)
    assert response.status_code == 422, response.text
    assert field in {e["field"] for e in response.json()["errors"]}


def test_register_enforces_pairing_and_sides(client, session, demo):
    headers = staff_headers(client, session, "reviewer")
    pair = next(m for m in _markers(demo, PAIR_LINE) if m.type_code == "A")
    number = _number(demo, PAIR_LINE)
    single = {"number": f"{number}{pair.seq:03d}Q", "type": "单立", "lon": pair.lon, "lat": pair.lat}
    assert client.post("/v1/markers", json=single, headers=headers).status_code == 422
    b_point = next(m for m in _markers(demo, PAIR_LINE) if m.type_code == "B")
    wrong = {"number": f"{number}960A", "type": "同号双立", "lon": b_point.lon, "lat": b_point.lat}
    response = client.post("/v1/markers", json=wrong, headers=headers)
    assert response.status_code == 422 and "330212" in response.json()["detail"]
    right = wrong | {"lon": pair.lon, "lat": pair.lat}
    created = client.post("/v1/markers", json=right, headers=headers)
    assert created.status_code == 201 and created.json()["side_code"] == "330212"


def test_register_needs_a_reviewer(client, session, demo):
    body = _body(demo, session)
    assert client.post("/v1/markers", json=body).status_code == 401
    assert client.post("/v1/markers", json=body, headers=staff_headers(client, session, "applicant")).status_code == 403
    assert client.post("/v1/markers", json=body | {"number": "12"},
                       headers=staff_headers(client, session, "admin")).status_code == 422


def test_patch_checks_the_base_version(client, session, demo):
    headers = staff_headers(client, session, "reviewer")
    marker = _markers(demo, LINE)[0]
    current = client.get(f"/v1/markers/{marker.number}").json()
    stale = client.patch(f"/v1/markers/{marker.number}", headers=headers,
                         json={"base_version": current["version"] + 5, "precision_m": 0.02})
    assert stale.status_code == 409 and stale.json()["current_version"] == current["version"]
    done = client.patch(f"/v1/markers/{marker.number}", headers=headers,
                        json={"base_version": current["version"], "precision_m": 0.02,
                              "reference_objects_complete": False})
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["version"] == current["version"] + 1 and body["reference_objects_complete"] is False
    assert body["history"][0]["source"] == "manual" and set(body["history"][0]["changed"]) == {
        "precision_m", "reference_objects_complete"}
    outsider = client.patch(f"/v1/markers/{marker.number}", headers=headers,
                            json={"base_version": body["version"], "managing_party": "330127"})   # 淳安县
    assert outsider.status_code == 422


def test_marker_pages_filters_and_detail(client, demo):
    first = client.get("/v1/markers", params={"line_id": LINE, "limit": 3}).json()
    assert len(first["items"]) == 3 and first["next"]
    second = client.get(first["next"]).json()
    numbers = [m["number"] for m in first["items"] + second["items"]]
    assert numbers == sorted(numbers) and all(m["line_id"] == LINE for m in first["items"])
    damaged = demo.execute(text("SELECT number, status FROM markers WHERE status <> '完好' AND line_id = ANY(:l) "
                                "ORDER BY number LIMIT 1"), {"l": DEMO_LINES}).first()
    assert damaged is not None   # the seeded status draws give these lines a few
    listed = client.get("/v1/markers", params={"status": damaged.status, "limit": 200}).json()["items"]
    assert damaged.number in {m["number"] for m in listed}
    assert all(m["status"] == damaged.status for m in listed)
    detail = client.get(f"/v1/markers/{damaged.number}").json()
    assert detail["open_repair_task"]["found_status"] == damaged.status
    marker = _markers(demo, LINE)[0]
    box = f"{marker.lon - 0.001},{marker.lat - 0.001},{marker.lon + 0.001},{marker.lat + 0.001}"
    assert marker.number in {m["number"] for m in client.get("/v1/markers", params={"bbox": box}).json()["items"]}
    history = client.get(f"/v1/markers/{marker.number}/history").json()
    assert history[-1]["version"] == 1 and history[-1]["source"] == "demo"


def test_marker_paths_validate_numbers(client, demo):
    assert client.get("/v1/markers/12345").status_code == 422
    assert "e.g. 3334012Q" in client.get("/v1/markers/12345").json()["detail"]
    assert client.get("/v1/markers/ZZZZ999Q").status_code == 404
    assert client.get("/v1/markers", params={"status": "broken"}).status_code == 422


def test_checks_endpoint(client, session, demo):
    clean = client.get(f"/v1/boundaries/lines/{LINE}/checks").json()
    assert clean["summary"]["total"] == 0
    lon, lat = points_along(session, LINE, 1)[0]
    _register(session, f"{_number(demo, LINE)}900A", LINE, "同号双立", lon, lat, side="330203")
    body = client.get(f"/v1/boundaries/lines/{LINE}/checks").json()
    assert body["summary"]["errors"] >= 1
    assert "marker-pair-incomplete" in {f["code"] for f in body["findings"]}
