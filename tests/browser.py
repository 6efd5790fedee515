"""Headless-Chromium helpers for page tests (Debian's ``chromium``); not a test module.

Both helpers work on ``file://`` and ``http://127.0.0.1`` URLs. Each run gets a fresh
profile directory, no background networking and a virtual-time budget, so a page's
JavaScript gets to run before the DOM is dumped or the screenshot is taken.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from html.parser import HTMLParser
from pathlib import Path

DEFAULT_CHROMIUM = "/usr/bin/chromium"
STARTUP_SECONDS = 60  # on top of the page's virtual-time budget


class BrowserError(RuntimeError):
    """Chromium is missing, failed or timed out."""


def chromium_path() -> str | None:
    """Return the Chromium binary to use (CHROMIUM env var, Debian's, or on PATH), or None."""
    candidates = [os.environ.get("CHROMIUM"), DEFAULT_CHROMIUM, shutil.which("chromium")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def chromium_args(binary: str, profile_dir: str, wait_ms: int) -> list[str]:
    """Return the common headless command line, before the mode flags and the URL."""
    return [
        binary,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile_dir}",
        f"--virtual-time-budget={int(wait_ms)}",
    ]


def run_chromium(mode_args: Sequence[str], url: str, *, wait_ms: int) -> str:
    """Run headless Chromium on ``url`` with ``mode_args`` and return its stdout."""
    binary = chromium_path()
    if binary is None:
        raise BrowserError("chromium not found: set CHROMIUM or apt-get install chromium")
    timeout = wait_ms / 1000 + STARTUP_SECONDS
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile_dir:
        cmd = [*chromium_args(binary, profile_dir, wait_ms), *mode_args, url]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise BrowserError(f"chromium timed out after {timeout:.0f}s on {url}") from exc
    if done.returncode != 0:
        tail = (done.stderr or "").strip()[-2000:]
        raise BrowserError(f"chromium exited {done.returncode} on {url}:\n{tail}")
    return done.stdout


def render_dom(url: str, *, wait_ms: int = 4000) -> str:
    """Return the DOM of ``url`` serialised after its scripts ran (``--dump-dom``)."""
    dom = run_chromium(["--dump-dom"], url, wait_ms=wait_ms)
    if not dom.strip():
        raise BrowserError(f"chromium dumped an empty DOM for {url}")
    return dom


def screenshot(
    url: str, path: str | os.PathLike, size: tuple[int, int] = (1200, 800), *, wait_ms: int = 4000
) -> Path:
    """Save a PNG screenshot of ``url`` at ``size`` (width, height) to ``path``."""
    target = Path(path).resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.unlink(missing_ok=True)
    width, height = size
    mode = [f"--screenshot={target}", f"--window-size={width},{height}", "--hide-scrollbars"]
    run_chromium(mode, url, wait_ms=wait_ms)
    if not target.is_file() or target.stat().st_size == 0:
        raise BrowserError(f"chromium wrote no screenshot of {url} to {target}")
    return target


class DomScan(HTMLParser):
    """Collect the text of .division-label elements and the interactive SVG paths."""

    def __init__(self):
        super().__init__()
        self.labels: list[str] = []
        self.interactive_paths = 0
        self._in_label = False

    def handle_starttag(self, tag, attrs):
        classes = (dict(attrs).get("class") or "").split()
        self._in_label = "division-label" in classes
        if self._in_label:
            self.labels.append("")
        if tag == "path" and "leaflet-interactive" in classes:
            self.interactive_paths += 1

    def handle_endtag(self, tag):
        self._in_label = False

    def handle_data(self, data):
        if self._in_label:
            self.labels[-1] += data
