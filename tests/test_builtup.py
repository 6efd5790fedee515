"""Built-up areas from a GIS file (pyogrio/GDAL) become the duplicate scope for streets (§9 rule 5)."""

from __future__ import annotations

import geopandas as gpd
import pytest
from shapely.geometry import LineString, box

from data.errors import InvalidInput
from placenames.builtup import import_builtup_areas
from placenames.categories import get_category
from placenames.checks import duplicate_findings
from placenames.registry import NameInput, register

AREA = box(120.05, 30.84, 120.15, 30.92)  # around central 湖州, lon/lat


def _file(tmp_path, frame: gpd.GeoDataFrame, name="builtup.gpkg"):
    path = tmp_path / name
    frame.to_file(path, engine="pyogrio")
    return path


def _street(session, name, line):
    return register(session, NameInput(name=name, category="0801", division_code="330502",
                                       geometry={"type": "LineString", "coordinates": list(line.coords)}),
                    actor="test")


def test_imported_area_is_the_scope_of_street_duplicates(connection, session, tmp_path):
    frame = gpd.GeoDataFrame({"mc": ["湖州市中心城区"], "dm": ["330500"]}, geometry=[AREA], crs="EPSG:4326")
    frame = frame.to_crs(epsg=3857)  # any CRS pyproj knows is transformed to EPSG:4490
    assert import_builtup_areas(connection, _file(tmp_path, frame), name_field="mc", division_field="dm") == 1
    inside = LineString([(120.10, 30.88), (120.11, 30.885)])
    _street(session, "试栖路", LineString([(120.12, 30.86), (120.13, 30.865)]))      # in the area
    findings = duplicate_findings(session, "试栖路", get_category("0801"), "330502", inside)
    assert [(f.code, f.evidence["scope"]) for f in findings] == [("duplicate", "建成区 湖州市中心城区")]
    outside = LineString([(119.70, 30.60), (119.71, 30.605)])                        # same county, outside
    fallback = duplicate_findings(session, "试栖路", get_category("0801"), "330502", outside)
    assert [f.code for f in fallback] == ["duplicate"]
    assert fallback[0].evidence["scope"].startswith("县级政区 吴兴区（没有建成区图层覆盖此处")


def test_a_file_without_crs_or_names_imports_nothing(connection, tmp_path):
    no_name = gpd.GeoDataFrame({"mc": [""]}, geometry=[AREA], crs="EPSG:4490")
    with pytest.raises(InvalidInput, match="nothing was imported"):
        import_builtup_areas(connection, _file(tmp_path, no_name, "a.gpkg"), name_field="mc")
    with pytest.raises(InvalidInput, match="no field"):
        import_builtup_areas(connection, _file(tmp_path, no_name, "b.gpkg"), name_field="名称")
