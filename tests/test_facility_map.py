"""The facility map page: the builder on hand-made facilities and coverage, the route on the demo facilities,
and the page (and its standalone export) in headless Chromium."""

from __future__ import annotations

import datetime as dt
import json
import re

import folium
import pytest
from sqlalchemy import text

from facilities.model import CoverageReport, DivisionCoverage, Facility, FacilityType, Gap
from maps.facility_map import (
    FacilityMapData,
    Here,
    build_facility_map,
    capacity_text,
    facility_popup,
    render_facility_page,
)
from maps.page import standalone
from tests.playwright_browser import basemap_host, browser_page, playwright_missing, save_screenshot

URL_ATTRS = re.compile(r'<(?:script|img|iframe)[^>]*\ssrc="([^"]+)"|<link[^>]*\shref="([^"]+)"')
HOME = FacilityType("ELDERLY_HOME", "养老机构", "elderly", 1000, "beds", "bed", "#c0392b", 10, "")
MEAL = FacilityType("MEAL_POINT", "老年食堂", "elderly", 500, "meal_seats", "cutlery", "#f39c12", 40, "")


def facility(ident: str, type_code: str, lon: float, lat: float, **kw) -> Facility:
    values = {"name": f"设施{ident}", "address": "西湖区文三路90号", "address_code": "33010600505200019",
              "division_code": "330106001001", "beds": None, "meal_seats": None, "operator": "某某公司",
              "opened_on": dt.date(2021, 5, 1), "status": "operating", "version": 1} | kw
    return Facility(facility_id=ident, type_code=type_code, lon=lon, lat=lat, **values)


def coverage(addresses: int, covered: dict[int, int]) -> DivisionCoverage:
    return DivisionCoverage("330106", "西湖区", 3, addresses, covered, None, None, None)


@pytest.fixture
def data() -> FacilityMapData:
    facilities = [facility("H1", "ELDERLY_HOME", 120.10, 30.25, beds=120, name="<b>颐养院</b>"),
                  facility("M1", "MEAL_POINT", 120.12, 30.27, meal_seats=40),
                  facility("M2", "MEAL_POINT", 120.14, 30.29, meal_seats=None, status="planned")]
    total = coverage(1000, {300: 250, 500: 500, 1000: 875})
    gaps = [Gap("330106001002", "某社区", 5, "community", "no_facility_in_radius", "500 m 内没有老年食堂",
                None, 812.0, 120.13, 30.24),
            Gap("330106001003", "无点社区", 5, "community", "no_social_work_station", "没有社工站",
                None, None, None, None)]
    report = CoverageReport("330106", "西湖区", ("ELDERLY_HOME", "MEAL_POINT"), 1000, (300, 500, 1000), False,
                            [total], total, gaps, 3, ["no population loaded"])
    uncovered = [(120.11, 30.26), (120.15, 30.30)]
    return FacilityMapData("330106", "西湖区", (HOME, MEAL), facilities, report, uncovered, 2)


def json_layers(fmap) -> list:
    return [c for c in fmap._children.values() if type(c).__name__ == "JsonLayer"]


def test_layer_per_type_rings_uncovered_and_gaps(data):
    fmap = build_facility_map(data, basemap_url=None, basemap_attribution="")
    layers = json_layers(fmap)
    by_factory = {}
    for layer in layers:
        by_factory.setdefault(layer.factory, []).append(layer)
    types = by_factory["facilities"]
    assert [layer.layer_options["type"] for layer in types] == ["ELDERLY_HOME", "MEAL_POINT"]
    assert ["养老机构" in layer.layer_name for layer in types] == [True, False]
    assert [[f["id"] for f in layer.data] for layer in types] == [["H1"], ["M1", "M2"]]
    assert all(layer.layer_options["cluster"] for layer in types)
    (rings,) = by_factory["rings"]
    assert sorted((r["lat"], r["r"]) for r in rings.data) == [(30.25, 1000), (30.27, 500), (30.29, 500)]
    (uncovered,) = by_factory["points"]
    assert uncovered.data == [[30.26, 120.11], [30.3, 120.15]]  # lat, lon for Leaflet
    (gaps,) = by_factory["areas"]
    assert [g["code"] for g in gaps.data] == ["330106001002"]  # the one without a point is only listed
    assert len([c for c in fmap._children.values() if isinstance(c, folium.LayerControl)]) == 1


def test_radius_asked_for_draws_every_ring_with_it(data):
    wider = FacilityMapData(**{**data.__dict__, "radius_m": 300})
    (rings,) = [layer for layer in json_layers(build_facility_map(wider, basemap_url=None, basemap_attribution=""))
                if layer.factory == "rings"]
    assert {r["r"] for r in rings.data} == {300}


def test_popup_has_name_type_capacity_address_operator_status_and_date(data):
    popup = facility_popup(data.facilities[0], HOME)
    assert "&lt;b&gt;颐养院" in popup and "<b>颐养院" not in popup
    for text_ in ("养老机构", "床位 120 张", "西湖区文三路90号", "33010600505200019", "某某公司", "运营中", "2021-05-01"):
        assert text_ in popup
    assert capacity_text(data.facilities[1]) == "助餐座位 40 个"
    assert capacity_text(data.facilities[2]) == "未登记"
    assert "规划中" in facility_popup(data.facilities[2], MEAL)


def test_legend_shares_gaps_and_sampling_notice(data):
    html = render_facility_page(data, basemap_url=None, basemap_attribution="")
    assert re.search(r'<li data-type="ELDERLY_HOME">.*?1 处 · 1000 m', html)
    assert re.search(r'<li data-type="MEAL_POINT">.*?2 处 · 500 m', html)
    shares = dict(re.findall(r'<tr data-radius="(\d+)"><td>\d+ m</td><td><span class="share">([\d.]+%)', html))
    assert shares == {"300": "25.0%", "500": "50.0%", "1000": "87.5%"}
    assert "500 m 内没有老年食堂" in html and "没有社工站" in html
    assert "均匀抽样显示 2 个" in html and "no population loaded" in html


def test_here_and_open_facility(data):
    html = render_facility_page(data, basemap_url=None, basemap_attribution="", open_facility="M1",
                                here=Here(120.12, 30.27, "文三路90号"))
    assert 'GazetteerMaps.open(' in html and '"M1", 17);' in html
    assert "所选地址:文三路90号" in html


def test_only_local_assets_and_export_inlines_every_one(data):
    page = render_facility_page(data, basemap_url=None, basemap_attribution="")
    urls = [a or b for a, b in URL_ATTRS.findall(page)]
    assert urls and all(u.startswith("/static/") for u in urls)
    assert not re.search(r"(cdn\.|jsdelivr|unpkg|cdnjs|bootstrapcdn|code\.jquery|font-?awesome)", page, re.I)
    exported = standalone(page)
    assert URL_ATTRS.findall(exported) == [] and "L.MarkerClusterGroup" in exported
    assert "GazetteerMaps" in exported and ".map-panel" in exported


def test_route_errors(client):
    missing = client.get("/maps/facilities", params={"division": "330199"})
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")
    assert "330199" in missing.text
    assert client.get("/maps/facilities", params={"division": "3301"}).status_code == 422
    assert client.get("/maps/facilities", params={"radius": 10}).status_code == 422
    assert client.get("/maps/facilities", params={"type": "NO_SUCH_TYPE"}).status_code == 422
    assert client.get("/maps/facilities", params={"at": "30.2,120.1"}).status_code == 422  # lat,lon swapped


def demo_township(session) -> tuple[str, str, str]:
    """A township of 330100 with the most meal points: (code, facility id, facility name)."""
    row = session.execute(text(
        "SELECT left(division_code, 9) AS township, min(facility_id) AS fid FROM facilities "
        "WHERE type_code = 'MEAL_POINT' AND status = 'operating' AND valid_to IS NULL AND division_code LIKE '3301%' "
        "GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1")).one_or_none()
    if row is None:
        pytest.skip("no demo facilities loaded (gazetteer setup loads them for 330100)")
    name = session.execute(text("SELECT name FROM facilities WHERE facility_id = :f"), {"f": row.fid}).scalar_one()
    return row.township, row.fid, name


def test_route_on_the_demo_facilities(client, session):
    township, fid, name = demo_township(session)
    page = client.get("/maps/facilities", params={"division": township, "type": "MEAL_POINT"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert json.dumps(name, ensure_ascii=False)[1:-1] in page.text  # inside the layer's JSON, UTF-8 kept
    assert 'data-type="MEAL_POINT"' in page.text and "coverage-shares" in page.text
    export = client.get("/maps/facilities", params={"division": township, "type": "MEAL_POINT", "download": 1})
    assert export.headers["content-disposition"] == f'attachment; filename="facilities-{township}.html"'


@pytest.mark.browser
@pytest.mark.skipif(playwright_missing() is not None, reason=str(playwright_missing()))
@pytest.mark.parametrize("scope", ["township", "prefecture"])
def test_page_in_chromium_layers_legend_and_click_opens_popup(live_server, settings, engine, scope):
    """The busiest township's page, and the demo prefecture's (杭州市, every demo facility) the issue asks for."""
    with engine.connect() as conn:
        township, fid, name = demo_township(conn)
        if scope == "prefecture":
            township = "330100"
        seats = conn.execute(text("SELECT meal_seats FROM facilities WHERE facility_id = :f"), {"f": fid}).scalar()
        type_names = conn.execute(text("SELECT name FROM facility_types ORDER BY sort_order")).scalars().all()
    with browser_page(live_server, basemap_host=basemap_host(settings)) as (page, log):
        page.goto(f"{live_server}/maps/facilities?division={township}")
        page.wait_for_selector(".leaflet-control-layers-overlays label", timeout=60000)
        overlays = page.locator(".leaflet-control-layers-overlays label").all_inner_texts()
        legend = page.locator(".facility-legend li[data-type]").count()
        shares = page.locator(".coverage-shares tr[data-radius]").count()
        save_screenshot(page, f"facilities-{township}")
        # zoom past clustering onto the facility, then click its marker like a user
        page.evaluate("id => { var e = GazetteerMaps.registry[id]; "
                      "GazetteerMaps.map.setView(e.layer.getLatLng(), 18, {animate: false}); }", fid)
        marker = page.locator(f'.facility-marker .map-icon[data-facility="{fid}"]')
        marker.wait_for(timeout=15000)
        marker.click()
        popup = page.locator(".leaflet-popup-content .facility-popup")
        popup.wait_for(timeout=15000)
        popup_text = popup.inner_text()
        page.wait_for_timeout(400)  # the popup's fade-in
        save_screenshot(page, f"facilities-{township}-popup")
    for type_name in type_names:
        assert any(type_name in o for o in overlays), type_name
    assert any("服务半径" in o for o in overlays) and any("未覆盖住宅地址" in o for o in overlays)
    assert any("缺口村" in o for o in overlays)
    assert legend == len(type_names) and shares >= 3
    assert name in popup_text and (seats is None or f"助餐座位 {seats} 个" in popup_text)
    assert log.problems() == []


@pytest.mark.browser
@pytest.mark.skipif(playwright_missing() is not None, reason=str(playwright_missing()))
def test_exported_page_renders_from_disk_without_network(client, session, settings, tmp_path):
    township, _fid, _name = demo_township(session)
    export = client.get("/maps/facilities", params={"division": township, "download": 1})
    path = tmp_path / "facilities.html"
    path.write_text(export.text, encoding="utf-8")
    tiles = basemap_host(settings)  # the export keeps the basemap's tile URL: its tiles are answered locally
    with browser_page(path.as_uri(), basemap_host=tiles) as (page, log):
        page.goto(path.as_uri())
        page.wait_for_selector(".leaflet-control-layers-overlays label", timeout=15000)
        page.wait_for_timeout(500)
        assert page.locator(".facility-legend li[data-type]").count() > 0
        save_screenshot(page, f"facilities-{township}-export")
    assert log.problems() == []
    others = [u for u in log.requests if not u.startswith(("data:", "blob:")) and not (tiles and tiles in u)]
    assert others == [path.as_uri()]
