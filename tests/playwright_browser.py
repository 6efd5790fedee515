"""Playwright driving Debian's chromium for the map-page tests; not a test module.

`playwright install` is never run (it downloads browsers from a CDN): the tests launch the chromium that
`make test` installs from Debian. Every request the page makes is watched: requests to the page's own
origin and to data:/blob: URLs are let through; basemap tiles are answered here with a blank PNG (the
tests run offline); anything else is recorded as external and aborted.
"""

from __future__ import annotations

import base64
import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from tests.browser import chromium_path

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
BLANK_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8/5+hHgAHggJ/PchI7wAAAABJRU5ErkJggg==")


def playwright_missing() -> str | None:
    """Why the Playwright tests cannot run here, or None when they can."""
    if importlib.util.find_spec("playwright") is None:
        return "playwright is not installed (pip install -e '.[test]')"
    if chromium_path() is None:
        return "Debian's chromium is not installed"
    return None


@dataclass
class PageLog:
    """What happened while a page was open."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    external: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    tiles: int = 0

    def problems(self) -> list[str]:
        """Console errors, uncaught exceptions, failed and external requests."""
        return ([f"console: {m}" for m in self.console_errors] + [f"pageerror: {m}" for m in self.page_errors]
                + [f"failed: {u}" for u in self.failed] + [f"external: {u}" for u in self.external])


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@contextmanager
def browser_page(base_url: str, *, basemap_host: str | None = None, size: tuple[int, int] = (1280, 860)
                 ) -> Iterator[tuple[object, PageLog]]:
    """A fresh headless page allowed to load from BASE_URL's origin (file:// for file:// URLs), with
    BASEMAP_HOST's tiles answered blank; yields (page, log)."""
    from playwright.sync_api import sync_playwright

    log = PageLog()
    own = _origin(base_url) if not base_url.startswith("file:") else "file://"

    def route(request_route, request):
        url = request.url
        log.requests.append(url)
        if url.startswith(("data:", "blob:")) or url.startswith(own):
            request_route.continue_()
        elif basemap_host and urlsplit(url).hostname == basemap_host:
            log.tiles += 1
            request_route.fulfill(status=200, content_type="image/png", body=BLANK_PNG)
        else:
            log.external.append(url)
            request_route.abort()

    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=chromium_path(),
                                         args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            context = browser.new_context(viewport={"width": size[0], "height": size[1]}, locale="zh-CN")
            page = context.new_page()
            page.on("console", lambda m: log.console_errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: log.page_errors.append(str(e)))
            page.on("requestfailed", lambda r: None if _expected_failure(r.url, log, basemap_host)
                    else log.failed.append(f"{r.url} ({r.failure})"))
            page.route("**/*", route)
            yield page, log
        finally:
            browser.close()


def _expected_failure(url: str, log: PageLog, basemap_host: str | None) -> bool:
    # External requests are aborted on purpose; Leaflet cancels pending tiles when the view jumps.
    return url in log.external or (basemap_host is not None and urlsplit(url).hostname == basemap_host)


def save_screenshot(page, name: str) -> Path:
    """Save a PNG of PAGE as tests/artifacts/NAME.png (gitignored) and return its path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def basemap_host(settings) -> str | None:
    """The host the configured basemap's tiles come from, if any."""
    return urlsplit(settings.basemap_url).hostname if settings.basemap_url else None
