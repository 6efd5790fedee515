"""The division map page served by the API, on real data, in the API and in headless Chromium."""

import pytest

from boundaries.codes import DivisionCode
from boundaries.divisions import map_features
from maps.division_map import APPROXIMATE_NOTICE, build_division_map
from tests.browser import DomScan, chromium_path, render_dom

HUZHOU_COUNTIES = ["吴兴区", "南浔区", "德清县", "长兴县", "安吉县"]


def test_map_features_for_huzhou(session):
    division, children = map_features(session, DivisionCode.parse("330500"))
    assert division["name"] == "湖州市" and division["geometry"]["type"] == "MultiPolygon"
    assert [c["name"] for c in children] == HUZHOU_COUNTIES
    assert all(c["geometry"] and c["label_point"] and c["approximate"] for c in children)


def test_folium_object_is_fitted_to_huzhou(session):
    division, children = map_features(session, DivisionCode.parse("330500"))
    fmap = build_division_map(division, children, basemap_url=None, basemap_attribution="")
    html = fmap.get_root().render()
    bounds = [child for child in fmap._children.values() if type(child).__name__ == "FitBounds"]
    (south, west), (north, east) = bounds[0].bounds
    assert 30.3 < south < north < 31.2 and 119.2 < west < east < 120.7
    for name in HUZHOU_COUNTIES:
        assert name in html


def test_map_page_endpoint(client):
    response = client.get("/maps/divisions/330500")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    html = response.text
    assert "<title>" in html and "湖州市" in html and APPROXIMATE_NOTICE.split(" ")[0] in html
    assert "/static/leaflet/leaflet.js" in html and "cdn.jsdelivr" not in html
    assert client.get("/static/leaflet/leaflet.js").status_code == 200
    for name in HUZHOU_COUNTIES:
        assert name in html


def test_map_page_errors_are_problems(client):
    assert client.get("/maps/divisions/12").status_code == 422
    assert client.get("/maps/divisions/999999").status_code == 404


@pytest.mark.browser
@pytest.mark.skipif(chromium_path() is None, reason="Debian's chromium is not installed")
def test_map_page_renders_in_chromium(live_server):
    dom = render_dom(f"{live_server}/maps/divisions/330500", wait_ms=6000)
    scan = DomScan()
    scan.feed(dom)
    assert sorted(scan.labels) == sorted(HUZHOU_COUNTIES)
    assert scan.interactive_paths >= len(HUZHOU_COUNTIES)
    assert "leaflet-container" in dom
