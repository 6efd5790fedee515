"""Facility import from CSV, GeoJSON and GeoPackage: column mapping, address matching, all-or-nothing errors."""

from __future__ import annotations

import geopandas as gpd
import pytest
import shapely
from sqlalchemy import text

from data.errors import InvalidInput
from facilities.importer import import_facilities, rows_to_csv
from facilities.population import import_population_file
from tests.facility_builders import COMMUNITY, ORIGIN, VILLAGE, add_homes, add_test_county, offset


def _count(session) -> int:
    return session.execute(text("SELECT count(*) FROM facilities WHERE source LIKE 'import %'")).scalar_one()


@pytest.fixture
def county(session):
    add_test_county(session)
    add_homes(session, COMMUNITY, [ORIGIN, offset(400, 90)])
    return session


def test_csv_with_chinese_headers_is_imported_and_matched(county, tmp_path):
    near = offset(12, 45)  # 12 m from the plate at ORIGIN: matched to it
    path = tmp_path / "设施.csv"
    path.write_text(rows_to_csv([
        {"名称": "甲社区幸福食堂", "类型": "老年食堂/助餐点(幸福食堂)", "经度": near[0], "纬度": near[1],
         "餐位数": "40", "开业日期": "2023-05-01", "状态": "运营"},
        {"名称": "甲社区儿童之家", "类型": "CHILDREN_HOME", "经度": offset(200, 0)[0], "纬度": offset(200, 0)[1],
         "状态": "规划"},
    ]), encoding="utf-8-sig")
    report = import_facilities(county, path, actor="test")
    assert (report.rows, report.stored, report.matched_addresses) == (2, 2, 1)
    meal = county.execute(text(
        "SELECT f.type_code, f.meal_seats, f.status, f.division_code, f.address_code, a.point = "
        "(SELECT point FROM addresses WHERE code = f.address_code AND valid_to IS NULL) AS at_plate "
        "FROM facilities f LEFT JOIN addresses a ON a.code = f.address_code AND a.valid_to IS NULL "
        "WHERE f.name = '甲社区幸福食堂'")).one()
    assert meal.type_code == "MEAL_POINT" and meal.meal_seats == 40 and meal.status == "operating"
    assert meal.division_code == COMMUNITY and meal.address_code.startswith(COMMUNITY)
    home = county.execute(text("SELECT status, address_code, division_code FROM facilities "
                               "WHERE name = '甲社区儿童之家'")).one()
    assert home.status == "planned" and home.address_code is None and home.division_code == COMMUNITY


def test_errors_name_lines_and_nothing_is_written(county, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(rows_to_csv([
        {"name": "好的", "type": "MEAL_POINT", "lon": ORIGIN[0], "lat": ORIGIN[1]},
        {"name": "坏的", "type": "NO_SUCH", "lon": ORIGIN[0], "lat": 95.0},
        {"name": "", "type": "MEAL_POINT", "lon": ORIGIN[0], "lat": ORIGIN[1], "beds": "2.5"},
    ]))
    before = _count(county)
    with pytest.raises(InvalidInput) as failed:
        import_facilities(county, path, actor="test")
    fields = {e["field"] for e in failed.value.errors}
    assert fields == {"line 3", "line 4"}
    messages = " ".join(e["message"] for e in failed.value.errors)
    assert "NO_SUCH" in messages and "latitude" in messages and "beds" in messages and "name" in messages
    assert _count(county) == before


def test_dry_run_stores_nothing(county, tmp_path):
    path = tmp_path / "ok.csv"
    path.write_text(rows_to_csv([{"name": "试", "type": "MEAL_POINT", "lon": ORIGIN[0], "lat": ORIGIN[1]}]))
    report = import_facilities(county, path, actor="test", dry_run=True)
    assert report.stored == 0 and _count(county) == 0


def test_repeated_ids_are_errors(county, tmp_path):
    path = tmp_path / "dup.csv"
    row = {"facility_id": "X-1", "name": "试", "type": "MEAL_POINT", "lon": ORIGIN[0], "lat": ORIGIN[1]}
    path.write_text(rows_to_csv([row, row]))
    with pytest.raises(InvalidInput) as failed:
        import_facilities(county, path, actor="test")
    assert failed.value.errors == [{"field": "line 3", "message": "facility_id: X-1 repeats line 2"}]


@pytest.mark.parametrize(("suffix", "driver"), [(".geojson", "GeoJSON"), (".gpkg", "GPKG")])
def test_geojson_and_geopackage_in_a_projected_crs(county, tmp_path, suffix, driver):
    points = [offset(100, 90), offset(300, 90)]
    frame = gpd.GeoDataFrame({"名称": ["一号", "二号"], "设施类型": ["SOCIAL_WORK", "社会工作站"],
                              "运营单位": ["测试街道", None]},
                             geometry=[shapely.Point(p) for p in points], crs="EPSG:4490").to_crs(epsg=4547)
    path = tmp_path / f"facilities{suffix}"
    frame.to_file(path, driver=driver)
    report = import_facilities(county, path, actor="test")
    assert report.stored == 2 and report.per_type == {"SOCIAL_WORK": 2}
    stored = county.execute(text("SELECT ST_X(geom), ST_Y(geom) FROM facilities WHERE source LIKE 'import %' "
                                 "ORDER BY name")).all()
    assert [tuple(p) for p in stored] == [pytest.approx(points[0], abs=1e-7), pytest.approx(points[1], abs=1e-7)]


def test_geojson_errors_name_features(county, tmp_path):
    frame = gpd.GeoDataFrame({"name": ["一号", "二号"], "type": ["MEAL_POINT", "WRONG"]},
                             geometry=[shapely.Point(ORIGIN), shapely.Point(ORIGIN)], crs="EPSG:4490")
    path = tmp_path / "f.geojson"
    frame.to_file(path, driver="GeoJSON")
    with pytest.raises(InvalidInput) as failed:
        import_facilities(county, path, actor="test")
    assert [e["field"] for e in failed.value.errors] == ["feature 2"]


def test_population_import_all_or_nothing(county, tmp_path):
    good = tmp_path / "pop.csv"
    good.write_text(f"区划代码,常住人口,老年人口\n{COMMUNITY},1200,300\n{VILLAGE},3400,\n", encoding="utf-8-sig")
    assert import_population_file(county, good, actor="test", year=2020) == 2
    bad = tmp_path / "bad.csv"
    bad.write_text(f"code,population,elderly_population\n{COMMUNITY},1300,\n{VILLAGE},-1,\n12,5,\n")
    with pytest.raises(InvalidInput) as failed:
        import_population_file(county, bad, actor="test", year=2020)
    assert {e["field"] for e in failed.value.errors} == {"line 3", "line 4"}
    stored = county.execute(text("SELECT population FROM division_population WHERE code = :c"),
                            {"c": COMMUNITY}).scalar_one()
    assert stored == 1200
