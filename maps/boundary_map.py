"""Boundary line map page: the line, both parties' outlines, its markers coloured by status with popups,
a legend and a panel with the last joint inspection's findings, on local Leaflet.

Built like the division map, by small steps over plain dicts (no database, no web framework): the
dict from `boundaries.reports.line_map_data` → display geometries → base map fitted to the line →
layers (parties, line, markers) → page chrome (title, styles, legend and findings panel).

Markers are drawn by one small script over a JSON array (folium's Popup needs jQuery, which the page
does not load, and a folium element per marker is slow to render). `open_marker` opens one marker's
popup when the page loads (a link from a register row or a repair task can point at its marker).
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

import folium
from branca.element import Element, MacroElement
from folium.template import Template
from shapely.geometry import shape

from boundaries.reports import LINE_COLOR, PARTY_FILLS, PARTY_STROKES, STATUS_COLORS, TASK_LABELS
from maps.division_map import (
    CHINA_BOUNDS_LATLON,
    DEFAULT_STATIC_PREFIX,
    LEGEND_WIDTH_PX,
    base_map,
    to_display_geometry,
)

MAX_PHOTOS = 3
MARKER_RADIUS_PX = 7
UNKNOWN_COLOR = "#9e9e9e"
STATUS_CLASSES = {"完好": "intact", "损坏": "damaged", "丢失": "lost", "移位": "displaced"}  # CSS-friendly names
APPROXIMATE_LINE_NOTICE = "界线为近似示意(由近似区划面推得),不是法定界线详图"
LEVEL_LABELS = {"province": "省级", "county": "县级", "township": "乡级"}
KIND_LABELS = {"routine": "例行联检", "ad_hoc": "专项联检"}
STATE_LABELS = {"planned": "计划中", "in_progress": "进行中", "completed": "已完成", "cancelled": "已取消"}


def _esc(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def marker_color(status: str | None) -> str:
    """The colour of a marker status (the same as the report's)."""
    return STATUS_COLORS.get(status or "", UNKNOWN_COLOR)


# --- step 1: display geometries and bounds --------------------------------------------


def display_data(data: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of the map data with 2-D, rounded CRS84 geometries (None where there is none)."""
    shown = dict(data)
    shown["line"] = dict(data["line"]) | {"geometry": to_display_geometry(data["line"].get("geometry"))}
    shown["parties"] = [dict(p) | {"geometry": to_display_geometry(p.get("geometry"))} for p in data["parties"]]
    return shown


def line_bounds(data: Mapping[str, Any]) -> list[list[float]]:
    """[[south, west], [north, east]] of the line and its markers (China's if there is neither)."""
    boxes = [shape(data["line"]["geometry"]).bounds] if data["line"].get("geometry") else []
    boxes += [(m["lon"], m["lat"], m["lon"], m["lat"]) for m in data["markers"]]
    if not boxes:
        return CHINA_BOUNDS_LATLON
    west, south = min(b[0] for b in boxes), min(b[1] for b in boxes)
    east, north = max(b[2] for b in boxes), max(b[3] for b in boxes)
    return [[south, west], [north, east]]


# --- step 2: layers -------------------------------------------------------------------


def parties_layer(parties: Sequence[Mapping[str, Any]]) -> folium.FeatureGroup:
    """Both parties' outlines, lightly filled, each with its name as tooltip."""
    group = folium.FeatureGroup(name="双方区划")
    for index, party in enumerate(parties):
        if not party.get("geometry"):
            continue
        style = {"color": PARTY_STROKES[index % 2], "weight": 1.5, "dashArray": "5 4",
                 "fillColor": PARTY_FILLS[index % 2], "fillOpacity": 0.35}
        folium.GeoJson({"type": "Feature", "properties": {"name": _esc(party["name"]), "code": _esc(party["code"])},
                        "geometry": party["geometry"]}, style_function=lambda _f, s=style: s,
                       tooltip=folium.GeoJsonTooltip(fields=["name", "code"], aliases=["区划", "代码"])).add_to(group)
    return group


def line_layer(line: Mapping[str, Any]) -> folium.GeoJson:
    """The boundary line, thick, dashed when approximate."""
    style = {"color": LINE_COLOR, "weight": 4, "opacity": 0.9,
             "dashArray": "10 6" if line.get("approximate") else None}
    return folium.GeoJson({"type": "Feature", "properties": {"name": _esc(line["name"])},
                           "geometry": line["geometry"]}, name="界线", style_function=lambda _f: style,
                          tooltip=folium.GeoJsonTooltip(fields=["name"], aliases=["界线"]))


def finding_html(finding: Mapping[str, Any] | None) -> str:
    """The escaped text of a marker's last finding."""
    if not finding:
        return "尚无检查记录"
    what = f"第{finding['round']}轮联检" if finding.get("round") else KIND_LABELS.get(finding.get("kind"), "检查")
    moved = (f",位移 {float(finding['displacement_m']):.2f} m" if finding.get("displacement_m") is not None else "")
    notes = f",{_esc(finding['notes'])}" if finding.get("notes") else ""
    return f"{_esc(finding.get('checked_on'))} {_esc(what)}:{_esc(finding.get('status'))}{moved}{notes}"


def popup_html(marker: Mapping[str, Any]) -> str:
    """The escaped popup of a marker: number, type, status, managing party, last finding, up to 3 photos."""
    photos = "".join(f'<img src="/v1/attachments/{_esc(sha)}" alt="界桩照片" loading="lazy">'
                     for sha in list(marker.get("photos") or [])[:MAX_PHOTOS])
    return (f'<div class="marker-popup" data-number="{_esc(marker["number"])}">'
            f'<h3>{_esc(marker["number"])}</h3><dl>'
            f'<dt>类型</dt><dd>{_esc(marker["type"])}({_esc(marker.get("type_code"))})</dd>'
            f'<dt>状态</dt><dd class="marker-popup__status" style="color:{marker_color(marker.get("status"))}">'
            f'{_esc(marker.get("status"))}</dd>'
            f'<dt>管护方</dt><dd>{_esc(marker.get("managing_name"))}({_esc(marker.get("managing_party"))})</dd>'
            f'<dt>最近检查</dt><dd class="marker-popup__finding">{finding_html(marker.get("last_finding"))}</dd></dl>'
            + (f'<div class="marker-popup__photos">{photos}</div>' if photos else "") + "</div>")


class MarkerLayer(MacroElement):
    """All markers as Leaflet circle markers from one JSON array: coloured by status, the number as tooltip,
    an HTML popup each (one template for the layer: a folium element per marker costs ~2 ms to render)."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = L.featureGroup().addTo({{ this._parent.get_name() }});
        (function (group, markers, openNumber) {
            markers.forEach(function (m) {
                var circle = L.circleMarker([m.lat, m.lon], {
                    radius: {{ this.radius }}, color: "#ffffff", weight: 1.5, fill: true, fillColor: m.color,
                    fillOpacity: 0.95, className: m.className});
                circle.bindTooltip(m.number, {sticky: true});
                circle.bindPopup(m.popup, {maxWidth: 320});
                circle.addTo(group);
                if (m.number === openNumber) { circle.openPopup(); }
            });
        })({{ this.get_name() }}, {{ this.markers|tojson }}, {{ this.open|tojson }});
        {% endmacro %}
    """)

    def __init__(self, markers: Sequence[Mapping[str, Any]], open_marker: str | None = None):
        super().__init__()
        self._name = "MarkerLayer"
        self.radius = MARKER_RADIUS_PX
        self.open = open_marker
        self.markers = [marker_feature(m) for m in markers]


def marker_feature(marker: Mapping[str, Any]) -> dict[str, Any]:
    """One marker as the layer's script takes it: position, colour, CSS classes, tooltip and popup HTML."""
    status = marker.get("status") or ""
    return {"number": _esc(marker["number"]), "lat": round(float(marker["lat"]), 7),
            "lon": round(float(marker["lon"]), 7), "color": marker_color(status),
            "className": f"boundary-marker boundary-marker--{STATUS_CLASSES.get(status, 'unknown')} "
                         f"marker-{_esc(marker['number'])}",
            "popup": popup_html(marker)}


def marker_layer(markers: Sequence[Mapping[str, Any]], open_marker: str | None = None) -> MarkerLayer:
    """The markers layer (see MarkerLayer)."""
    return MarkerLayer(markers, open_marker)


# --- step 3: page chrome --------------------------------------------------------------


def legend_html(markers: Sequence[Mapping[str, Any]], parties: Sequence[Mapping[str, Any]]) -> str:
    """The legend: the line, the parties and every status with its count on the line."""
    counts = {s: sum(1 for m in markers if m.get("status") == s) for s in STATUS_COLORS}
    rows = [f'<li><span class="swatch swatch--line" style="border-color:{LINE_COLOR}"></span>界线</li>']
    rows += [f'<li><span class="swatch swatch--party" style="background:{PARTY_FILLS[i % 2]};'
             f'border-color:{PARTY_STROKES[i % 2]}"></span>{_esc(p["name"])} <code>{_esc(p["code"])}</code></li>'
             for i, p in enumerate(parties)]
    rows += [f'<li data-status="{_esc(s)}"><span class="swatch swatch--marker" style="background:{c}"></span>'
             f'{_esc(s)} <span class="count">{counts[s]}</span></li>' for s, c in STATUS_COLORS.items()]
    return f'<ul class="line-legend">{"".join(rows)}</ul>'


def inspection_html(data: Mapping[str, Any]) -> str:
    """The findings panel: the last completed inspection, any unfinished one, the open repair tasks."""
    last, current = data.get("last_inspection"), data.get("open_inspection")
    parts = ['<section class="line-panel__inspection"><h2>最近一次联检</h2>']
    if last:
        what = f"第{last['round']}轮" if last.get("round") else KIND_LABELS.get(last.get("kind"), "")
        counts = ";".join(f"{_esc(s)} {n}" for s, n in (last.get("counts") or {}).items()) or "无界桩记录"
        parts.append(f'<p class="last-inspection" data-inspection="{_esc(last["id"])}">{_esc(last["completed_on"])} '
                     f'{_esc(what)}<br>界桩:{counts}</p>')
    else:
        parts.append('<p class="last-inspection">尚无完成的联检</p>')
    if current:
        what = f"第{current['round']}轮" if current.get("round") else KIND_LABELS.get(current.get("kind"), "")
        parts.append(f'<p class="open-inspection">{_esc(what)}{_esc(STATE_LABELS.get(current["state"], ""))}'
                     f'(计划 {_esc(current.get("planned_start") or "—")})</p>')
    repairs = data.get("open_repairs") or []
    parts.append(f'<h2>待修复界桩 ({len(repairs)})</h2><ul class="open-repairs">')
    parts += [f'<li data-task="{_esc(t["id"])}"><code>{_esc(t["marker"])}</code> {_esc(t["found_status"])},'
              f'{_esc(t["assigned_name"])}负责({_esc(TASK_LABELS["open"])})</li>' for t in repairs]
    parts.append("</ul></section>")
    return "".join(parts)


def panel_html(data: Mapping[str, Any]) -> str:
    """The heading, legend and findings panel box."""
    line = data["line"]
    notice = (f'<p class="line-panel__notice" role="note">{_esc(APPROXIMATE_LINE_NOTICE)}</p>'
              if line.get("approximate") else "")
    meta = (f'<code>{_esc(line["line_id"])}</code> 编号 <code>{_esc(line["line_number"])}</code> '
            f'{_esc(LEVEL_LABELS.get(line["level"], line["level"]))} 长约 {float(line["length_m"]) / 1000:.2f} km'
            f'<br>上次联检:{_esc(line.get("last_inspection") or "无")}')
    return (f'<div class="line-panel" data-line="{_esc(line["line_id"])}"><h1>{_esc(line["name"])}</h1>'
            f'<p class="line-panel__meta">{meta}</p>{notice}'
            f'{legend_html(data["markers"], data["parties"])}{inspection_html(data)}</div>')


PAGE_CSS = f"""
<style>
  body, .leaflet-container {{
    font-family: system-ui, -apple-system, "Segoe UI", "PingFang SC", "Microsoft YaHei",
      "Noto Sans CJK SC", "WenQuanYi Micro Hei", sans-serif;
  }}
  .line-panel {{
    position: absolute; top: 12px; right: 12px; z-index: 1100;
    width: {LEGEND_WIDTH_PX}px; max-width: calc(100% - 80px); max-height: calc(100% - 60px);
    overflow-y: auto; box-sizing: border-box; padding: 12px 14px;
    background: rgba(255, 255, 255, 0.95); color: #222; border-radius: 6px;
    box-shadow: 0 1px 6px rgba(0, 0, 0, 0.35); font-size: 14px; line-height: 1.45;
  }}
  .line-panel h1 {{ font-size: 19px; margin: 0 0 4px; }}
  .line-panel h2 {{ font-size: 14px; margin: 10px 0 4px; color: #555; }}
  .line-panel p {{ margin: 4px 0; }}
  .line-panel ul {{ margin: 0; padding-left: 0; list-style: none; }}
  .line-panel code {{ font-size: 13px; color: #444; }}
  .line-panel__notice {{ background: #fff4d6; border-left: 4px solid #e0a800; padding: 4px 8px; font-size: 13px; }}
  .swatch {{ display: inline-block; width: 16px; height: 10px; margin-right: 6px; vertical-align: middle; }}
  .swatch--line {{ border-top: 4px solid; height: 0; }}
  .swatch--party {{ border: 1px dashed; }}
  .swatch--marker {{ width: 12px; height: 12px; border-radius: 50%; border: 1px solid #fff;
                     box-shadow: 0 0 0 1px #888; }}
  .line-legend .count {{ color: #666; }}
  .marker-popup h3 {{ margin: 0 0 4px; font-size: 15px; }}
  .marker-popup dl {{ display: grid; grid-template-columns: auto 1fr; gap: 2px 8px; margin: 0; }}
  .marker-popup dt {{ color: #666; }}
  .marker-popup dd {{ margin: 0; }}
  .marker-popup__status {{ font-weight: 600; }}
  .marker-popup__photos img {{ width: 88px; height: 66px; object-fit: cover; margin: 4px 4px 0 0; }}
</style>
"""


def add_page_chrome(fmap: folium.Map, data: Mapping[str, Any]) -> None:
    """Add the page title, page styles and the legend/findings panel."""
    figure = fmap.get_root()
    figure.title = _esc(f"{data['line']['name']} ({data['line']['line_id']}) — 界线与界桩")
    figure.header.add_child(Element(PAGE_CSS), name="boundary_map_css")
    figure.html.add_child(Element(panel_html(data)), name="boundary_panel")


# --- public entry points --------------------------------------------------------------


def build_boundary_map(data: Mapping[str, Any], *, basemap_url: str | None, basemap_attribution: str,
                       static_prefix: str = DEFAULT_STATIC_PREFIX, open_marker: str | None = None) -> folium.Map:
    """Build the folium map of a boundary line with its parties, markers, legend and findings panel."""
    shown = display_data(data)
    fmap = base_map(line_bounds(shown), basemap_url=basemap_url, basemap_attribution=basemap_attribution,
                    static_prefix=static_prefix)
    if any(p.get("geometry") for p in shown["parties"]):
        parties_layer(shown["parties"]).add_to(fmap)
    if shown["line"].get("geometry"):
        line_layer(shown["line"]).add_to(fmap)
    if shown["markers"]:
        marker_layer(shown["markers"], open_marker).add_to(fmap)
    add_page_chrome(fmap, shown)
    return fmap


def render_boundary_page(data: Mapping[str, Any], *, basemap_url: str | None, basemap_attribution: str,
                         static_prefix: str = DEFAULT_STATIC_PREFIX, open_marker: str | None = None) -> str:
    """Return the full HTML document of a boundary line's map page."""
    return build_boundary_map(data, basemap_url=basemap_url, basemap_attribution=basemap_attribution,
                              static_prefix=static_prefix, open_marker=open_marker).get_root().render()


def not_found_page(line_id: str) -> str:
    """A small HTML page for a line that does not exist."""
    safe = _esc(line_id)
    return ("<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>界线不存在</title></head>"
            f"<body><h1>界线 {safe} 不存在</h1><p>No current boundary line {safe}. Line ids are the two parties' "
            "codes, smaller first (e.g. 330102-330105).</p></body></html>")
