"""Importing real address files (addresses/importer.py): formats, encodings, CRS, mapping, errors, reuse."""

from __future__ import annotations

import csv
import datetime as dt
import io

import geopandas as gpd
import pytest
from pyproj import Transformer
from shapely.geometry import LineString, Point
from sqlalchemy import text

from addresses.compose import StandardName, register_standard_names
from addresses.importer import import_addresses
from data.errors import InvalidInput

COUNTY = "330106"
HEADER = ["村社区代码", "街路巷", "门牌号", "楼栋", "单元", "户室", "小区", "经度", "纬度"]


@pytest.fixture
def villages(connection):
    """Two real communities and one real village of 西湖区 (codes from the divisions table)."""
    def pick(kind, n):
        return connection.execute(text(
            "SELECT code FROM divisions WHERE level = 5 AND valid_to IS NULL AND code LIKE :c || '%' "
            "AND kind = :k ORDER BY code LIMIT :n"), {"c": COUNTY, "k": kind, "n": n}).scalars().all()
    return [*pick("居委会", 2), *pick("村委会", 1)]


def _write_csv(path, rows, header=HEADER, encoding="utf-8"):
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


def _sample(v):
    return [
        [v[0], "测试文一西路", "100", "", "", "", "", "120.1201", "30.2801"],
        [v[0], "测试文一西路", "100号之1", "", "", "", "", "120.1202", "30.2801"],
        [v[0], "测试文一西路", "102", "3", "2", "301", "", "120.1203", "30.2799"],
        [v[0], "测试文一西路", "102", "3", "2", "302", "", "120.1203", "30.2799"],
        [v[1], "测试文一西路", "7-1", "", "", "", "", "120.1301", "30.2811"],
        [v[1], "", "", "5", "1", "101", "测试阳光小区", "120.1311", "30.2821"],
        [v[2], "测试白沙路", "12", "", "", "", "", "120.0501", "30.1801"],
    ]


def _addresses(connection, dataset):
    return connection.execute(text(
        "SELECT a.*, ST_X(a.point) AS x, ST_Y(a.point) AS y FROM addresses a WHERE a.source = :s "
        "ORDER BY a.code"), {"s": dataset}).all()


def _count_in(connection, codes):
    return connection.execute(text("SELECT count(*) FROM addresses WHERE village_code = ANY(:c)"),
                              {"c": list(codes)}).scalar_one()


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk"])
def test_csv_in_utf8_with_or_without_bom_and_gbk(connection, tmp_path, villages, encoding):
    path = _write_csv(tmp_path / "addresses.csv", _sample(villages), encoding=encoding)
    report = import_addresses(connection, path, register_streets=True, actor="tester")
    assert report.created == {"street": 2, "compound": 1, "plate": 5, "building": 2, "unit": 2, "room": 3}
    assert report.rows == 7 and report.streets_registered == 2 and report.source_crs == "EPSG:4490"
    rows = {r.local_address: r for r in _addresses(connection, report.dataset)}
    room = rows["测试文一西路102号3幢2单元301室"]
    assert room.code.startswith(villages[0]) and len(room.code) == 30 and room.number == 301
    assert (room.x, room.y) == pytest.approx((120.1203, 30.2799))
    assert rows["测试文一西路100号之1"].suffix == "之1" and rows["测试文一西路100号之1"].number == 100
    assert rows["测试文一西路7-1号"].village_code == villages[1] and rows["测试文一西路7-1号"].suffix == "-1"
    assert rows["测试阳光小区5幢1单元101室"].code[12:21] == rows["测试阳光小区"].code[12:17] + "0000"
    assert all(r.full_address.startswith("浙江省杭州市西湖区") for r in rows.values())
    rural = rows["测试白沙路12号"]
    village_name = connection.execute(text("SELECT name FROM divisions WHERE code = :c AND level = 5"),
                                      {"c": villages[2]}).scalar_one()
    assert village_name.removesuffix("委会") + "测试白沙路12号" in rural.full_address  # 梅家坞村委会 → 梅家坞村
    street = rows["测试文一西路"]
    standard = connection.execute(text("SELECT name, category, status FROM place_names WHERE name_id = :i"),
                                  {"i": street.place_name_id}).one()
    assert tuple(standard) == ("测试文一西路", "0801", "standard")
    # the street without a point of its own takes its first plate's
    assert (street.x, street.y) == pytest.approx((120.1201, 30.2801))
    assert connection.execute(text("SELECT count(*) FROM audit_log WHERE entity_id = :d"),
                              {"d": report.dataset}).scalar_one() == 1


@pytest.mark.parametrize(("driver", "suffix"), [("GeoJSON", "geojson"), ("GPKG", "gpkg")])
def test_gis_files_in_a_projected_crs_are_transformed(connection, tmp_path, villages, driver, suffix):
    to_4547 = Transformer.from_crs(4490, 4547, always_xy=True)
    lonlat = [(120.1201, 30.2801), (120.1205, 30.2803)]
    frame = gpd.GeoDataFrame(
        {"village_code": [villages[0], villages[0]], "street": ["测试学院路", "测试学院路"], "number": ["1", "3"]},
        geometry=[Point(*to_4547.transform(*p)) for p in lonlat], crs="EPSG:4547")
    path = tmp_path / f"plates.{suffix}"
    frame.to_file(path, driver=driver)
    report = import_addresses(connection, path, register_streets=True, actor="tester")
    assert report.source_crs == "EPSG:4547"
    plates = [r for r in _addresses(connection, report.dataset) if r.level == "plate"]
    assert [(r.x, r.y) for r in plates] == [pytest.approx(p, abs=1e-7) for p in lonlat]


def test_a_street_line_becomes_the_street_geometry(connection, tmp_path, villages):
    frame = gpd.GeoDataFrame({"village_code": [villages[0]], "street": ["测试中轴大道"]},
                             geometry=[LineString([(120.10, 30.28), (120.12, 30.28)])], crs="EPSG:4490")
    path = tmp_path / "streets.gpkg"
    frame.to_file(path, driver="GPKG")
    report = import_addresses(connection, path, register_streets=True, actor="tester")
    (street,) = _addresses(connection, report.dataset)
    assert street.level == "street" and (street.x, street.y) == pytest.approx((120.11, 30.28))
    name_geom = connection.execute(text("SELECT ST_AsText(geom) FROM place_names WHERE name_id = :i"),
                                   {"i": street.place_name_id}).scalar_one()
    assert name_geom.startswith("LINESTRING")


def test_csv_coordinates_in_another_crs_with_crs_option(connection, tmp_path, villages):
    x, y = Transformer.from_crs(4490, 4547, always_xy=True).transform(120.1201, 30.2801)
    path = _write_csv(tmp_path / "xy.csv", [[villages[0], "测试学院路", "9", f"{x:.3f}", f"{y:.3f}"]],
                      header=["village_code", "street", "number", "x", "y"])
    report = import_addresses(connection, path, crs="EPSG:4547", register_streets=True, actor="tester")
    plate = next(r for r in _addresses(connection, report.dataset) if r.level == "plate")
    assert report.source_crs == "EPSG:4547"
    assert (plate.x, plate.y) == pytest.approx((120.1201, 30.2801), abs=1e-7)


def test_column_mapping_and_missing_columns(connection, tmp_path, villages):
    rows = [[villages[0], "测试湖滨路", "8", "120.1", "30.25"]]
    path = _write_csv(tmp_path / "mapped.csv", rows, header=["CUN", "ROAD", "NO", "LNG", "LAT"])
    with pytest.raises(InvalidInput) as caught:
        import_addresses(connection, path, register_streets=True, actor="tester")
    assert "village_code" in caught.value.detail and "CUN, ROAD, NO, LNG, LAT" in caught.value.detail
    mapping = {"village_code": "CUN", "street": "ROAD", "number": "NO", "lon": "LNG", "lat": "LAT"}
    report = import_addresses(connection, path, mapping=mapping, register_streets=True, actor="tester")
    assert report.created["plate"] == 1
    with pytest.raises(InvalidInput, match="no column"):
        import_addresses(connection, path, mapping={**mapping, "street": "STREET"}, actor="tester")
    with pytest.raises(InvalidInput, match="unknown target"):
        import_addresses(connection, path, mapping={**mapping, "floor": "NO"}, actor="tester")


def test_bad_rows_are_reported_by_line_and_nothing_is_written(connection, tmp_path, villages):
    rows = [
        [villages[0], "测试文一西路", "100", "", "", "", "", "120.1", "30.28"],   # line 2: fine
        ["330106999999", "测试文一西路", "1", "", "", "", "", "120.1", "30.28"],  # line 3: unknown village
        [villages[0], "", "5", "", "", "", "", "120.1", "30.28"],                # line 4: number without street
        [villages[0], "测试文一西路", "一百", "", "", "", "", "120.1", "30.28"],   # line 5: not a number
        [villages[0], "测试文一西路", "7", "", "", "", "", "abc", "30.28"],       # line 6: not numbers
        [villages[0], "测试文一西路", "9", "", "", "", "", "30.28", "120.1"],     # line 7: lat/lon swapped
        [villages[0], "测试文一西路", "11", "", "", "301", "", "120.1", "30.28"],  # line 8: room without unit
    ]
    path = _write_csv(tmp_path / "bad.csv", rows)
    before = _count_in(connection, villages)
    with pytest.raises(InvalidInput) as caught:
        import_addresses(connection, path, register_streets=True, actor="tester")
    fields = [e["field"] for e in caught.value.errors]
    assert fields == ["line 3: village_code", "line 4: street", "line 5: number", "line 6: lon/lat",
                      "line 7: point", "line 8: building", "line 8: unit"]
    assert "nothing was imported" in caught.value.detail
    assert _count_in(connection, villages) == before
    assert connection.execute(text("SELECT count(*) FROM place_names WHERE name = '测试文一西路'")).scalar_one() == 0


def test_a_plate_needs_a_standard_street_name(connection, tmp_path, villages):
    path = _write_csv(tmp_path / "plates.csv", [[villages[0], "测试登记路", "1", "", "", "", "", "120.1", "30.28"]])
    with pytest.raises(InvalidInput) as caught:
        import_addresses(connection, path, actor="tester")
    assert caught.value.errors[0]["field"] == "line 2: street" and "rule 46" in caught.value.errors[0]["message"]
    (name_id,) = register_standard_names(connection, [StandardName(
        "测试登记路", "0801", villages[0][:9], None, "test", "tester", dt.date(2024, 1, 1))])
    report = import_addresses(connection, path, actor="tester")
    street = next(r for r in _addresses(connection, report.dataset) if r.level == "street")
    assert street.place_name_id == name_id and report.streets_registered == 0


def test_reimport_reuses_elements_and_new_serials_follow_the_largest_ever_used(connection, tmp_path, villages):
    path = _write_csv(tmp_path / "first.csv", _sample(villages))
    first = import_addresses(connection, path, register_streets=True, actor="tester")
    again = import_addresses(connection, path, actor="tester")
    assert sum(again.created.values()) == 0
    assert again.reused == first.created
    # retire plate 102's room 302 and add room 303: the new room gets serial 3, not the retired 2
    connection.execute(text("UPDATE addresses SET valid_to = current_date WHERE local_address = :l "
                            "AND valid_to IS NULL"), {"l": "测试文一西路102号3幢2单元302室"})
    more = _write_csv(tmp_path / "more.csv", [
        [villages[0], "测试文一西路", "102", "3", "2", "303", "", "120.1203", "30.2799"],
        [villages[0], "测试文一西路", "104", "", "", "", "", "120.1204", "30.2799"]])
    third = import_addresses(connection, more, actor="tester")
    assert third.created == {"street": 0, "compound": 0, "plate": 1, "building": 0, "unit": 0, "room": 1}
    assert third.reused["unit"] == 1 and third.reused["street"] == 1
    new = {r.local_address: r.code for r in _addresses(connection, third.dataset)}
    old = {r.local_address: r.code for r in _addresses(connection, first.dataset)}
    unit = old["测试文一西路102号3幢2单元"]
    assert new["测试文一西路102号3幢2单元303室"] == unit + "0003"
    street = old["测试文一西路"]
    assert new["测试文一西路104号"] == street + "0004"   # plates 0001–0003 were used by the first file


def test_shapefile_with_short_field_names_and_mapping(connection, tmp_path, villages):
    frame = gpd.GeoDataFrame({"VILLAGE": [villages[0]], "ROAD": ["测试学院路"], "NO": ["15号"], "BLDG": ["A座"]},
                             geometry=[Point(120.1201, 30.2801)], crs="EPSG:4490")
    path = tmp_path / "plates.shp"
    frame.to_file(path, driver="ESRI Shapefile", encoding="utf-8")
    report = import_addresses(connection, path, mapping={"village_code": "VILLAGE", "street": "ROAD",
                                                         "number": "NO", "building": "BLDG"},
                              register_streets=True, actor="tester")
    assert report.created == {"street": 1, "compound": 0, "plate": 1, "building": 1, "unit": 0, "room": 0}
    building = next(r for r in _addresses(connection, report.dataset) if r.level == "building")
    assert building.local_address == "测试学院路15号A座" and building.number is None


def test_cli_prints_the_line_errors_and_writes_nothing(connection, tmp_path, villages):
    from typer.testing import CliRunner

    from api.cli import app

    path = _write_csv(tmp_path / "cli.csv", [["330106999999", "测试文一西路", "1", "", "", "", "", "120.1", "30.28"]])
    result = CliRunner().invoke(app, ["import", "addresses", str(path), "--register-streets"])
    assert result.exit_code == 1
    assert "line 2: village_code" in result.output and "nothing was imported" in result.output
    assert connection.execute(text("SELECT count(*) FROM place_names WHERE name = '测试文一西路'")).scalar_one() == 0


def test_csv_with_wkt_points(connection, tmp_path, villages):
    path = _write_csv(tmp_path / "wkt.csv", [[villages[0], "测试学院路", "21", "POINT (120.1211 30.2811)"],
                                             [villages[0], "测试学院路", "23", "POINT (120.1 nonsense)"]],
                      header=["village_code", "street", "number", "wkt"])
    with pytest.raises(InvalidInput) as caught:
        import_addresses(connection, path, register_streets=True, actor="tester")
    assert [e["field"] for e in caught.value.errors] == ["line 3: wkt"]
    _write_csv(path, [[villages[0], "测试学院路", "21", "POINT (120.1211 30.2811)"]],
               header=["village_code", "street", "number", "wkt"])
    report = import_addresses(connection, path, register_streets=True, actor="tester")
    plate = next(r for r in _addresses(connection, report.dataset) if r.level == "plate")
    assert (plate.x, plate.y) == pytest.approx((120.1211, 30.2811))


def test_a_file_without_crs_needs_the_crs_option(connection, tmp_path, villages):
    frame = gpd.GeoDataFrame({"village_co": [villages[0]], "street": ["测试学院路"], "number": ["31"]},
                             geometry=[Point(120.1231, 30.2831)], crs=None)
    path = tmp_path / "no_prj.shp"
    with pytest.warns(UserWarning, match="crs"):
        frame.to_file(path, driver="ESRI Shapefile", encoding="utf-8")
    mapping = {"village_code": "village_co"}
    with pytest.raises(InvalidInput, match="has no CRS"):
        import_addresses(connection, path, mapping=mapping, register_streets=True, actor="tester")
    with pytest.raises(InvalidInput, match="unknown CRS"):
        import_addresses(connection, path, mapping=mapping, crs="EPSG:nonsense", actor="tester")
    report = import_addresses(connection, path, mapping=mapping, crs="EPSG:4490", register_streets=True,
                              actor="tester")
    assert report.source_crs == "EPSG:4490" and report.created["plate"] == 1
