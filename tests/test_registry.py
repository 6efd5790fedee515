"""The standard-name registry: search, one name, versions, geometry, the seeded names and CSV import
(placenames.registry, placenames.seed, placenames.csv_import; domain.md §1.3, §2)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from api.cli import app
from data.errors import InvalidInput, NotFound
from placenames.csv_import import import_csv
from placenames.registry import NameInput, get_name, history, register, revise
from placenames.seed import DATASET, SOURCE
from tests.builders import staff_headers

PROBLEM = "application/problem+json"
PASSWORD = "long enough pw"
LINE_IN_WUXING = {"type": "LineString", "coordinates": [[120.09, 30.87], [120.10, 30.875]]}


def search(client, **params) -> dict:
    response = client.get("/v1/placenames", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def names(page: dict) -> list[str]:
    return [item["name"] for item in page["items"]]


def headers(client, session, role: str) -> dict[str, str]:
    return staff_headers(client, session, role, f"reg-{role}")


def seeded_id(session, entity_code: str, category: str) -> int:
    return session.execute(text(
        "SELECT name_id FROM place_names WHERE entity_code = :c AND category = :cat AND valid_to IS NULL"),
        {"c": entity_code, "cat": category}).scalar_one()


def audit_actions(session, name_id: int) -> list[tuple[str, str]]:
    return [tuple(r) for r in session.execute(text(
        "SELECT actor, action FROM audit_log WHERE entity_type = 'place_name' AND entity_id = :i ORDER BY id"),
        {"i": str(name_id)})]


# ---------------------------------------------------------------- search


def test_search_by_chinese_finds_the_prefecture_first(client):
    first = search(client, q="湖州市")["items"][0]
    assert (first["name"], first["entity_code"], first["category"]) == ("湖州市", "330500", "0402")


def test_search_by_full_pinyin_and_initials(client):
    assert names(search(client, q="huzhou"))[0] == "湖州市"
    assert names(search(client, q="HuZhou"))[0] == "湖州市"            # case and spacing do not matter
    assert "湖州市" in names(search(client, q="hzs", limit=5))
    assert names(search(client, q="wuxing"))[0] == "吴兴区"


def test_search_by_category_class_or_subclass(client):
    counties = search(client, q="hzs", category="0403")["items"]
    assert counties and {i["category"] for i in counties} == {"0403"}
    assert "湖州市" not in [i["name"] for i in counties]
    divisions = search(client, q="hzs", category="行政区域", limit=50)["items"]
    assert "湖州市" in [i["name"] for i in divisions] and all(i["category"].startswith("04") for i in divisions)


def test_search_within_a_division_returns_its_descendants_only(client):
    items = search(client, division="330500", limit=200)["items"]
    assert len(items) == 200 and all(i["division_code"].startswith("3305") for i in items)
    assert {"湖州市", "吴兴区", "南浔区"} <= {i["name"] for i in items}
    wuxing = search(client, q="织里", division="330502")["items"]
    assert wuxing and {i["division_code"][:6] for i in wuxing} == {"330502"}


def test_search_in_a_bbox(client):
    items = search(client, bbox="119.99,30.75,120.05,30.80", limit=200)["items"]
    assert {"湖州市", "吴兴区"} <= {i["name"] for i in items}
    for item in items:
        lon, lat = item["geometry"]["coordinates"]
        assert 119.99 <= lon <= 120.05 and 30.75 <= lat <= 30.80
    assert "南浔区" not in {i["name"] for i in items}                   # its point is at 120.29


def test_search_by_status(client, session):
    register(session, NameInput(name="栖贤路", category="0801", division_code="330502", status="historical"),
             actor="test")
    assert search(client, q="栖贤路")["items"] == []                   # standard names by default
    assert names(search(client, q="栖贤路", status="historical")) == ["栖贤路"]
    assert names(search(client, q="栖贤路", status="any")) == ["栖贤路"]


def test_keyset_paging_through_next(client):
    first = search(client, q="huzhou", limit=5)
    assert first["next"] and "after=" in first["next"]
    second = client.get(first["next"]).json()
    assert len(second["items"]) == 5
    page_ids = [i["id"] for i in first["items"]] + [i["id"] for i in second["items"]]
    assert len(set(page_ids)) == 10
    assert page_ids == [i["id"] for i in search(client, q="huzhou", limit=10)["items"]]


@pytest.mark.parametrize("params", [
    {"bbox": "120,30,121"},
    {"bbox": "121,30,120,31"},                # min > max
    {"bbox": "a,b,c,d"},
    {"after": "next-page"},
    {"category": "0999"},
    {"division": "33050"},
    {"q": "!!"},
    {"status": "pending"},
    {"limit": "0"},
])
def test_bad_search_parameters_are_422_problems(client, params):
    response = client.get("/v1/placenames", params={"q": "huzhou", **params})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM and response.json()["detail"]


# ---------------------------------------------------------------- one name


def test_get_a_seeded_name(client, session):
    name_id = seeded_id(session, "330502", "0403")
    body = client.get(f"/v1/placenames/{name_id}").json()
    assert {k: body[k] for k in ("name", "specific", "generic", "category", "category_name", "romanization",
                                 "entity_code", "division_names", "status")} == {
        "name": "吴兴区", "specific": "吴兴", "generic": "区", "category": "0403",
        "category_name": "县级行政区域", "romanization": "Wuxing Qu", "entity_code": "330502",
        "division_names": ["吴兴区"], "status": "standard"}
    assert body["geometry"]["type"] == "Point" and body["valid_to"] is None


def test_unknown_name_is_404(client):
    response = client.get("/v1/placenames/999999999")
    assert response.status_code == 404 and response.headers["content-type"] == PROBLEM
    assert client.get("/v1/placenames/999999999/history").status_code == 404


# ---------------------------------------------------------------- versions


def test_revisions_close_versions_and_keep_former_names(session):
    name_id = register(session, NameInput(name="栖贤路", category="0801", division_code="330502"),
                       actor="clerk", valid_from=dt.date(2010, 1, 1))
    revise(session, name_id, {"meaning": "因栖贤寺得名"}, actor="clerk", valid_from=dt.date(2020, 5, 1))
    revise(session, name_id, {"name": "栖梧路"}, actor="reviewer", valid_from=dt.date(2024, 3, 3),
           change_note="更名")
    versions = history(session, name_id)
    assert [(v.name, v.valid_from, v.valid_to) for v in versions] == [
        ("栖贤路", "2010-01-01", "2020-05-01"), ("栖贤路", "2020-05-01", "2024-03-03"),
        ("栖梧路", "2024-03-03", None)]
    assert [v.former_names for v in versions] == [[], [], ["栖贤路"]]
    assert [v.romanization for v in versions] == ["Qixian Lu", "Qixian Lu", "Qiwu Lu"]
    assert versions[2].meaning == "因栖贤寺得名" and versions[2].change_note == "更名"
    assert get_name(session, name_id).name == "栖梧路"
    assert audit_actions(session, name_id) == [("clerk", "placename.version"), ("clerk", "placename.version"),
                                               ("reviewer", "placename.version")]


def test_history_over_http(client, session):
    name_id = register(session, NameInput(name="栖贤路", category="0801", division_code="330502"),
                       actor="test", valid_from=dt.date(2010, 1, 1))
    revise(session, name_id, {"name": "栖梧路"}, actor="test", valid_from=dt.date(2024, 3, 3))
    versions = client.get(f"/v1/placenames/{name_id}/history").json()
    assert [(v["name"], v["valid_to"]) for v in versions] == [("栖贤路", "2024-03-03"), ("栖梧路", None)]


def test_refused_revisions_change_nothing(session):
    name_id = register(session, NameInput(name="栖贤路", category="0801", division_code="330502"),
                       actor="test", valid_from=dt.date(2020, 1, 1))
    with pytest.raises(InvalidInput, match="on or after"):
        revise(session, name_id, {"meaning": "早于现行版本"}, actor="test", valid_from=dt.date(2019, 1, 1))
    with pytest.raises(InvalidInput, match="colour"):
        revise(session, name_id, {"colour": "red"}, actor="test")
    with pytest.raises(InvalidInput):
        revise(session, name_id, {"name": "路" * 51}, actor="test", valid_from=dt.date(2024, 1, 1))
    assert [(v.name, v.valid_to) for v in history(session, name_id)] == [("栖贤路", None)]
    with pytest.raises(NotFound):
        revise(session, 999999999, {"meaning": "无"}, actor="test")


def test_register_validates_the_division(session):
    with pytest.raises(InvalidInput, match="339999"):
        register(session, NameInput(name="栖贤路", category="0801", division_code="339999"), actor="test")


# ---------------------------------------------------------------- POST /v1/placenames


def test_post_needs_an_administrator(client, session):
    body = {"name": "栖贤路", "category": "0801", "division_code": "330502", "geometry": LINE_IN_WUXING}
    assert client.post("/v1/placenames", json=body).status_code == 401
    assert client.post("/v1/placenames", json=body, headers=headers(client, session, "reviewer")).status_code == 403
    created = client.post("/v1/placenames", json=body, headers=headers(client, session, "admin"))
    assert created.status_code == 201, created.text
    name = created.json()
    assert (name["romanization"], name["generic"], name["geometry"]["type"]) == ("Qixian Lu", "路", "LineString")
    assert client.get(f"/v1/placenames/{name['id']}").json()["name"] == "栖贤路"
    assert audit_actions(session, name["id"]) == [("reg-admin", "placename.version")]


@pytest.mark.parametrize("geometry", [
    {"type": "LineString", "coordinates": [[30.87, 120.09], [30.875, 120.10]]},         # lat/lon swapped
    {"type": "Circle", "coordinates": [120.09, 30.87], "radius": 10},
    {"type": "Point", "coordinates": [120.09]},
    {"type": "Polygon", "coordinates": [[[120.0, 30.8], [120.1, 30.9], [120.1, 30.8], [120.0, 30.9],
                                         [120.0, 30.8]]]},                                # self-intersecting
    "POINT(120.09 30.87)",
])
def test_bad_geometry_is_422_and_nothing_is_written(client, session, geometry):
    admin = headers(client, session, "admin")
    response = client.post("/v1/placenames", headers=admin, json={
        "name": "栖贤路", "category": "0801", "division_code": "330502", "geometry": geometry})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    assert session.execute(text("SELECT count(*) FROM place_names WHERE name = '栖贤路'")).scalar_one() == 0


def test_polygon_geometry_is_accepted(session):
    square = {"type": "Polygon", "coordinates": [[[120.08, 30.86], [120.10, 30.86], [120.10, 30.88],
                                                  [120.08, 30.88], [120.08, 30.86]]]}
    name_id = register(session, NameInput(name="栖贤小区", category="0703", division_code="330502",
                                          geometry=square), actor="test")
    assert get_name(session, name_id).geometry["type"] == "Polygon"


# ---------------------------------------------------------------- seeded names


SEEDED_CATEGORY = """
CASE WHEN kind = '功能区(统计用)' THEN '0601' WHEN level <= 4 THEN '040' || level
     WHEN kind LIKE '%居委会' THEN '0501' ELSE '0502' END
"""


def test_seed_holds_one_name_per_current_division(session):
    expected = dict(session.execute(text(
        f"SELECT {SEEDED_CATEGORY} AS category, count(*) FROM divisions WHERE valid_to IS NULL "
        "AND NOT placeholder GROUP BY 1")).all())
    seeded = dict(session.execute(text(
        "SELECT category, count(*) FROM place_names WHERE source = :s AND valid_to IS NULL GROUP BY 1"),
        {"s": SOURCE}).all())
    assert seeded == expected
    recorded = session.execute(text("SELECT row_count FROM datasets WHERE name = :n"), {"n": DATASET}).scalar_one()
    assert recorded == sum(seeded.values())
    orphans = session.execute(text(
        "SELECT count(*) FROM place_names p WHERE source = :s AND NOT EXISTS (SELECT 1 FROM divisions d "
        "WHERE d.code = p.entity_code AND d.name = p.name AND d.valid_to IS NULL AND NOT d.placeholder)"),
        {"s": SOURCE}).scalar_one()
    assert orphans == 0


def test_seeded_village_committee_is_split_into_specific_and_generic(session):
    village = session.execute(text(
        "SELECT p.name, p.specific, p.generic, p.category, p.romanization, d.kind FROM place_names p "
        "JOIN divisions d ON d.code = p.entity_code AND d.valid_to IS NULL WHERE p.source = :s "
        "AND p.division_code LIKE '330502%' AND p.name LIKE '%村委会' ORDER BY p.division_code LIMIT 1"),
        {"s": SOURCE}).one()
    assert village.specific + "村委会" == village.name and village.specific
    assert (village.generic, village.category, village.kind) == ("村委会", "0502", "村委会")
    assert village.romanization.endswith(" Cunweihui")


# ---------------------------------------------------------------- CSV import

HEADER = "标准名称,类别,所在(跨)行政区,东经,北纬,地名含义,历史沿革,使用时间"
GOOD_ROWS = (
    "栖贤路,0801,330502,120.09,30.87,因栖贤寺得名,1990年建成,现今",
    "栖梧巷,街路巷,330502,,,,,现今",
    "苕霅路,0801,330502、330503,120.12,30.86,跨吴兴、南浔两区,,历史",
)


def write(tmp_path, rows, *, name="census.csv", encoding="utf-8") -> object:
    path = tmp_path / name
    path.write_text("\n".join((HEADER, *rows)) + "\n", encoding=encoding)
    return path


def from_file(connection, path) -> int:
    return connection.execute(text("SELECT count(*) FROM place_names WHERE source = :s"),
                              {"s": f"CSV import {path.name}"}).scalar_one()


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_csv_import_adds_rows_then_skips_them(connection, tmp_path, encoding):
    path = write(tmp_path, GOOD_ROWS, encoding=encoding)
    report = import_csv(connection, path, actor="importer")
    assert (report.added, report.skipped, len(report.name_ids)) == (3, 0, 3)
    first, _, crossing = (get_name(connection, i) for i in report.name_ids)
    assert (first.name, first.meaning, first.history, first.geometry["type"]) == (
        "栖贤路", "因栖贤寺得名", "1990年建成", "Point")
    assert (crossing.status, crossing.division_codes, crossing.division_names) == (
        "historical", ["330502", "330503"], ["吴兴区", "南浔区"])
    again = import_csv(connection, path, actor="importer")
    assert (again.added, again.skipped) == (0, 3)
    assert from_file(connection, path) == 3


@pytest.mark.parametrize("bad_row, why", [
    ("栖凤路,0999,330502,120.09,30.87,,,现今", "0999"),
    ("栖凤路,0801,339999,120.09,30.87,,,现今", "339999"),
    ("栖凤路,0801,330502,东经120度,30.87,,,现今", "东经"),
    ("栖凤路,0801,330502,30.87,120.09,,,现今", "axis order"),
    ("栖凤路,0801,330502,120.09,30.87,,,未来", "使用时间"),
    ("栖" * 49 + "路路,0801,330502,,,,,现今", "过长"),
])
def test_one_bad_row_imports_nothing(connection, tmp_path, bad_row, why):
    path = write(tmp_path, (GOOD_ROWS[0], bad_row, GOOD_ROWS[1]))
    with pytest.raises(InvalidInput) as caught:
        import_csv(connection, path, actor="importer")
    assert [e["field"] for e in caught.value.errors] == ["line 3"]
    assert why in caught.value.errors[0]["message"] and "nothing was imported" in caught.value.detail
    assert from_file(connection, path) == 0
    assert connection.execute(text("SELECT count(*) FROM audit_log WHERE actor = 'importer'")).scalar_one() == 0


def test_csv_needs_the_census_columns(connection, tmp_path):
    path = tmp_path / "wrong.csv"
    path.write_text("名称,东经\n栖贤路,120.09\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match="类别"):
        import_csv(connection, path, actor="importer")


def test_cli_import_of_a_bad_file_fails_and_writes_nothing(engine, tmp_path):
    path = write(tmp_path, (GOOD_ROWS[0], "栖凤路,0999,330502,,,,,现今"), name="cli-bad-rows.csv")
    result = CliRunner().invoke(app, ["placenames", "import", str(path)])
    assert result.exit_code == 1
    assert isinstance(result.exception, InvalidInput) and "line 3" in str(result.exception)
    with engine.connect() as conn:
        assert from_file(conn, path) == 0
