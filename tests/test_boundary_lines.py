"""Boundary lines derived from the real polygons, tri-junctions, numbers, names, authorities; the line API.

Derivation runs on a bounded region (a `within` prefix) inside the test's rolled-back transaction, so
it takes about a second and works whether or not the demo boundaries are loaded in the cluster.
"""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from api.cli_boundaries import boundaries_app
from boundaries.lines import (
    MIN_SHARED_M,
    TOLERANCE_DEG,
    derive_lines,
    derive_tri_junctions,
    serial_number,
    serial_numbers,
)
from tests.builders import add_division, staff_headers

HANGZHOU_CORE = ["330102", "330105"]   # 上城区, 拱墅区 and every line touching them


def _current(connection, line_id: str):
    return connection.execute(text(
        "SELECT id, line_number, name, approving_authority, level, left_code, right_code, length_m, geom_approximate "
        "FROM boundary_lines WHERE line_id = :id AND valid_to IS NULL"), {"id": line_id}).first()


def test_known_neighbours_get_lines_and_others_do_not(connection):
    derive_lines(connection, within="3301")
    for line_id in ("330102-330105", "330106-330110"):   # 上城区—拱墅区, 西湖区—余杭区
        line = _current(connection, line_id)
        assert line is not None and line.length_m > MIN_SHARED_M
    assert _current(connection, "330105-330108") is None   # 拱墅区, 滨江区: 3.8 km apart
    assert _current(connection, "330109-330127") is None   # 萧山区, 淳安县


def test_corner_touch_is_not_a_line(connection):
    touching = connection.execute(text(
        "SELECT ST_DWithin(a.geom, b.geom, :tol) FROM divisions a, divisions b WHERE a.code = '530102' "
        "AND b.code = '530111' AND a.level = 3 AND b.level = 3 AND a.valid_to IS NULL AND b.valid_to IS NULL"),
        {"tol": TOLERANCE_DEG}).scalar_one()
    assert touching  # 五华区 and 官渡区 meet at a corner
    report = derive_lines(connection, within="5301")
    assert _current(connection, "530102-530111") is None
    assert report.dropped_pairs >= 1
    assert _current(connection, "530102-530103") is not None   # 五华区—盘龙区 share an edge


def test_lines_lie_within_the_tolerance_of_both_polygons(connection):
    derive_lines(connection, within=HANGZHOU_CORE)
    far = connection.execute(text("""
        SELECT l.line_id,
               (SELECT max(ST_Distance(a.geom, d.geom)) FROM ST_DumpPoints(l.geom) d) AS from_left,
               (SELECT max(ST_Distance(b.geom, d.geom)) FROM ST_DumpPoints(l.geom) d) AS from_right
        FROM boundary_lines l
        JOIN divisions a ON a.code = l.left_code AND a.level = 3 AND a.valid_to IS NULL
        JOIN divisions b ON b.code = l.right_code AND b.level = 3 AND b.valid_to IS NULL
        WHERE l.valid_to IS NULL AND (l.left_code IN ('330102', '330105') OR l.right_code IN ('330102', '330105'))
    """)).all()
    assert len(far) >= 5
    for row in far:
        assert row.from_left < 1e-6, row      # the geometry is cut from the smaller code's boundary
        assert row.from_right <= TOLERANCE_DEG * 1.01, row


def test_geometry_is_a_multilinestring_in_cgcs2000_with_a_geodesic_length(connection):
    derive_lines(connection, within=HANGZHOU_CORE)
    row = connection.execute(text(
        "SELECT GeometryType(geom), ST_SRID(geom), length_m, ST_Length(geom::geography) AS geodesic, geom_source, "
        "geom_approximate FROM boundary_lines WHERE line_id = '330102-330105' AND valid_to IS NULL")).one()
    assert row[0] == "MULTILINESTRING" and row[1] == 4490
    assert row.length_m == pytest.approx(row.geodesic)
    assert "demo polygon" in row.geom_source and row.geom_approximate


def test_names_authorities_and_numbers(connection):
    derive_lines(connection, within="3301")
    derive_lines(connection, level="province", within="33")
    inner = _current(connection, "330102-330105")
    assert inner.name == "上城区—拱墅区线"
    assert inner.approving_authority == "浙江省人民政府"
    # 西湖区 is also a district of 南昌市, so it takes its prefecture's name
    assert _current(connection, "330106-330110").name == "杭州市西湖区—余杭区线"
    cross = _current(connection, "330112-341881")     # 临安区—宁国市: part of the 浙江—安徽 line
    assert cross.approving_authority == "国务院"
    provincial = _current(connection, "330000-340000")
    assert (provincial.name, provincial.line_number, provincial.approving_authority) == \
        ("浙江省—安徽省线", "3334", "国务院")
    numbers = connection.execute(text(
        "SELECT line_number FROM boundary_lines WHERE valid_to IS NULL AND level = 'county'")).scalars().all()
    assert numbers and all(len(n) == 4 and not n.isdigit() for n in numbers)
    assert len(set(numbers)) == len(numbers)


def test_serial_numbers_skip_all_digit_and_used_ones():
    assert serial_number(10) == "000A"
    assert serial_number(36) == "0010"
    first = list(zip(range(3), serial_numbers({"000B"}), strict=False))
    assert [n for _, n in first] == ["000A", "000C", "000D"]


def test_rederive_keeps_ids_and_numbers(connection):
    derive_lines(connection, within=HANGZHOU_CORE)
    before = dict(connection.execute(text(
        "SELECT line_id, (id, line_number) FROM boundary_lines WHERE valid_to IS NULL AND level = 'county'")).all())
    report = derive_lines(connection, within=HANGZHOU_CORE)
    after = dict(connection.execute(text(
        "SELECT line_id, (id, line_number) FROM boundary_lines WHERE valid_to IS NULL AND level = 'county'")).all())
    assert after == before
    assert report.added == report.replaced == report.closed == 0 and report.unchanged == report.lines


def test_a_changed_line_gets_a_new_version_with_its_number_and_inspection(connection):
    derive_lines(connection, within=HANGZHOU_CORE)
    old = _current(connection, "330102-330105")
    connection.execute(text("UPDATE boundary_lines SET name = 'old name', last_inspection = '2020-05-01' "
                            "WHERE id = :id"), {"id": old.id})
    report = derive_lines(connection, within=HANGZHOU_CORE)
    new = _current(connection, "330102-330105")
    assert report.replaced == 1 and new.id != old.id and new.line_number == old.line_number
    assert new.name == "上城区—拱墅区线"
    closed = connection.execute(text("SELECT valid_to IS NOT NULL FROM boundary_lines WHERE id = :id"),
                                {"id": old.id}).scalar_one()
    assert closed
    assert str(connection.execute(text("SELECT last_inspection FROM boundary_lines WHERE id = :id"),
                                  {"id": new.id}).scalar_one()) == "2020-05-01"


def test_a_line_that_disappeared_is_closed_not_deleted_and_official_lines_stay(connection):
    derive_lines(connection, within=HANGZHOU_CORE)
    connection.execute(text("""
        INSERT INTO boundary_lines (line_id, level, left_code, right_code, line_number, name, geom, length_m,
                                    approving_authority, geom_source)
        SELECT '330105-330108', 'county', '330105', '330108', 'ZZZY', 'gone', geom, length_m, 'x', 'test'
        FROM boundary_lines WHERE line_id = '330102-330105' AND valid_to IS NULL"""))
    connection.execute(text("UPDATE boundary_lines SET geom_approximate = false, geom_source = 'official' "
                            "WHERE line_id = '330102-330108' AND valid_to IS NULL"))
    official = _current(connection, "330102-330108")
    report = derive_lines(connection, within=HANGZHOU_CORE)
    assert _current(connection, "330105-330108") is None
    assert connection.execute(text("SELECT count(*) FROM boundary_lines WHERE line_id = '330105-330108'")
                              ).scalar_one() == 1
    assert report.closed == 1 and report.official_kept == 1
    assert _current(connection, "330102-330108").id == official.id


def test_new_lines_never_take_a_retired_number(connection, session):
    used = set(connection.execute(text("SELECT line_number FROM boundary_lines")).scalars())
    next_free = next(serial_numbers(used))
    connection.execute(text("""
        INSERT INTO boundary_lines (line_id, level, left_code, right_code, line_number, name, geom, length_m,
                                    approving_authority, geom_source, valid_to)
        VALUES ('330102901-330102999', 'township', '330102901', '330102999', :n, 'retired',
                ST_GeomFromText('MULTILINESTRING((121 31, 121.01 31))', 4490), 1000, 'x', 'test', '2020-01-01')"""),
        {"n": next_free})
    _add_townships(session)
    derive_lines(connection, level="township", within="3301029")
    line = _current(connection, "330102901-330102902")
    assert line.line_number != next_free and line.line_number not in used


def _add_townships(session) -> None:
    """Four ~1 km squares: 甲|乙 side by side, 丙 over both, 丁 touching 甲 only at a corner."""
    x, y, s = 121.0, 31.0, 0.01
    squares = {"330102901": ("测试甲街道", x, y), "330102902": ("测试乙街道", x + s, y),
               "330102904": ("测试丁街道", x - s, y - s)}
    for code, (name, x0, y0) in squares.items():
        add_division(session, code=code, level=4, name=name, parent_code="330102", kind="街道",
                     wkt=f"POLYGON(({x0} {y0},{x0 + s} {y0},{x0 + s} {y0 + s},{x0} {y0 + s},{x0} {y0}))")
    add_division(session, code="330102903", level=4, name="测试丙街道", parent_code="330102", kind="街道",
                 wkt=f"POLYGON(({x} {y + s},{x + 2 * s} {y + s},{x + 2 * s} {y + 2 * s},{x} {y + 2 * s},{x} {y + s}))")


def test_township_lines_and_tri_junction_from_hand_made_polygons(connection, session):
    _add_townships(session)
    report = derive_lines(connection, level="township", within="3301029")
    assert report.lines == 3
    line = _current(connection, "330102901-330102902")
    assert line.level == "township" and line.name == "测试甲街道—测试乙街道线"
    assert line.approving_authority == "上城区人民政府"
    assert _current(connection, "330102901-330102904") is None   # corner only
    junctions = derive_tri_junctions(connection, "township", within="3301029")
    assert junctions.count == 1
    point = connection.execute(text("SELECT ST_X(geom), ST_Y(geom) FROM tri_junctions "
                                    "WHERE id = '330102901-330102902-330102903'")).one()
    assert point == pytest.approx((121.01, 31.01), abs=1e-6)


def test_tri_junction_inside_hangzhou_touches_its_three_counties(connection):
    derive_lines(connection, within=HANGZHOU_CORE)
    derive_tri_junctions(connection, "county", within=HANGZHOU_CORE)
    row = connection.execute(text("""
        SELECT t.codes, (SELECT max(ST_Distance(d.geom::geography, t.geom::geography)) FROM divisions d
                         WHERE d.code = ANY(t.codes) AND d.level = 3 AND d.valid_to IS NULL) AS farthest
        FROM tri_junctions t WHERE t.id = '330102-330105-330106'""")).one()
    assert list(row.codes) == ["330102", "330105", "330106"]
    assert row.farthest < 5
    ids = connection.execute(text("SELECT id FROM tri_junctions WHERE level = 'county'")).scalars().all()
    assert all(len(i.split("-")) == 3 for i in ids)


def test_provincial_tri_junction_from_the_county_ones(connection):
    derive_lines(connection, within=["310118", "320509", "330421"])   # 青浦区, 吴江区, 嘉善县
    derive_lines(connection, level="province", within=["31", "32", "33"])
    derive_tri_junctions(connection, "county", within=["310118"])
    derive_tri_junctions(connection, "province", within=["31"])
    county, province = connection.execute(text(
        "SELECT ST_AsText(c.geom), ST_AsText(p.geom) FROM tri_junctions c, tri_junctions p "
        "WHERE c.id = '310118-320509-330421' AND p.id = '310000-320000-330000' AND p.level = 'province'")).one()
    assert county == province   # 沪苏浙 meet where 青浦, 吴江 and 嘉善 meet


def test_derive_writes_a_dataset_row_and_one_audit_entry(connection):
    before = connection.execute(text("SELECT count(*) FROM audit_log WHERE action = 'derive' "
                                     "AND entity_type = 'boundary_lines'")).scalar_one()
    derive_lines(connection, within=HANGZHOU_CORE)
    details = connection.execute(text("SELECT details FROM datasets WHERE name = 'boundary-lines-county'")).scalar_one()
    assert details["tolerance_deg"] == TOLERANCE_DEG and details["min_shared_m"] == MIN_SHARED_M
    assert set(details["timings"]) >= {"intersections", "write"}
    assert connection.execute(text("SELECT count(*) FROM audit_log WHERE action = 'derive' "
                                   "AND entity_type = 'boundary_lines'")).scalar_one() == before + 1


def test_bad_level_and_within_are_refused(connection):
    from data.errors import InvalidInput

    with pytest.raises(InvalidInput):
        derive_lines(connection, level="village")
    with pytest.raises(InvalidInput):
        derive_lines(connection, within="33%")


# ---------------------------------------------------------------- API


def test_lines_page_with_keyset_links(client, connection):
    derive_lines(connection, within="3301")
    first = client.get("/v1/boundaries/lines", params={"division": "330100", "level": "county", "limit": 5})
    assert first.status_code == 200
    body = first.json()
    assert len(body["items"]) == 5 and body["next"]
    item = body["items"][0]
    assert {p["code"] for p in item["parties"]} == set(item["line_id"].split("-"))
    assert all(p["name"] for p in item["parties"])
    second = client.get(body["next"]).json()
    ids = [i["line_id"] for i in body["items"]] + [i["line_id"] for i in second["items"]]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


def test_line_detail_with_geometry_and_tri_junctions(client, connection):
    derive_lines(connection, within=HANGZHOU_CORE)
    derive_tri_junctions(connection, "county", within=HANGZHOU_CORE)
    connection.execute(text("UPDATE boundary_lines SET last_inspection = '2019-06-30' "
                            "WHERE line_id = '330102-330105' AND valid_to IS NULL"))
    body = client.get("/v1/boundaries/lines/330102-330105").json()
    assert body["name"] == "上城区—拱墅区线"
    assert body["geometry"]["type"] == "MultiLineString"
    lon, lat = body["geometry"]["coordinates"][0][0]
    assert 119 < lon < 121 and 29 < lat < 31
    assert body["next_inspection"] == "2024-06-30"
    assert "330102-330105-330106" in {t["id"] for t in body["tri_junctions"]}
    feature = client.get("/v1/boundaries/lines/330102-330105.geojson")
    assert feature.headers["content-type"].startswith("application/geo+json")
    assert feature.json()["properties"]["line_id"] == "330102-330105"


@pytest.mark.parametrize("path", ["/v1/boundaries/lines/abc", "/v1/boundaries/lines/330105-330102",
                                  "/v1/boundaries/lines/330105-330102/documents"])
def test_malformed_line_ids_are_422_with_the_pattern(client, path):
    response = client.get(path)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert "smaller code first" in response.text


def test_unknown_line_is_404(client, connection):
    derive_lines(connection, within=HANGZHOU_CORE)
    assert client.get("/v1/boundaries/lines/330105-330108").status_code == 404
    assert client.get("/v1/boundaries/lines/330105-330108/checks").status_code == 404


def test_document_upload_stores_the_file_once(client, session, connection):
    derive_lines(connection, within=HANGZHOU_CORE)
    headers = staff_headers(client, session, "reviewer")
    content = "上城区—拱墅区线界线协议书(测试)".encode() * 50
    digest = hashlib.sha256(content).hexdigest()
    for title in ("协议书", "协议书(副本)"):
        response = client.post("/v1/boundaries/lines/330102-330105/documents", headers=headers,
                               data={"kind": "协议书", "title": title, "doc_number": "浙民〔2005〕1号",
                                     "signed_on": "2005-06-01"},
                               files={"file": ("agreement.pdf", content, "application/pdf")})
        assert response.status_code == 201, response.text
        assert response.json()["sha256"] == digest
    assert connection.execute(text("SELECT count(*) FROM attachments WHERE sha256 = :s"), {"s": digest}
                              ).scalar_one() == 1
    listed = client.get("/v1/boundaries/lines/330102-330105/documents").json()
    assert [d["title"] for d in listed if d["sha256"] == digest] == ["协议书", "协议书(副本)"]
    no_file = client.post("/v1/boundaries/lines/330102-330105/documents", headers=headers,
                          data={"kind": "会议纪要", "title": "联席会议纪要"})
    assert no_file.status_code == 201 and no_file.json()["sha256"] is None
    bad_kind = client.post("/v1/boundaries/lines/330102-330105/documents", headers=headers,
                           data={"kind": "照片", "title": "x"})
    assert bad_kind.status_code == 422


def test_documents_need_a_reviewer(client, session, connection):
    derive_lines(connection, within=HANGZHOU_CORE)
    data = {"kind": "协议书", "title": "协议书"}
    assert client.post("/v1/boundaries/lines/330102-330105/documents", data=data).status_code == 401
    applicant = staff_headers(client, session, "applicant")
    assert client.post("/v1/boundaries/lines/330102-330105/documents", data=data,
                       headers=applicant).status_code == 403


def test_assignments_are_admin_only(client, session, connection):
    from data.accounts import add_user

    derive_lines(connection, within=HANGZHOU_CORE)
    add_user(session, "field-1", "long enough pw", "surveyor")
    admin = staff_headers(client, session, "admin")
    reviewer = staff_headers(client, session, "reviewer")
    path = "/v1/boundaries/lines/330102-330105/assignments"
    assert client.put(f"{path}/field-1", headers=reviewer).status_code == 403
    assert client.put(f"{path}/field-1").status_code == 401
    created = client.put(f"{path}/field-1", headers=admin)
    assert created.status_code == 201 and created.json()["assigned_by"] == "t-admin"
    assert client.put(f"{path}/field-1", headers=admin).status_code == 200
    assert client.get(path).status_code == 401
    assert [a["username"] for a in client.get(path, headers=reviewer).json()] == ["field-1"]
    assert client.put(f"{path}/t-reviewer", headers=admin).status_code == 422   # not a surveyor
    assert client.put(f"{path}/nobody", headers=admin).status_code == 404
    assert client.delete(f"{path}/field-1", headers=reviewer).status_code == 403
    assert client.delete(f"{path}/field-1", headers=admin).status_code == 204
    assert client.delete(f"{path}/field-1", headers=admin).status_code == 404
    audited = connection.execute(text("SELECT action FROM audit_log WHERE entity_type = 'line_assignment' "
                                      "AND entity_id = '330102-330105/field-1' ORDER BY id")).scalars().all()
    assert audited[-2:] == ["assign", "unassign"]


def test_tri_junctions_listing(client, connection):
    derive_lines(connection, within=HANGZHOU_CORE)
    derive_tri_junctions(connection, "county", within=HANGZHOU_CORE)
    body = client.get("/v1/boundaries/tri-junctions", params={"division": "330105", "level": "county"}).json()
    assert "330102-330105-330106" in {t["id"] for t in body["items"]}
    assert all("330105" in t["codes"] for t in body["items"])
    assert client.get("/v1/boundaries/tri-junctions", params={"division": "33"}).status_code == 422


def test_cli_check_refuses_a_malformed_line():
    result = CliRunner().invoke(boundaries_app, ["check", "--line", "330105-330102"])
    assert result.exit_code == 2
