"""The boundary line map page: folium object, served HTML, and the page rendered in headless Chromium."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from html.parser import HTMLParser

import pytest
from sqlalchemy import text

from api.app import create_app
from api.background import serving
from api.deps import get_reader, get_session
from boundaries.inspections import MarkerResult, complete_inspection, plan_inspection, record_marker_result
from boundaries.reports import STATUS_COLORS, line_map_data
from maps.boundary_map import STATUS_CLASSES, MarkerLayer, build_boundary_map, popup_html
from tests.boundary_builders import add_line, add_markers
from tests.browser import chromium_path, render_dom

PHOTO = "ab" * 32
FOUND = ["完好", "损坏", "丢失", "完好"]


def inspected_line(session, settings):
    """A line with 4 markers, documents, one completed round with findings and a photo."""
    line_id = add_line(session, last_inspection="2019-04-01")
    markers = add_markers(session, line_id, 4)
    session.execute(text("INSERT INTO line_documents (line_id, kind, title, added_by) VALUES "
                         "(:l, '协议书', '协议书', 't'), (:l, '界桩登记表', '登记表', 't')"), {"l": line_id})
    inspection = plan_inspection(session, line_id, planned_start=dt.date(2024, 3, 1),
                                 planned_end=dt.date(2024, 5, 1), actor="t")
    for marker, status in zip(markers, FOUND, strict=True):
        photos = (PHOTO,) if status == "损坏" else ()
        record_marker_result(session, settings, inspection.id, MarkerResult(marker.number, status, photos=photos,
                                                                            notes="界桩倾斜" if photos else None),
                             actor="t")
    complete_inspection(session, inspection.id, dt.date(2024, 4, 20), "例行检查", actor="t")
    return line_id, markers, inspection


def test_map_data_has_line_parties_markers_and_findings(session, settings):
    line_id, markers, inspection = inspected_line(session, settings)
    data = line_map_data(session, line_id)
    assert data["line"]["geometry"]["type"] == "MultiLineString"
    assert [p["code"] for p in data["parties"]] == ["330502", "330503"]
    assert all(p["geometry"]["type"] in ("Polygon", "MultiPolygon") for p in data["parties"])
    assert [m["status"] for m in data["markers"]] == FOUND
    damaged = data["markers"][1]
    assert damaged["photos"] == [PHOTO] and damaged["last_finding"]["checked_on"] == "2024-04-20"
    assert data["last_inspection"]["id"] == inspection.id
    assert data["last_inspection"]["counts"] == {"完好": 2, "损坏": 1, "丢失": 1}
    assert sorted(r["marker"] for r in data["open_repairs"]) == [markers[1].number, markers[2].number]


def test_folium_object_is_fitted_and_markers_are_coloured(session, settings):
    line_id, markers, _ = inspected_line(session, settings)
    fmap = build_boundary_map(line_map_data(session, line_id), basemap_url=None, basemap_attribution="")
    html = fmap.get_root().render()
    bounds = [child for child in fmap._children.values() if type(child).__name__ == "FitBounds"]
    (south, west), (north, east) = bounds[0].bounds
    assert 30.6 < south <= north < 30.95 and 120.0 < west < east < 120.4  # the 吴兴区—南浔区 edge
    layer = next(child for child in fmap._children.values() if isinstance(child, MarkerLayer))
    assert [(m["number"], m["color"]) for m in layer.markers] == [
        (marker.number, STATUS_COLORS[status]) for marker, status in zip(markers, FOUND, strict=True)]
    for marker, status in zip(markers, FOUND, strict=True):
        assert f"boundary-marker--{STATUS_CLASSES[status]} marker-{marker.number}" in html
    assert "$(`" not in html  # no jQuery popups


def test_popup_is_escaped_and_shows_three_photos_at_most():
    marker = {"number": "T001001Q", "type": "单立", "type_code": "Q", "status": "损坏", "managing_party": "330502",
              "managing_name": "<b>吴兴区</b>", "photos": [f"{i:064x}" for i in range(5)],
              "last_finding": {"status": "损坏", "checked_on": "2024-04-20", "round": 2, "kind": "routine",
                               "displacement_m": None, "notes": "<script>alert(1)</script>"}}
    html = popup_html(marker)
    assert html.count("<img ") == 3 and "/v1/attachments/" + "0" * 64 in html
    assert "<script>" not in html and "&lt;b&gt;吴兴区" in html and "第2轮联检" in html


def test_page_endpoint_and_404_page(client, session, settings):
    line_id, markers, _ = inspected_line(session, settings)
    page = client.get(f"/maps/boundaries/{line_id}")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "吴兴区—南浔区线" in page.text and "/static/leaflet/leaflet.js" in page.text
    missing = client.get("/maps/boundaries/330503-330523")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")
    assert "330503-330523" in missing.text
    assert client.get("/maps/boundaries/not-a-line").status_code == 422
    assert client.get(f"/maps/boundaries/{line_id}", params={"marker": "bad"}).status_code == 422


@pytest.fixture
def page_server(settings, engine, session, connection) -> Iterator[str]:
    """The app served on 127.0.0.1 on this test's transaction (one request at a time), for Chromium."""
    app = create_app(settings, engine)
    lock = threading.Lock()

    def _session():
        with lock, session.begin_nested():
            yield session

    app.dependency_overrides[get_session] = _session
    app.dependency_overrides[get_reader] = lambda: connection
    with serving(app) as url:
        yield url


class PageScan(HTMLParser):
    """Marker paths by class, legend rows, and the text inside an open popup."""

    def __init__(self):
        super().__init__()
        self.marker_classes: list[str] = []
        self.legend_statuses: list[str] = []
        self.popup_text = ""
        self.popup_images: list[str] = []
        self._popup_depth = 0

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        classes = (attributes.get("class") or "").split()
        if tag == "path" and "boundary-marker" in classes:
            self.marker_classes.append(" ".join(classes))
        if tag == "li" and attributes.get("data-status"):
            self.legend_statuses.append(attributes["data-status"])
        if "marker-popup" in classes or self._popup_depth:
            self._popup_depth += 1
        if self._popup_depth and tag == "img":
            self.popup_images.append(attributes.get("src") or "")
            self._popup_depth -= 1  # a void element: no end tag

    def handle_endtag(self, tag):
        if self._popup_depth:
            self._popup_depth -= 1

    def handle_data(self, data):
        if self._popup_depth:
            self.popup_text += data


@pytest.mark.browser
@pytest.mark.skipif(chromium_path() is None, reason="Debian's chromium is not installed")
def test_page_renders_markers_legend_and_open_popup_in_chromium(page_server, session, settings):
    line_id, markers, _ = inspected_line(session, settings)
    damaged = markers[1].number
    dom = render_dom(f"{page_server}/maps/boundaries/{line_id}?marker={damaged}", wait_ms=6000)
    scan = PageScan()
    scan.feed(dom)
    assert "leaflet-container" in dom
    assert len(scan.marker_classes) == len(markers)
    assert sum(f"marker-{m.number}" in " ".join(scan.marker_classes) for m in markers) == len(markers)
    assert scan.legend_statuses == list(STATUS_COLORS)
    assert damaged in scan.popup_text and "损坏" in scan.popup_text and "界桩倾斜" in scan.popup_text
    assert "吴兴区" in scan.popup_text
    assert scan.popup_images == [f"/v1/attachments/{PHOTO}"]
