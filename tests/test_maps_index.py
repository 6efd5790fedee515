"""The /maps index: the page, its links, and the search box suggesting and navigating in headless Chromium."""

from __future__ import annotations

import re

import pytest

from maps.index_page import DEMO_LINKS, render_index_page
from tests.playwright_browser import basemap_host, browser_page, playwright_missing, save_screenshot


def test_index_page_has_search_box_script_and_escaped_links():
    html = render_index_page([("<b>示例</b>", "/maps/divisions/330100?a=1&b=2", "说明")], static_prefix="/assets/")
    assert 'id="map-search"' in html and 'src="/assets/gazetteer/index.js"' in html
    assert "&lt;b&gt;示例" in html and 'href="/maps/divisions/330100?a=1&amp;b=2"' in html
    assert not re.search(r'(src|href)="https?://', html)


def test_index_route_and_its_demo_links(client):
    page = client.get("/maps")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert client.get("/static/gazetteer/index.js").status_code == 200
    for _title, url, _about in DEMO_LINKS:
        assert f'href="{url}"' in page.text
        if not url.startswith("/maps/facilities"):  # the facility page has its own tests
            assert client.get(url).status_code == 200, url


@pytest.mark.browser
@pytest.mark.skipif(playwright_missing() is not None, reason=str(playwright_missing()))
def test_search_suggests_grouped_and_opens_the_division_map(live_server, settings):
    with browser_page(live_server, basemap_host=basemap_host(settings)) as (page, log):
        page.goto(f"{live_server}/maps")
        page.fill("#map-search", "西湖")
        page.wait_for_selector('.suggest-group[data-group="division"] a.suggestion', timeout=15000)
        groups = page.locator(".suggest-group").evaluate_all("els => els.map(e => e.dataset.group)")
        names = page.locator('.suggest-group[data-group="placename"] a.suggestion b').all_inner_texts()
        save_screenshot(page, "maps-index-suggestions")
        page.locator('.suggest-group[data-group="division"] a.suggestion', has_text="330106").first.click()
        page.wait_for_url(f"{live_server}/maps/divisions/330106")
        page.wait_for_selector(".division-legend", timeout=15000)
        title = page.title()
        save_screenshot(page, "maps-index-opened-division")
    assert "division" in groups and "placename" in groups
    assert groups == [g for g in ("address", "placename", "division") if g in groups]  # grouped in that order
    assert names and all("西湖" in n for n in names)
    assert "西湖区" in title
    assert log.problems() == []


@pytest.mark.browser
@pytest.mark.skipif(playwright_missing() is not None, reason=str(playwright_missing()))
def test_search_opens_a_place_name_with_its_popup(live_server, settings):
    with browser_page(live_server, basemap_host=basemap_host(settings)) as (page, log):
        page.goto(f"{live_server}/maps")
        page.fill("#map-search", "西湖区")
        first = page.locator('.suggest-group[data-group="placename"] a.suggestion').first
        first.wait_for(timeout=15000)
        first.click()
        page.wait_for_url(re.compile(r".*/maps/placenames\?division=\d{6}&focus=\d+$"))
        page.wait_for_selector(".leaflet-popup-content .placename-popup", timeout=15000)
        popup = page.locator(".leaflet-popup-content").inner_text()
        save_screenshot(page, "maps-index-opened-placename")
    assert "西湖区" in popup and "Xihu" in popup
    assert log.problems() == []
