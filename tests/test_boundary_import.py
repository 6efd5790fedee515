"""Official 勘界 polygons imported through pyogrio replace the demo polygons they cover."""

import geopandas as gpd
import pytest
from shapely.geometry import Polygon, box
from sqlalchemy import text

from boundaries.divisions import locate
from boundaries.polygons_import import import_boundary_file
from data.errors import InvalidInput, NotFound

# A square inside central Huzhou, away from 吴兴区's edges.
SQUARE = box(120.05, 30.84, 120.12, 30.90)


def _write(tmp_path, frame, name="official.gpkg"):
    path = tmp_path / name
    frame.to_file(path, engine="pyogrio")
    return path


def test_official_polygon_replaces_demo_and_updates_unions(connection, tmp_path):
    frame = gpd.GeoDataFrame({"XZQDM": ["330502", "999999", "bad"]},
                             geometry=[SQUARE, SQUARE, SQUARE], crs="EPSG:4490")
    result = import_boundary_file(connection, _write(tmp_path, frame), "XZQDM")
    assert result.updated == ["330502"]
    assert {why for _, why in result.skipped} >= {"no current division has this code"}
    assert any("not a division code" in why for _, why in result.skipped)
    row = connection.execute(text(
        "SELECT geom_approximate, geom_source, ST_Area(geom) AS area FROM divisions "
        "WHERE code = '330502' AND valid_to IS NULL")).one()
    assert not row.geom_approximate and "official" in row.geom_source
    assert row.area == pytest.approx(SQUARE.area, rel=1e-6)
    huzhou = connection.execute(text(
        "SELECT geom_approximate FROM divisions WHERE code = '330500' AND valid_to IS NULL")).one()
    assert huzhou.geom_approximate  # still a union that includes approximate counties
    assert locate(connection, 120.09, 30.87).chain[-1].code == "330502"
    # outside the official square but inside the old demo polygon: no polygon covers it now
    with pytest.raises(NotFound):
        locate(connection, 119.95, 30.75)
    audited = connection.execute(text(
        "SELECT count(*) FROM audit_log WHERE action = 'import-boundaries'")).scalar_one()
    assert audited >= 1


def test_other_crs_is_transformed(connection, tmp_path):
    projected = gpd.GeoDataFrame({"code": ["330502"]}, geometry=[SQUARE], crs="EPSG:4490").to_crs(4549)
    import_boundary_file(connection, _write(tmp_path, projected), "code")
    bounds = connection.execute(text(
        "SELECT ST_XMin(geom), ST_YMin(geom) FROM divisions WHERE code = '330502' AND valid_to IS NULL"
    )).one()
    assert bounds[0] == pytest.approx(120.05, abs=1e-6) and bounds[1] == pytest.approx(30.84, abs=1e-6)


def test_missing_field_and_missing_crs_are_clear_errors(connection, tmp_path):
    frame = gpd.GeoDataFrame({"code": ["330502"]}, geometry=[SQUARE], crs="EPSG:4490")
    with pytest.raises(InvalidInput, match="no field 'XZQDM'"):
        import_boundary_file(connection, _write(tmp_path, frame), "XZQDM")
    naive = gpd.GeoDataFrame({"code": ["330502"]}, geometry=[SQUARE])
    with pytest.raises(InvalidInput, match="no CRS"):
        import_boundary_file(connection, _write(tmp_path, naive, "naive.shp"), "code")
    with pytest.raises(InvalidInput, match="cannot read"):
        bad = tmp_path / "broken.gpkg"
        bad.write_text("not a geopackage")
        import_boundary_file(connection, bad, "code")


def test_non_polygon_rows_are_skipped(connection, tmp_path):
    line = gpd.GeoDataFrame({"code": ["330502"]},
                            geometry=[Polygon([(120, 30), (120.1, 30), (120, 30)]).boundary],
                            crs="EPSG:4490")
    result = import_boundary_file(connection, _write(tmp_path, line, "line.geojson"), "code")
    assert result.updated == [] and "not a polygon" in result.skipped[0][1]
