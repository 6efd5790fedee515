"""Division map page builder: folium object, rendered HTML, and the page in headless Chromium."""

from __future__ import annotations

import json
import re
import struct
import subprocess
import sys
from pathlib import Path

import folium
import pytest
from folium.map import FitBounds

import maps
from maps.division_map import (
    APPROXIMATE_NOTICE,
    MISSING_GEOMETRY_NOTE,
    LocalLeafletMap,
    build_division_map,
    render_division_page,
    to_display_geometry,
)
from tests.browser import DomScan, chromium_path, render_dom, screenshot

STATIC_DIR = Path(maps.__file__).resolve().parent / "static"
CDN_HOSTS = ("cdn.jsdelivr", "code.jquery", "cdnjs", "netdna", "bootstrapcdn", "unpkg")


def square(west: float, south: float, east: float, north: float) -> dict:
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    return {"type": "Polygon", "coordinates": [ring]}


def point(lon: float, lat: float) -> dict:
    return {"type": "Point", "coordinates": [lon, lat]}


def division_record(code, name, *, level=3, kind="县", geometry=None, label=None, approx=True):
    return {
        "code": code,
        "name": name,
        "level": level,
        "kind": kind,
        "geometry": geometry,
        "label_point": label,
        "approximate": approx,
    }


@pytest.fixture
def prefecture() -> dict:
    return division_record(
        "330100000000", "杭州市", level=2, kind="地级市", geometry=square(119.0, 29.5, 120.5, 30.5)
    )


@pytest.fixture
def counties() -> list[dict]:
    return [
        # no label point: the label goes to a point inside the polygon
        division_record("330122000000", "桐庐县", geometry=square(119.0, 29.5, 119.8, 30.5)),
        division_record(
            "330127000000",
            "淳安县",
            geometry=square(119.8, 29.5, 120.5, 30.0),
            label=point(120.15, 29.75),
        ),
        # no polygon known, but a label point
        division_record("330182000000", "建德市", kind="县级市", label=point(120.15, 30.25)),
    ]


def build(prefecture, counties, **kwargs) -> LocalLeafletMap:
    kwargs.setdefault("basemap_url", None)
    kwargs.setdefault("basemap_attribution", "")
    return build_division_map(prefecture, counties, **kwargs)


def render(prefecture, counties, **kwargs) -> str:
    kwargs.setdefault("basemap_url", None)
    kwargs.setdefault("basemap_attribution", "")
    return render_division_page(prefecture, counties, **kwargs)


def children_of(element, kind) -> list:
    return [c for c in element._children.values() if isinstance(c, kind)]


def geojson_layer(fmap, name) -> folium.GeoJson:
    (layer,) = [g for g in children_of(fmap, folium.GeoJson) if g.layer_name == name]
    return layer


# --- the folium object ------------------------------------------------------------------


def test_fit_bounds_are_south_west_north_east(prefecture, counties):
    fmap = build(prefecture, counties)
    (fit,) = children_of(fmap, FitBounds)
    assert fit.bounds == [[29.5, 119.0], [30.5, 120.5]]
    assert fmap.location == [30.0, 119.75]


def test_fit_bounds_fall_back_to_children_when_division_has_no_polygon(prefecture, counties):
    prefecture["geometry"] = None
    (fit,) = children_of(build(prefecture, counties), FitBounds)
    assert fit.bounds == [[29.5, 119.0], [30.5, 120.5]]


def test_layers_outline_children_and_labels(prefecture, counties):
    fmap = build(prefecture, counties)
    outline = geojson_layer(fmap, "本级边界")
    assert [f["id"] for f in outline.data["features"]] == ["330100000000"]
    assert outline.style_function(outline.data["features"][0])["weight"] >= 3
    kids = geojson_layer(fmap, "下级区划")
    assert [f["id"] for f in kids.data["features"]] == ["330122000000", "330127000000"]
    (labels,) = children_of(fmap, folium.FeatureGroup)
    markers = children_of(labels, folium.Marker)
    assert len(markers) == 3
    assert markers[1].location == [29.75, 120.15]  # lat, lon
    assert (
        'class="division-label" data-code="330182000000">建德市<'
        in (markers[2].icon.options["html"])
    )
    assert children_of(fmap, folium.TileLayer) == []


def test_children_tooltip_shows_name_code_kind(prefecture, counties):
    kids = geojson_layer(build(prefecture, counties), "下级区划")
    (tooltip,) = children_of(kids, folium.GeoJsonTooltip)
    assert tooltip.fields == ["name", "code", "kind"]
    props = kids.data["features"][0]["properties"]
    assert (props["name"], props["code"], props["kind"]) == ("桐庐县", "330122000000", "县")


def test_basemap_tile_layer_when_url_given(prefecture, counties):
    url = "http://127.0.0.1:9/tiles/{z}/{x}/{y}.png"
    fmap = build(prefecture, counties, basemap_url=url, basemap_attribution="测试底图")
    (tiles,) = children_of(fmap, folium.TileLayer)
    assert tiles.tiles == url
    assert tiles.options["attribution"] == "测试底图"


def test_only_local_leaflet_assets_and_folium_defaults_untouched(prefecture, counties):
    fmap = build(prefecture, counties, static_prefix="/assets/")
    assert fmap.default_js == [("leaflet", "/assets/leaflet/leaflet.js")]
    assert fmap.default_css == [("leaflet_css", "/assets/leaflet/leaflet.css")]
    assert any("jquery" in url for _, url in folium.Map.default_js)


def test_display_geometry_drops_z_and_rejects_lat_lon_order():
    poly = {
        "type": "Polygon",
        "coordinates": [
            [[120.1234567, 30.1, 5], [120.2, 30.1, 5], [120.2, 30.2, 5], [120.1234567, 30.1, 5]]
        ],
    }
    shown = to_display_geometry(poly)
    assert shown["coordinates"][0][0] == [120.123457, 30.1]
    json.dumps(shown)
    with pytest.raises(ValueError, match="lon/lat"):
        to_display_geometry(square(29.5, 119.0, 30.5, 120.5))


# --- the rendered page ------------------------------------------------------------------


def test_page_has_no_cdn_and_loads_local_leaflet(prefecture, counties):
    page = render(prefecture, counties)
    for host in CDN_HOSTS:
        assert host not in page
    assert '<script src="/static/leaflet/leaflet.js"></script>' in page
    assert 'href="/static/leaflet/leaflet.css"' in page
    assert re.findall(r'(?:src|href)="([^"]+)"', page) == [
        "/static/leaflet/leaflet.js",
        "/static/leaflet/leaflet.css",
    ]
    assert "jquery" not in page.lower() and "bootstrap" not in page.lower()


def test_page_title_and_legend(prefecture, counties):
    page = render(prefecture, counties)
    assert "<title>杭州市 (330100000000) 地级市" in page
    assert re.search(r'<h1 class="division-legend__title">杭州市</h1>', page)
    assert "330100000000" in page and "地级市" in page


def test_page_escapes_names(prefecture, counties):
    prefecture["name"] = "杭州<script>alert(1)</script>市"
    counties[0]["name"] = '桐庐<b onmouseover="x">县'
    page = render(prefecture, counties)
    assert "<script>alert(1)" not in page
    assert "<b onmouseover" not in page
    assert "<title>杭州&lt;script&gt;alert(1)&lt;/script&gt;市 (330100000000)" in page
    assert "桐庐&lt;b onmouseover=&quot;x&quot;&gt;县" in page


def test_page_shows_approximate_notice_only_when_a_shown_polygon_is(prefecture, counties):
    assert APPROXIMATE_NOTICE in render(prefecture, counties)
    for record in (prefecture, *counties[:2]):
        record["approximate"] = False
    counties[2]["approximate"] = True  # no polygon shown for it
    assert APPROXIMATE_NOTICE not in render(prefecture, counties)


def test_page_lists_child_without_geometry(prefecture, counties):
    page = render(prefecture, counties)
    item = re.search(r'<li data-code="330182000000">.*?</li>', page).group(0)
    assert "建德市" in item and MISSING_GEOMETRY_NOTE in item
    other = re.search(r'<li data-code="330122000000">.*?</li>', page).group(0)
    assert MISSING_GEOMETRY_NOTE not in other


def test_vendored_leaflet_files_present():
    leaflet = STATIC_DIR / "leaflet"
    assert "Leaflet 1.9.4" in (leaflet / "leaflet.js").read_text()[:200]
    assert ".leaflet-container" in (leaflet / "leaflet.css").read_text()
    assert "BSD 2-Clause" in (leaflet / "LICENSE").read_text()
    assert (leaflet / "images" / "layers.png").is_file()
    assert "npm pack leaflet@1.9.4" in (STATIC_DIR / "README.md").read_text()


def test_maps_package_imports_no_web_or_database_code():
    code = "import json, sys, maps.division_map; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = {name.split(".")[0] for name in json.loads(out.stdout)}
    assert not loaded & {"fastapi", "starlette", "sqlalchemy", "geoalchemy2", "psycopg", "api"}


# --- the page in headless Chromium ------------------------------------------------------


needs_chromium = pytest.mark.skipif(chromium_path() is None, reason="chromium is not installed")


def write_page(tmp_path, prefecture, counties) -> Path:
    page = render(prefecture, counties, static_prefix=STATIC_DIR.as_uri())
    path = tmp_path / "division.html"
    path.write_text(page, encoding="utf-8")
    return path


@pytest.mark.browser
@needs_chromium
def test_page_runs_leaflet_in_chromium(tmp_path, prefecture, counties):
    counties[0]["name"] = "桐庐<县>"
    dom = render_dom(write_page(tmp_path, prefecture, counties).as_uri())
    scan = DomScan()
    scan.feed(dom)
    assert sorted(scan.labels) == sorted(c["name"] for c in counties)
    assert scan.interactive_paths >= 3
    assert "leaflet-container" in dom


@pytest.mark.browser
@needs_chromium
def test_screenshot_of_page(tmp_path, prefecture, counties):
    shot = screenshot(write_page(tmp_path, prefecture, counties).as_uri(), tmp_path / "map.png")
    header = shot.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", header[16:24]) == (1200, 800)
