"""Place-name map page: the standard names of a division, a layer per category; points clustered and
labelled with name and romanization, lines and polygons drawn as GeoJSON; popups with 专名/通名/category/
romanization/meaning; a legend by category. A pure builder: MapName rows in, HTML out.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import folium
import shapely

from maps.division_map import CHINA_BOUNDS_LATLON, DEFAULT_STATIC_PREFIX
from maps.page import JsonLayer, add_panel, esc, plugin_map, swatch
from placenames.map_data import MapName

PALETTE = ["#1f78b4", "#33a02c", "#e31a1c", "#ff7f00", "#6a3d9a", "#b15928", "#a6cee3", "#b2df8a",
           "#fb9a99", "#fdbf6f", "#cab2d6", "#8c8c00"]
COORD_DECIMALS = 6


@dataclass(frozen=True)
class PlacenameMapData:
    """The names to draw, the division they are in, how many there are in all and the cap applied."""

    division_code: str
    division_name: str
    names: Sequence[MapName]
    total: int
    limit: int
    category: str | None = None  # the category filter asked for (code and name), if any


def categories(names: Sequence[MapName]) -> list[tuple[str, str]]:
    """The (code, name) of each category present, in code order."""
    return sorted({(n.category, n.category_name) for n in names})


def category_colors(names: Sequence[MapName]) -> dict[str, str]:
    """A palette colour per category present."""
    return {code: PALETTE[i % len(PALETTE)] for i, (code, _) in enumerate(categories(names))}


def name_popup(name: MapName) -> str:
    """The escaped popup of a name: 专名, 通名, category, romanization, meaning, division code."""
    rows = [("专名", name.specific), ("通名", name.generic or "—"),
            ("类别", f"{name.category_name}({name.category})"), ("罗马字母拼写", name.romanization or "—"),
            ("含义", name.meaning or "未登记"), ("区划", name.division_code or "—")]
    body = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in rows)
    return (f'<div class="map-popup placename-popup" data-name="{name.id}"><h3>{esc(name.name)}</h3>'
            f"<dl>{body}</dl></div>")


def name_feature(name: MapName, color: str) -> dict:
    """One name as the browser layer takes it: a labelled point, or a GeoJSON geometry."""
    roman = f"<i>{esc(name.romanization)}</i>" if name.romanization else ""
    tip = esc(f"{name.name} {name.romanization or ''}".strip())
    item = {"id": str(name.id), "name": esc(name.name), "tip": tip, "popup": name_popup(name)}
    geometry = name.geometry
    if geometry["type"] == "Point":
        lon, lat = geometry["coordinates"][:2]
        item |= {"lat": round(lat, COORD_DECIMALS), "lon": round(lon, COORD_DECIMALS),
                 "label": f'<span class="map-icon map-icon--dot" data-name="{name.id}" '
                          f'style="--icon-color:{esc(color)}"></span>'
                          f'<span class="placename-label">{esc(name.name)}{roman}</span>'}
    else:
        item["geometry"] = geometry
    return item


def page_bounds(names: Sequence[MapName]) -> list[list[float]]:
    """The bounds of every name drawn (China when there is none)."""
    if not names:
        return CHINA_BOUNDS_LATLON
    west, south, east, north = shapely.total_bounds(shapely.from_geojson([json.dumps(n.geometry) for n in names]))
    if west == east and south == north:
        west, south, east, north = west - 0.01, south - 0.01, east + 0.01, north + 0.01
    return [[float(south), float(west)], [float(north), float(east)]]


def category_layer(code: str, label: str, names: Sequence[MapName], color: str) -> JsonLayer:
    """One category's names, points clustered; named in the layer control with its colour and count."""
    kind = "line" if all(n.geometry["type"] != "Point" for n in names) else "dot"
    return JsonLayer("placenames", [name_feature(n, color) for n in names],
                     name=f'{swatch(color, shape=kind)} {esc(label)} <span class="count">{len(names)}</span>',
                     options={"cluster": True, "color": color, "category": code})


def panel_html(data: PlacenameMapData, colors: dict[str, str]) -> str:
    """Heading, the cap notice, and the legend by category with counts."""
    counts: dict[str, int] = {}
    for n in data.names:
        counts[n.category] = counts.get(n.category, 0) + 1
    rows = "".join(f'<li data-category="{esc(code)}">{swatch(colors[code], shape="dot")} {esc(label)} '
                   f'<code>{esc(code)}</code> <span class="count">{counts[code]}</span></li>'
                   for code, label in categories(data.names))
    capped = (f'<p class="map-panel__notice capped">共 {data.total} 条,只显示前 {len(data.names)} 条'
              f"(上限 {data.limit})</p>" if data.total > len(data.names) else "")
    empty = '<p class="map-panel__notice">此区划内没有带坐标的标准地名</p>' if not data.names else ""
    filtered = f"<p>类别筛选:{esc(data.category)}</p>" if data.category else ""
    return (f'<div class="placename-panel" data-division="{esc(data.division_code)}">'
            f"<h1>{esc(data.division_name)} 标准地名</h1>"
            f"<p><code>{esc(data.division_code)}</code> · {len(data.names)} 条带坐标的标准地名</p>"
            f'{filtered}{capped}{empty}<ul class="placename-legend">{rows}</ul>'
            '<p><a href="/maps">地图首页</a></p></div>')


def build_placename_map(data: PlacenameMapData, *, basemap_url: str | None, basemap_attribution: str,
                        static_prefix: str = DEFAULT_STATIC_PREFIX, focus: int | None = None) -> folium.Map:
    """Build the folium place-name map: a layer per category, the legend panel, FOCUS's popup open."""
    fmap = plugin_map(page_bounds(data.names), basemap_url=basemap_url, basemap_attribution=basemap_attribution,
                      static_prefix=static_prefix, plugins=("markercluster", "gazetteer"))
    colors = category_colors(data.names)
    for code, label in categories(data.names):
        category_layer(code, label, [n for n in data.names if n.category == code], colors[code]).add_to(fmap)
    folium.LayerControl(position="topleft", collapsed=False).add_to(fmap)
    script = f'GazetteerMaps.open({fmap.get_name()}, "{int(focus)}", 17);' if focus is not None else None
    add_panel(fmap, title=f"{data.division_name} ({data.division_code}) — 标准地名",
              panel_html=panel_html(data, colors), page_script=script)
    return fmap


def render_placename_page(data: PlacenameMapData, *, basemap_url: str | None, basemap_attribution: str,
                          static_prefix: str = DEFAULT_STATIC_PREFIX, focus: int | None = None) -> str:
    """Return the full HTML document of the place-name map page."""
    return build_placename_map(data, basemap_url=basemap_url, basemap_attribution=basemap_attribution,
                               static_prefix=static_prefix, focus=focus).get_root().render()
