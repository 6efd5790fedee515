"""Shared chrome of the folium map pages: local plugin assets, JSON-fed layers, the side panel, the
standalone export (every asset inlined) and the HTML 404 page.

The pages' own script and styles live in ``maps/static/gazetteer/`` (``maps.js``, ``maps.css``); a layer
on a page is one folium element holding a JSON array that a ``GazetteerMaps`` factory turns into
Leaflet layers, because a folium element per marker costs milliseconds each to render.
"""

from __future__ import annotations

import base64
import html
import json
import mimetypes
import re
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import folium
from branca.element import Element, MacroElement
from folium.map import Layer
from jinja2 import Template

from maps.division_map import DEFAULT_STATIC_PREFIX, LocalLeafletMap, base_map

STATIC_DIR = Path(__file__).resolve().parent / "static"
PLUGINS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # name: (JS files, CSS files) under maps/static/, loaded after Leaflet in this order
    "markercluster": (("leaflet.markercluster/leaflet.markercluster.js",),
                      ("leaflet.markercluster/MarkerCluster.css",
                       "leaflet.markercluster/MarkerCluster.Default.css")),
    "gazetteer": (("gazetteer/maps.js",), ("gazetteer/maps.css",)),
}
_SCRIPT_TAG = re.compile(r'<script src="(?P<url>[^"]+)"></script>')
_STYLESHEET_TAG = re.compile(r'<link rel="stylesheet" href="(?P<url>[^"]+)"/?>')
_CSS_URL = re.compile(r"url\((?P<q>['\"]?)(?P<path>[^)'\"]+)(?P=q)\)")
_SOURCE_MAP = re.compile(r"^//# sourceMappingURL=.*$", re.MULTILINE)


def esc(text: object) -> str:
    """TEXT HTML-escaped (quotes too); None becomes an empty string."""
    return html.escape("" if text is None else str(text), quote=True)


def plugin_map(bounds: list[list[float]], *, basemap_url: str | None, basemap_attribution: str,
               static_prefix: str = DEFAULT_STATIC_PREFIX, plugins: Sequence[str] = ("gazetteer",)
               ) -> LocalLeafletMap:
    """A local-Leaflet base map (see division_map.base_map) that also loads PLUGINS from maps/static."""
    fmap = base_map(bounds, basemap_url=basemap_url, basemap_attribution=basemap_attribution,
                    static_prefix=static_prefix)
    prefix = (static_prefix or "").rstrip("/")
    for name in plugins:
        scripts, sheets = PLUGINS[name]
        fmap.default_js += [(f"{name}_{i}", f"{prefix}/{path}") for i, path in enumerate(scripts)]
        fmap.default_css += [(f"{name}_css_{i}", f"{prefix}/{path}") for i, path in enumerate(sheets)]
    return fmap


def script_json(data: Any) -> str:
    """DATA as JSON safe inside a <script>: UTF-8 kept (ASCII escapes double the size of Chinese text),
    the characters that could end the script or start markup escaped."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026").replace(
        "\u2028", "\\u2028").replace("\u2029", "\\u2029")


class JsonLayer(Layer):
    """A layer built in the browser by ``GazetteerMaps[factory](map, data, options)`` from JSON data; listed
    in the LayerControl under NAME (HTML: Leaflet inserts it as markup), shown at load unless SHOW is false."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = GazetteerMaps.{{ this.factory }}(
            {{ this._parent.get_name() }}, {{ this.data_json }}, {{ this.layer_options|tojson }});
        {% endmacro %}
    """)

    def __init__(self, factory: str, data: Any, *, name: str, options: Mapping[str, Any] | None = None,
                 show: bool = True, control: bool = True):
        super().__init__(name=name, overlay=True, control=control, show=show)
        self._name = "JsonLayer"
        self.factory = factory
        self.data = data
        self.data_json = script_json(data)
        self.layer_options = dict(options or {})


def add_panel(fmap: folium.Map, *, title: str, panel_html: str, page_script: str | None = None) -> None:
    """Set the page title (escaped here) and add the side panel (already escaped HTML) and any page script."""
    figure = fmap.get_root()
    figure.title = esc(title)
    figure.html.add_child(Element(f'<div class="map-panel">{panel_html}</div>'), name="map_panel")
    if page_script:
        PageScript(page_script).add_to(fmap)


class PageScript(MacroElement):
    """Script run after the map's layers exist (a child of the map renders after its earlier children)."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        {{ this.code }}
        {% endmacro %}
    """)

    def __init__(self, code: str):
        super().__init__()
        self._name = "PageScript"
        self.code = code


def swatch(color: str, glyph: str = "", shape: str = "pin") -> str:
    """The HTML of a legend/marker icon: a coloured pin or dot with an optional one-character glyph."""
    return (f'<span class="map-icon map-icon--{esc(shape)}" style="--icon-color:{esc(color)}">'
            f"<b>{esc(glyph)}</b></span>")


def not_found_html(title: str, message: str) -> str:
    """A small HTML page for a map whose subject does not exist (TITLE and MESSAGE are plain text)."""
    return ("<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">"
            f"<title>{esc(title)}</title></head><body><h1>{esc(title)}</h1><p>{esc(message)}</p>"
            '<p><a href="/maps">地图首页 (map index)</a></p></body></html>')


# --- the standalone export ------------------------------------------------------------


def standalone(page: str, static_prefix: str = DEFAULT_STATIC_PREFIX) -> str:
    """PAGE with every script and stylesheet from STATIC_PREFIX inlined, and their CSS images as data URIs,
    so the file works when opened from disk or e-mailed (only basemap tiles, if any, still load)."""
    prefix = (static_prefix or "").rstrip("/") + "/"

    def script(match: re.Match) -> str:
        path = _static_path(match["url"], prefix)
        if path is None:
            return match[0]
        return f"<script>{_inline_js(path)}</script>"

    def sheet(match: re.Match) -> str:
        path = _static_path(match["url"], prefix)
        if path is None:
            return match[0]
        return f"<style>{_inline_css(path)}</style>"

    return _STYLESHEET_TAG.sub(sheet, _SCRIPT_TAG.sub(script, page))


def _static_path(url: str, prefix: str) -> Path | None:
    if not url.startswith(prefix):
        return None
    path = (STATIC_DIR / url[len(prefix):]).resolve()
    if STATIC_DIR not in path.parents or not path.is_file():
        raise FileNotFoundError(f"{url} is not a file under {STATIC_DIR}")
    return path


@cache
def _inline_js(path: Path) -> str:
    source = _SOURCE_MAP.sub("", path.read_text("utf-8"))
    if "</script" in source.lower():
        raise ValueError(f"{path} contains </script and cannot be inlined")
    return source


@cache
def _inline_css(path: Path) -> str:
    def data_uri(match: re.Match) -> str:
        target = match["path"]
        if target.startswith(("data:", "#")):
            return match[0]
        image = (path.parent / target).resolve()
        kind = mimetypes.guess_type(image.name)[0] or "application/octet-stream"
        return f"url(data:{kind};base64,{base64.b64encode(image.read_bytes()).decode('ascii')})"

    return _CSS_URL.sub(data_uri, path.read_text("utf-8"))


def attachment_name(stem: str) -> str:
    """The Content-Disposition value offering STEM.html as a download (ASCII name)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", stem).strip("-") or "map"
    return f'attachment; filename="{safe}.html"'
