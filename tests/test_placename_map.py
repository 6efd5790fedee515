"""The place-name map page: its data function on the real registry, the builder, the route and the page
(and its standalone export) in headless Chromium."""

from __future__ import annotations

import re

import pytest

from boundaries.codes import DivisionCode
from maps.page import standalone
from maps.placename_map import PlacenameMapData, build_placename_map, name_popup, render_placename_page
from placenames.categories import get_category
from placenames.map_data import MapName, names_for_map
from tests.playwright_browser import basemap_host, browser_page, playwright_missing, save_screenshot

XIHU = DivisionCode.parse("330106")
URL_ATTRS = re.compile(r'<(?:script|img|iframe)[^>]*\ssrc="([^"]+)"|<link[^>]*\shref="([^"]+)"')


def fake_name(ident: int, name: str, category: str, geometry: dict, romanization: str | None = "Roman") -> MapName:
    return MapName(id=ident, name=name, specific=name[:-1], generic=name[-1:], category=category,
                   category_name=get_category(category).name, romanization=romanization, meaning="<b>含义</b>",
                   division_code="330106", geometry=geometry)


def test_names_for_map_are_current_with_geometry_in_the_division(session):
    names, total = names_for_map(session, XIHU)
    assert names and total == len(names)
    assert all(n.geometry["type"] in ("Point", "LineString", "Polygon", "MultiLineString", "MultiPolygon")
               for n in names)
    assert all(n.division_code.startswith("330106") for n in names if n.division_code)
    assert any(n.romanization for n in names)


def test_names_for_map_caps_filters_and_puts_focus_first(session):
    names, total = names_for_map(session, XIHU)
    last = names[-1]
    capped, capped_total = names_for_map(session, XIHU, limit=3, focus=last.id)
    assert capped_total == total and len(capped) == 3 and capped[0].id == last.id
    streets, _ = names_for_map(session, XIHU, category=get_category("08"))
    assert streets and all(n.category.startswith("08") for n in streets)


def test_builder_layer_per_category_with_escaped_popups():
    names = [fake_name(1, "文三路", "0801", {"type": "LineString", "coordinates": [[120.1, 30.27], [120.14, 30.28]]}),
             fake_name(2, "<x>花园", "0703", {"type": "Point", "coordinates": [120.12, 30.26]}),
             fake_name(3, "翠苑小区", "0703", {"type": "Point", "coordinates": [120.13, 30.29]}, romanization=None)]
    data = PlacenameMapData("330106", "西湖区", names, total=10, limit=3)
    fmap = build_placename_map(data, basemap_url=None, basemap_attribution="", focus=2)
    layers = [c for c in fmap._children.values() if type(c).__name__ == "JsonLayer"]
    assert sorted(layer.layer_options["category"] for layer in layers) == ["0703", "0801"]
    points = next(layer for layer in layers if layer.layer_options["category"] == "0703")
    assert [item["lat"] for item in points.data] == [30.26, 30.29]
    line = next(layer for layer in layers if layer.layer_options["category"] == "0801")
    assert line.data[0]["geometry"]["type"] == "LineString" and "lat" not in line.data[0]
    html = fmap.get_root().render()
    assert "共 10 条,只显示前 3 条" in html and 'GazetteerMaps.open(' in html
    popup = name_popup(names[1])
    assert "&lt;x&gt;花园" in popup and "&lt;b&gt;含义" in popup and "<x>" not in popup
    assert "专名" in popup and "通名" in popup and "住宅区(0703)" in popup and "Roman" in popup
    (south, west), (north, east) = next(c for c in fmap._children.values() if type(c).__name__ == "FitBounds").bounds
    assert (south, west, north, east) == (30.26, 120.1, 30.29, 120.14)


def test_page_loads_only_local_assets_and_export_inlines_them():
    names = [fake_name(2, "翠苑小区", "0703", {"type": "Point", "coordinates": [120.12, 30.26]})]
    page = render_placename_page(PlacenameMapData("330106", "西湖区", names, 1, 5000), basemap_url=None,
                                 basemap_attribution="")
    urls = [a or b for a, b in URL_ATTRS.findall(page)]
    assert urls and all(u.startswith("/static/") for u in urls)
    assert "/static/leaflet.markercluster/leaflet.markercluster.js" in urls
    exported = standalone(page)
    assert URL_ATTRS.findall(exported) == []
    assert "L.MarkerClusterGroup" in exported and "data:image/png;base64," in exported  # leaflet's layer icons
    assert "sourceMappingURL" not in exported


def test_route_page_404_and_bad_parameters(client, session):
    names, _ = names_for_map(session, XIHU, limit=1)
    page = client.get("/maps/placenames", params={"division": "330106", "focus": names[0].id})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "西湖区 标准地名" in page.text and names[0].name in page.text
    export = client.get("/maps/placenames", params={"division": "330106", "download": 1})
    assert export.headers["content-disposition"] == 'attachment; filename="placenames-330106.html"'
    missing = client.get("/maps/placenames", params={"division": "330199"})
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")
    assert client.get("/maps/placenames", params={"division": "33"}).status_code == 422
    assert client.get("/maps/placenames", params={"division": "330106", "category": "nope"}).status_code == 422
    assert client.get("/maps/placenames", params={"focus": "x"}).status_code == 422


@pytest.mark.browser
@pytest.mark.skipif(playwright_missing() is not None, reason=str(playwright_missing()))
def test_page_in_chromium_layers_legend_and_focus_popup(live_server, settings, engine):
    with engine.connect() as conn:
        names, _ = names_for_map(conn, XIHU)
    focus = next(n for n in names if n.geometry["type"] == "Point" and n.romanization)
    with browser_page(live_server, basemap_host=basemap_host(settings)) as (page, log):
        page.goto(f"{live_server}/maps/placenames?division=330106&focus={focus.id}")
        page.wait_for_selector(".leaflet-popup-content .placename-popup", timeout=15000)
        overlays = page.locator(".leaflet-control-layers-overlays label").all_inner_texts()
        legend = page.locator(".placename-legend li").all_inner_texts()
        popup = page.locator(".leaflet-popup-content").inner_text()
        save_screenshot(page, "placenames-330106")
    categories = sorted({n.category_name for n in names})
    assert sorted(o.strip().rsplit(" ", 1)[0] for o in overlays) == categories
    assert len(legend) == len(categories)
    assert focus.name in popup and focus.romanization in popup
    assert log.problems() == []


@pytest.mark.browser
@pytest.mark.skipif(playwright_missing() is not None, reason=str(playwright_missing()))
def test_exported_file_renders_from_disk_without_network(client, settings, tmp_path):
    export = client.get("/maps/placenames", params={"division": "330106", "download": 1})
    path = tmp_path / "placenames.html"
    path.write_text(export.text, encoding="utf-8")
    tiles = basemap_host(settings)  # the export keeps the basemap's tile URL: its tiles are answered locally
    with browser_page(path.as_uri(), basemap_host=tiles) as (page, log):
        page.goto(path.as_uri())
        page.wait_for_selector(".leaflet-control-layers-overlays label", timeout=15000)
        page.wait_for_timeout(500)
        assert page.locator(".placename-legend li").count() > 0
        save_screenshot(page, "placenames-330106-export")
    assert log.problems() == []
    others = [u for u in log.requests if not u.startswith(("data:", "blob:")) and not (tiles and tiles in u)]
    assert others == [path.as_uri()]
