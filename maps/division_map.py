"""Division map page: one division's outline, its children and their labels, on local Leaflet.

The page is built by a pipeline of small steps over plain dicts (no database, no web
framework): records → display CRS (2-D CRS84, rounded) → JSON-safe, HTML-escaped properties
→ base map fitted to the bounds in lat/lon order → layers (outline, children, labels) →
page chrome (title, styles, legend box).

Input dicts have the keys ``code``, ``name``, ``level`` (1–5), ``kind`` (地级市, 市辖区, 县 …),
``geometry`` (GeoJSON in lon/lat CRS84, or None), ``label_point`` (GeoJSON Point or None)
and ``approximate`` (True for approximate demo polygons derived from AMap shapes).
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import folium
import numpy as np
import shapely
from branca.element import Element
from shapely.geometry import shape

LEAFLET_VERSION = "1.9.4"
DEFAULT_STATIC_PREFIX = "/static"
APPROXIMATE_NOTICE = (
    "近似示意边界 (approximate demo polygons, derived from AMap data; "
    "not an official 勘界 boundary)"
)
MISSING_GEOMETRY_NOTE = "无边界数据"
COORD_DECIMALS = 6  # about 0.1 m: plenty for display, keeps pages small
CHINA_BOUNDS_LATLON = [[18.0, 73.0], [54.0, 135.0]]
TOOLTIP_FIELDS = ["name", "code", "kind"]
TOOLTIP_ALIASES = ["名称", "代码", "类型"]
CHILD_PALETTE = ["#8dd3c7", "#ffffb3", "#bebada", "#fb8072", "#80b1d3", "#fdb462", "#b3de69"]
OUTLINE_COLOR = "#b2182b"
CHILD_LINE_COLOR = "#2c5a85"
LEGEND_WIDTH_PX = 300

Bounds = list[list[float]]


@dataclass(frozen=True)
class DisplayDivision:
    """One division ready for display: escaped-safe values, 2-D CRS84 geometry."""

    code: str
    name: str
    kind: str
    level: int | None
    geometry: dict | None
    label_latlon: tuple[float, float] | None
    approximate: bool


class LocalLeafletMap(folium.Map):
    """A folium.Map that loads only Leaflet, from ``{static_prefix}/leaflet/``."""

    default_js: list[tuple[str, str]] = []
    default_css: list[tuple[str, str]] = []

    def __init__(self, *args: Any, static_prefix: str = DEFAULT_STATIC_PREFIX, **kwargs: Any):
        super().__init__(*args, **kwargs)
        # Per-instance lists: folium's add_js_link/add_css_link mutate these in place.
        self.default_js = leaflet_js_assets(static_prefix)
        self.default_css = leaflet_css_assets(static_prefix)


def leaflet_js_assets(static_prefix: str = DEFAULT_STATIC_PREFIX) -> list[tuple[str, str]]:
    """Return the (name, url) JS assets a division map needs: Leaflet alone."""
    return [("leaflet", f"{_prefix(static_prefix)}/leaflet/leaflet.js")]


def leaflet_css_assets(static_prefix: str = DEFAULT_STATIC_PREFIX) -> list[tuple[str, str]]:
    """Return the (name, url) CSS assets a division map needs: Leaflet's stylesheet."""
    return [("leaflet_css", f"{_prefix(static_prefix)}/leaflet/leaflet.css")]


def _prefix(static_prefix: str) -> str:
    return (static_prefix or "").rstrip("/")


# --- step 1: display CRS ---------------------------------------------------------------


def to_display_geometry(geometry: Mapping | None) -> dict | None:
    """Return GeoJSON ``geometry`` as 2-D CRS84 with rounded coordinates, or None."""
    if not geometry:
        return None
    geom = shape(geometry)
    if geom.is_empty:
        return None
    geom = shapely.transform(geom, lambda xy: np.round(xy, COORD_DECIMALS))
    _check_lonlat(geom.bounds)
    return json.loads(shapely.to_geojson(geom))


def _check_lonlat(bounds: Sequence[float]) -> None:
    west, south, east, north = bounds
    if not (-180 <= west <= east <= 180 and -90 <= south <= north <= 90):
        raise ValueError(f"geometry bounds {bounds} are not lon/lat (CRS84)")


def label_latlon(label_point: Mapping | None, geometry: dict | None) -> tuple[float, float] | None:
    """Return the (lat, lon) where a division's name goes, or None when nothing is known."""
    if label_point:
        point = shape(label_point)
        if point.geom_type != "Point" or point.is_empty:
            raise ValueError(f"label_point must be a GeoJSON Point, got {point.geom_type}")
        _check_lonlat(point.bounds)
        return (round(point.y, COORD_DECIMALS), round(point.x, COORD_DECIMALS))
    if geometry:
        point = shape(geometry).representative_point()
        return (round(point.y, COORD_DECIMALS), round(point.x, COORD_DECIMALS))
    return None


def to_display_division(record: Mapping) -> DisplayDivision:
    """Convert one input dict into a DisplayDivision in the display CRS."""
    geometry = to_display_geometry(record.get("geometry"))
    level = record.get("level")
    return DisplayDivision(
        code=str(record["code"]),
        name=str(record["name"]),
        kind=str(record.get("kind") or ""),
        level=int(level) if level is not None else None,
        geometry=geometry,
        label_latlon=label_latlon(record.get("label_point"), geometry),
        approximate=bool(record.get("approximate")),
    )


# --- step 2: JSON-safe properties ------------------------------------------------------


def feature_properties(division: DisplayDivision) -> dict:
    """Return JSON-safe feature properties; strings are HTML-escaped for the tooltip."""
    # folium's GeoJsonTooltip builds its table with innerHTML, so text must arrive escaped.
    return {
        "code": _esc(division.code),
        "name": _esc(division.name),
        "kind": _esc(division.kind),
        "level": division.level,
        "approximate": division.approximate,
    }


def to_feature(division: DisplayDivision) -> dict:
    """Return the GeoJSON Feature of a division that has a geometry."""
    return {
        "type": "Feature",
        "id": division.code,
        "properties": feature_properties(division),
        "geometry": division.geometry,
    }


def feature_collection(divisions: Iterable[DisplayDivision]) -> dict:
    """Return a FeatureCollection of those divisions that have a geometry."""
    features = [to_feature(d) for d in divisions if d.geometry]
    return {"type": "FeatureCollection", "features": features}


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


# --- step 3: base map fitted to bounds -------------------------------------------------


def bounds_latlon(divisions: Iterable[DisplayDivision]) -> Bounds | None:
    """Return [[south, west], [north, east]] over the divisions' geometries, or None."""
    boxes = [shape(d.geometry).bounds for d in divisions if d.geometry]
    if not boxes:
        return None
    west, south = min(b[0] for b in boxes), min(b[1] for b in boxes)
    east, north = max(b[2] for b in boxes), max(b[3] for b in boxes)
    return [[south, west], [north, east]]


def points_bounds_latlon(divisions: Iterable[DisplayDivision]) -> Bounds | None:
    """Return [[south, west], [north, east]] over the divisions' label points, or None."""
    points = [d.label_latlon for d in divisions if d.label_latlon]
    if not points:
        return None
    lats, lons = [p[0] for p in points], [p[1] for p in points]
    return [[min(lats), min(lons)], [max(lats), max(lons)]]


def map_bounds(division: DisplayDivision, children: Sequence[DisplayDivision]) -> Bounds:
    """Return the bounds to fit: the division's own, else its children's, else China's."""
    return (
        bounds_latlon([division])
        or bounds_latlon(children)
        or points_bounds_latlon([division, *children])
        or CHINA_BOUNDS_LATLON
    )


def base_map(
    bounds: Bounds,
    *,
    basemap_url: str | None,
    basemap_attribution: str,
    static_prefix: str = DEFAULT_STATIC_PREFIX,
) -> LocalLeafletMap:
    """Return a local-Leaflet map fitted to lat/lon ``bounds``, with a tile layer if any."""
    (south, west), (north, east) = bounds
    fmap = LocalLeafletMap(
        location=[(south + north) / 2, (west + east) / 2],
        zoom_start=8,
        tiles=None,
        static_prefix=static_prefix,
        control_scale=True,
    )
    if basemap_url:
        folium.TileLayer(tiles=basemap_url, attr=basemap_attribution, name="底图").add_to(fmap)
    fmap.fit_bounds(
        bounds,
        padding_top_left=(24, 24),
        padding_bottom_right=(LEGEND_WIDTH_PX + 40, 24),
        max_zoom=14,
    )
    return fmap


# --- step 4: layers --------------------------------------------------------------------


def outline_layer(division: DisplayDivision) -> folium.GeoJson:
    """Return the division's outline: thick line, light fill, its own tooltip."""
    style = {
        "color": OUTLINE_COLOR,
        "weight": 4,
        "fillColor": OUTLINE_COLOR,
        "fillOpacity": 0.03,
        "dashArray": "10 6" if division.approximate else None,
    }
    return folium.GeoJson(
        feature_collection([division]),
        name="本级边界",
        style_function=lambda _feature: style,
        tooltip=division_tooltip(),
    )


def children_layer(children: Sequence[DisplayDivision]) -> folium.GeoJson:
    """Return the children's polygons with a name/code/kind tooltip."""
    fills = {c.code: CHILD_PALETTE[i % len(CHILD_PALETTE)] for i, c in enumerate(children)}

    def style(feature: dict) -> dict:
        return {
            "color": CHILD_LINE_COLOR,
            "weight": 1.5,
            "fillColor": fills.get(feature["id"], CHILD_PALETTE[0]),
            "fillOpacity": 0.45,
            "dashArray": "5 4" if feature["properties"]["approximate"] else None,
        }

    return folium.GeoJson(
        feature_collection(children),
        name="下级区划",
        style_function=style,
        highlight_function=lambda _feature: {"weight": 3, "fillOpacity": 0.65},
        tooltip=division_tooltip(),
    )


def division_tooltip() -> folium.GeoJsonTooltip:
    """Return the tooltip showing a feature's name, code and kind."""
    return folium.GeoJsonTooltip(fields=TOOLTIP_FIELDS, aliases=TOOLTIP_ALIASES, sticky=True)


def label_html(division: DisplayDivision) -> str:
    """Return the escaped HTML of a division's permanent name label."""
    return (
        f'<div class="division-label" data-code="{_esc(division.code)}">{_esc(division.name)}</div>'
    )


def label_marker(division: DisplayDivision) -> folium.Marker:
    """Return a non-interactive DivIcon marker with the division's name at its label point."""
    icon = folium.DivIcon(
        html=label_html(division),
        icon_size=(0, 0),
        icon_anchor=(0, 0),
        class_name="division-label-icon",
    )
    return folium.Marker(
        location=list(division.label_latlon),
        icon=icon,
        interactive=False,
        keyboard=False,
    )


def labels_layer(children: Sequence[DisplayDivision]) -> folium.FeatureGroup:
    """Return a layer with a name label for every child that has a label point."""
    group = folium.FeatureGroup(name="名称标注")
    for child in children:
        if child.label_latlon:
            label_marker(child).add_to(group)
    return group


def add_layers(
    fmap: folium.Map, division: DisplayDivision, children: Sequence[DisplayDivision]
) -> None:
    """Add the outline, children and label layers that have something to show."""
    if division.geometry:
        outline_layer(division).add_to(fmap)
    if any(c.geometry for c in children):
        children_layer(children).add_to(fmap)
    if any(c.label_latlon for c in children):
        labels_layer(children).add_to(fmap)


# --- step 5: page chrome ---------------------------------------------------------------


def shows_approximate(division: DisplayDivision, children: Sequence[DisplayDivision]) -> bool:
    """Return True when any polygon on the map is an approximate demo polygon."""
    return any(d.approximate and d.geometry for d in (division, *children))


def page_title(division: DisplayDivision) -> str:
    """Return the escaped page title: name, code and kind."""
    kind = f" {division.kind}" if division.kind else ""
    return _esc(f"{division.name} ({division.code}){kind} — 行政区划图")


def legend_child_item(child: DisplayDivision) -> str:
    """Return the legend list item of one child, flagging a missing geometry."""
    missing = (
        f' <span class="division-legend__missing">{MISSING_GEOMETRY_NOTE}</span>'
        if not child.geometry
        else ""
    )
    return (
        f'<li data-code="{_esc(child.code)}"><span class="division-legend__name">'
        f"{_esc(child.name)}</span> <code>{_esc(child.code)}</code> "
        f'<span class="division-legend__kind">{_esc(child.kind)}</span>{missing}</li>'
    )


def legend_html(division: DisplayDivision, children: Sequence[DisplayDivision]) -> str:
    """Return the escaped HTML of the heading/legend box."""
    own_missing = (
        f' <span class="division-legend__missing">{MISSING_GEOMETRY_NOTE}</span>'
        if not division.geometry
        else ""
    )
    notice = (
        f'<p class="division-legend__notice" role="note">{_esc(APPROXIMATE_NOTICE)}</p>'
        if shows_approximate(division, children)
        else ""
    )
    items = "".join(legend_child_item(c) for c in children)
    return f"""
<div class="division-legend" data-code="{_esc(division.code)}">
  <h1 class="division-legend__title">{_esc(division.name)}</h1>
  <p class="division-legend__meta"><code>{_esc(division.code)}</code>
    <span class="division-legend__kind">{_esc(division.kind)}</span>{own_missing}</p>
  {notice}
  <p class="division-legend__key"><span class="swatch swatch--outline"></span>本级边界
    <span class="swatch swatch--child"></span>下级区划</p>
  <h2 class="division-legend__subtitle">下级区划 ({len(children)})</h2>
  <ul class="division-legend__children">{items}</ul>
</div>
"""


PAGE_CSS = f"""
<style>
  body, .leaflet-container {{
    font-family: system-ui, -apple-system, "Segoe UI", "PingFang SC", "Microsoft YaHei",
      "Noto Sans CJK SC", "WenQuanYi Micro Hei", sans-serif;
  }}
  .division-legend {{
    position: absolute; top: 12px; right: 12px; z-index: 1100;
    width: {LEGEND_WIDTH_PX}px; max-width: calc(100% - 80px); max-height: calc(100% - 60px);
    overflow-y: auto; box-sizing: border-box; padding: 12px 14px;
    background: rgba(255, 255, 255, 0.95); color: #222; border-radius: 6px;
    box-shadow: 0 1px 6px rgba(0, 0, 0, 0.35); font-size: 14px; line-height: 1.45;
  }}
  .division-legend h1 {{ font-size: 20px; margin: 0 0 4px; }}
  .division-legend h2 {{ font-size: 14px; margin: 10px 0 4px; color: #555; }}
  .division-legend p {{ margin: 4px 0; }}
  .division-legend code {{ font-size: 13px; color: #444; }}
  .division-legend ul {{ margin: 0; padding-left: 18px; }}
  .division-legend__kind {{ color: #666; }}
  .division-legend__missing {{ color: #a33; font-weight: 600; white-space: nowrap; }}
  .division-legend__notice {{
    background: #fff4d6; border-left: 4px solid #e0a800; padding: 4px 8px; font-size: 13px;
  }}
  .division-legend .swatch {{
    display: inline-block; width: 18px; height: 10px; margin: 0 4px 0 0;
    vertical-align: middle;
  }}
  .division-legend .swatch--outline {{ border: 3px solid {OUTLINE_COLOR}; height: 6px; }}
  .division-legend .swatch--child {{
    background: {CHILD_PALETTE[0]}; border: 1px solid {CHILD_LINE_COLOR}; margin-left: 10px;
  }}
  .division-label-icon {{ overflow: visible; }}
  .division-label {{
    position: absolute; transform: translate(-50%, -50%); white-space: nowrap;
    font-size: 13px; font-weight: 600; color: #1d2b3a; pointer-events: none;
    text-shadow: 0 0 3px #fff, 0 0 3px #fff, 0 0 2px #fff;
  }}
</style>
"""


def add_page_chrome(
    fmap: folium.Map, division: DisplayDivision, children: Sequence[DisplayDivision]
) -> None:
    """Add the page title, page styles and the legend box to the map's page."""
    figure = fmap.get_root()
    figure.title = page_title(division)
    figure.header.add_child(Element(PAGE_CSS), name="division_map_css")
    figure.html.add_child(Element(legend_html(division, children)), name="division_legend")


# --- public entry points ---------------------------------------------------------------


def build_division_map(
    division: dict,
    children: list[dict],
    *,
    basemap_url: str | None,
    basemap_attribution: str,
    static_prefix: str = DEFAULT_STATIC_PREFIX,
) -> folium.Map:
    """Build the folium map of a division with its children, labels and legend."""
    shown = to_display_division(division)
    kids = [to_display_division(c) for c in children]
    fmap = base_map(
        map_bounds(shown, kids),
        basemap_url=basemap_url,
        basemap_attribution=basemap_attribution,
        static_prefix=static_prefix,
    )
    add_layers(fmap, shown, kids)
    add_page_chrome(fmap, shown, kids)
    return fmap


def render_division_page(
    division: dict,
    children: list[dict],
    *,
    basemap_url: str | None,
    basemap_attribution: str,
    static_prefix: str = DEFAULT_STATIC_PREFIX,
) -> str:
    """Return the full HTML document of a division's map page."""
    fmap = build_division_map(
        division,
        children,
        basemap_url=basemap_url,
        basemap_attribution=basemap_attribution,
        static_prefix=static_prefix,
    )
    return fmap.get_root().render()
