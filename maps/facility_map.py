"""Facility map page: facilities by type (clustered, with icons and popups), service rings, uncovered
residential addresses, gap villages/communities, and a legend with the division's coverage shares.

A pure builder: a FacilityMapData (the domain's Facility, FacilityType and CoverageReport objects) in,
a folium map or HTML document out. The API route gathers the data with the facility domain functions.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import folium

from facilities.model import CoverageReport, DivisionCoverage, Facility, FacilityType, Gap
from maps.division_map import (
    CHINA_BOUNDS_LATLON,
    DEFAULT_STATIC_PREFIX,
    bounds_latlon,
    outline_layer,
    to_display_division,
)
from maps.page import JsonLayer, add_panel, esc, plugin_map, swatch

STATUS_LABELS = {"planned": "规划中", "operating": "运营中", "suspended": "暂停服务", "closed": "已关闭"}
CAPACITY_LABELS = {"beds": "床位", "meal_seats": "助餐座位", "places": "服务名额"}
UNCOVERED_COLOR = "#d7191c"
GAP_COLOR = "#d7191c"
HERE_COLOR = "#222222"
MAX_GAPS_LISTED = 60
COORD_DECIMALS = 6
AROUND_DEG = 0.012  # half the box shown around a searched address (about 1.3 km)


@dataclass(frozen=True)
class FacilityMapData:
    """What the facility page shows: the division, the selected types and their facilities, the coverage
    report for them, and the uncovered residential addresses as (lon, lat)."""

    division_code: str
    division_name: str
    types: Sequence[FacilityType]
    facilities: Sequence[Facility]
    report: CoverageReport | None
    uncovered: Sequence[tuple[float, float]] = ()
    uncovered_limit: int | None = None  # the cap the uncovered list was read with
    radius_m: int | None = None  # the radius asked for; None: each type's default radius
    outline: Mapping[str, Any] | None = None  # the division as a division_map record (for its outline)
    notes: Sequence[str] = field(default_factory=tuple)


@dataclass(frozen=True)
class Here:
    """A point to centre on and mark (e.g. the address chosen on the index page)."""

    lon: float
    lat: float
    label: str


def type_glyph(facility_type: FacilityType) -> str:
    """The one character drawn in a type's icon: the first character of its name."""
    return facility_type.name[:1]


def type_icon(facility_type: FacilityType) -> str:
    """The HTML icon of a facility type (its colour and glyph)."""
    return swatch(facility_type.color, type_glyph(facility_type))


def ring_radius(facility_type: FacilityType, radius_m: int | None) -> int:
    """The service radius drawn around a facility of FACILITY_TYPE."""
    return radius_m or facility_type.default_radius_m


def capacity_text(facility: Facility) -> str:
    """The capacity of a facility in words (beds, meal seats), or 未登记."""
    parts = []
    if facility.beds is not None:
        parts.append(f"床位 {facility.beds} 张")
    if facility.meal_seats is not None:
        parts.append(f"助餐座位 {facility.meal_seats} 个")
    return ",".join(parts) or "未登记"


def facility_popup(facility: Facility, facility_type: FacilityType) -> str:
    """The escaped popup of a facility: name, type, capacity, address (with code), operator, status, opening."""
    address = esc(facility.address or "未登记")
    if facility.address_code:
        address += f'<br><code class="address-code">{esc(facility.address_code)}</code>'
    rows = [("类型", esc(facility_type.name)), ("容量", f'<span class="capacity">{esc(capacity_text(facility))}'
                                                   "</span>"),
            ("地址", address), ("运营方", esc(facility.operator or "未登记")),
            ("状态", esc(STATUS_LABELS.get(facility.status, facility.status))),
            ("开业", esc(facility.opened_on.isoformat() if facility.opened_on else "未登记")),
            ("区划", f"<code>{esc(facility.division_code)}</code>")]
    body = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows)
    return (f'<div class="map-popup facility-popup" data-facility="{esc(facility.facility_id)}">'
            f"<h3>{esc(facility.name)}</h3><dl>{body}</dl></div>")


def facility_feature(facility: Facility, facility_type: FacilityType) -> dict[str, Any]:
    """One facility as the browser layer takes it."""
    icon = (f'<span class="map-icon map-icon--pin" data-facility="{esc(facility.facility_id)}" '
            f'style="--icon-color:{esc(facility_type.color)}"><b>{esc(type_glyph(facility_type))}</b></span>')
    return {"id": facility.facility_id, "name": esc(facility.name), "lat": round(facility.lat, COORD_DECIMALS),
            "lon": round(facility.lon, COORD_DECIMALS), "icon": icon, "popup": facility_popup(facility, facility_type)}


def facilities_by_type(data: FacilityMapData) -> dict[str, list[Facility]]:
    """The facilities of each selected type, by type code (types without facilities get an empty list)."""
    grouped: dict[str, list[Facility]] = {t.code: [] for t in data.types}
    for facility in data.facilities:
        if facility.type_code in grouped:
            grouped[facility.type_code].append(facility)
    return grouped


def located_gaps(report: CoverageReport | None) -> list[Gap]:
    """The gaps that have a representative point to mark."""
    return [g for g in (report.gaps if report else ()) if g.lon is not None and g.lat is not None]


# --- bounds ---------------------------------------------------------------------------


def page_bounds(data: FacilityMapData, here: Here | None = None) -> list[list[float]]:
    """Around HERE when given; else the division's outline; else everything drawn; else China."""
    if here:
        return [[here.lat - AROUND_DEG, here.lon - AROUND_DEG], [here.lat + AROUND_DEG, here.lon + AROUND_DEG]]
    outline = _outline(data)
    if outline is not None and outline.geometry:
        return bounds_latlon([outline]) or CHINA_BOUNDS_LATLON
    points = [(f.lon, f.lat) for f in data.facilities] + list(data.uncovered)
    points += [(g.lon, g.lat) for g in located_gaps(data.report)]
    if not points:
        return CHINA_BOUNDS_LATLON
    lons, lats = [p[0] for p in points], [p[1] for p in points]
    return [[min(lats), min(lons)], [max(lats), max(lons)]]


def _outline(data: FacilityMapData):
    return to_display_division(data.outline) if data.outline else None


# --- layers ---------------------------------------------------------------------------


def type_layer(facility_type: FacilityType, facilities: Sequence[Facility], *, cluster: bool = True) -> JsonLayer:
    """One type's facilities, clustered, named in the layer control with its icon and count."""
    name = f'{type_icon(facility_type)} {esc(facility_type.name)} <span class="count">{len(facilities)}</span>'
    return JsonLayer("facilities", [facility_feature(f, facility_type) for f in facilities], name=name,
                     options={"cluster": cluster, "color": facility_type.color, "type": facility_type.code})


def rings_layer(data: FacilityMapData, by_type: Mapping[str, Sequence[Facility]]) -> JsonLayer:
    """Every facility's service ring (its type's default radius, or the radius asked for)."""
    types = {t.code: t for t in data.types}
    rings = [{"lat": round(f.lat, COORD_DECIMALS), "lon": round(f.lon, COORD_DECIMALS),
              "r": ring_radius(types[code], data.radius_m), "color": types[code].color}
             for code, facilities in by_type.items() for f in facilities]
    label = f"{data.radius_m} m" if data.radius_m else "各类型默认半径"
    return JsonLayer("rings", rings, name=f'{swatch("#3b6ea5", shape="ring")} 服务半径({esc(label)})')


def uncovered_layer(points: Sequence[tuple[float, float]]) -> JsonLayer:
    """The uncovered residential addresses as small red dots on one canvas."""
    latlons = [[round(lat, COORD_DECIMALS), round(lon, COORD_DECIMALS)] for lon, lat in points]
    return JsonLayer("points", latlons, options={"color": UNCOVERED_COLOR, "radius": 3},
                     name=f'{swatch(UNCOVERED_COLOR, shape="dot")} 未覆盖住宅地址 '
                          f'<span class="count">{len(points)}</span>')


def gap_popup(gap: Gap) -> str:
    """The escaped popup of a gap village/community."""
    nearest = f"{gap.nearest_m:.0f} m" if gap.nearest_m is not None else "无"
    population = str(gap.population) if gap.population is not None else "未载入"
    return (f'<div class="map-popup gap-popup" data-code="{esc(gap.code)}"><h3>{esc(gap.name)}</h3><dl>'
            f"<dt>代码</dt><dd><code>{esc(gap.code)}</code></dd><dt>问题</dt><dd>{esc(gap.message)}</dd>"
            f"<dt>最近设施</dt><dd>{esc(nearest)}</dd><dt>人口</dt><dd>{esc(population)}</dd></dl></div>")


def gaps_layer(gaps: Sequence[Gap]) -> JsonLayer:
    """The gap villages/communities marked with a red ring, name as tooltip, why in the popup."""
    items = [{"code": esc(g.code), "name": esc(g.name), "lat": round(g.lat, COORD_DECIMALS),
              "lon": round(g.lon, COORD_DECIMALS), "popup": gap_popup(g)} for g in gaps]
    return JsonLayer("areas", items, options={"color": GAP_COLOR},
                     name=f'{swatch(GAP_COLOR, shape="ring")} 缺口村(社区) <span class="count">{len(gaps)}</span>')


def here_layer(here: Here) -> JsonLayer:
    """The searched-for point, labelled."""
    return JsonLayer("here", {"lat": here.lat, "lon": here.lon, "label": esc(here.label),
                              "icon": swatch(HERE_COLOR, "★")}, name="所选地址", control=False)


# --- the side panel -------------------------------------------------------------------


def share_text(value: float | None) -> str:
    """A share as a percentage with one decimal, or — when not computed."""
    return "—" if value is None else f"{value * 100:.1f}%"


def population_share(total: DivisionCoverage, radius_m: int) -> float | None:
    """The population share covered within RADIUS_M, when population is loaded."""
    if not total.population or not total.population_covered or radius_m not in total.population_covered:
        return None
    return total.population_covered[radius_m] / total.population


def shares_html(report: CoverageReport | None) -> str:
    """The coverage-share table of the division (residential addresses, and population/network when known)."""
    if report is None:
        return '<p class="coverage-shares">无覆盖率数据</p>'
    total = report.total
    has_population = bool(total.population)
    head = "<tr><th>半径</th><th>住宅地址</th>" + ("<th>人口</th>" if has_population else "") + \
        ("<th>步行路网</th>" if report.network else "") + "</tr>"
    rows = []
    for radius in report.radii_m:
        cells = [f"{radius} m", f'<span class="share">{share_text(total.share(radius))}</span>'
                                f' <span class="count">{total.covered.get(radius, 0)}/{total.addresses}</span>']
        if has_population:
            cells.append(share_text(population_share(total, radius)))
        if report.network:
            cells.append(share_text(total.share(radius, network=True)))
        rows.append(f'<tr data-radius="{radius}">' + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    notes = "".join(f'<p class="map-panel__notice">{esc(n)}</p>' for n in report.notes)
    analysed = "、".join(report.type_codes)
    return (f'<h2>覆盖率({esc(report.division_name)},{report.facilities} 处设施)</h2>'
            f'<p class="coverage-types">分析类型:<code>{esc(analysed)}</code>,缺口半径 {report.radius_m} m</p>'
            f'<table class="coverage-shares">{head}{"".join(rows)}</table>{notes}')


def legend_html(data: FacilityMapData, by_type: Mapping[str, Sequence[Facility]]) -> str:
    """The legend: each selected type with its icon, count and radius; uncovered addresses; gaps."""
    rows = [f'<li data-type="{esc(t.code)}">{type_icon(t)} {esc(t.name)} '
            f'<span class="count">{len(by_type.get(t.code, ()))} 处 · {ring_radius(t, data.radius_m)} m</span></li>'
            for t in data.types]
    rows.append(f'<li data-layer="uncovered">{swatch(UNCOVERED_COLOR, shape="dot")} 未覆盖住宅地址 '
                f'<span class="count">{len(data.uncovered)}</span></li>')
    rows.append(f'<li data-layer="gaps">{swatch(GAP_COLOR, shape="ring")} 缺口村(社区)</li>')
    return f'<ul class="facility-legend">{"".join(rows)}</ul>'


def gaps_html(report: CoverageReport | None) -> str:
    """The gap list: each failing village/community with its rule's message."""
    gaps = list(report.gaps) if report else []
    items = [f'<li data-code="{esc(g.code)}"><b>{esc(g.name)}</b> <code>{esc(g.code)}</code><br>'
             f"{esc(g.message)}</li>" for g in gaps[:MAX_GAPS_LISTED]]
    more = f"<li>…另有 {len(gaps) - MAX_GAPS_LISTED} 处</li>" if len(gaps) > MAX_GAPS_LISTED else ""
    radius = f"({report.radius_m} m)" if report else ""
    return f'<h2>缺口村(社区){esc(radius)} {len(gaps)}</h2><ul class="map-panel__gaps">{"".join(items)}{more}</ul>'


def panel_html(data: FacilityMapData, by_type: Mapping[str, Sequence[Facility]], here: Here | None) -> str:
    """The heading, legend, coverage shares and gap list."""
    capped = (f'<p class="map-panel__notice">未覆盖住宅地址较多,均匀抽样显示 {data.uncovered_limit} 个</p>'
              if data.uncovered_limit and len(data.uncovered) >= data.uncovered_limit else "")
    notes = "".join(f'<p class="map-panel__notice">{esc(n)}</p>' for n in data.notes)
    where = f'<p class="here">所选地址:{esc(here.label)}</p>' if here else ""
    return (f'<div class="facility-panel" data-division="{esc(data.division_code)}">'
            f"<h1>{esc(data.division_name)} 服务设施</h1>"
            f'<p><code>{esc(data.division_code)}</code> · 共 {len(data.facilities)} 处设施</p>{where}{notes}'
            f"{legend_html(data, by_type)}{capped}{shares_html(data.report)}{gaps_html(data.report)}"
            '<p><a href="/maps">地图首页</a></p></div>')


# --- public entry points --------------------------------------------------------------


def build_facility_map(data: FacilityMapData, *, basemap_url: str | None, basemap_attribution: str,
                       static_prefix: str = DEFAULT_STATIC_PREFIX, open_facility: str | None = None,
                       here: Here | None = None, cluster: bool = True) -> folium.Map:
    """Build the folium facility map: outline, a layer per type, rings, uncovered addresses, gaps, panel."""
    fmap = plugin_map(page_bounds(data, here), basemap_url=basemap_url, basemap_attribution=basemap_attribution,
                      static_prefix=static_prefix, plugins=("markercluster", "gazetteer"))
    outline = _outline(data)
    if outline is not None and outline.geometry:
        outline_layer(outline).add_to(fmap)
    by_type = facilities_by_type(data)
    rings_layer(data, by_type).add_to(fmap)
    uncovered_layer(data.uncovered).add_to(fmap)
    gaps_layer(located_gaps(data.report)).add_to(fmap)
    for facility_type in data.types:
        type_layer(facility_type, by_type[facility_type.code], cluster=cluster).add_to(fmap)
    if here:
        here_layer(here).add_to(fmap)
    folium.LayerControl(position="topleft", collapsed=False).add_to(fmap)
    script = None
    if open_facility:
        script = f"GazetteerMaps.open({fmap.get_name()}, {_js_string(open_facility)}, 17);"
    add_panel(fmap, title=f"{data.division_name} ({data.division_code}) — 服务设施分布与覆盖",
              panel_html=panel_html(data, by_type, here), page_script=script)
    return fmap


def render_facility_page(data: FacilityMapData, *, basemap_url: str | None, basemap_attribution: str,
                         static_prefix: str = DEFAULT_STATIC_PREFIX, open_facility: str | None = None,
                         here: Here | None = None) -> str:
    """Return the full HTML document of the facility map page."""
    return build_facility_map(data, basemap_url=basemap_url, basemap_attribution=basemap_attribution,
                              static_prefix=static_prefix, open_facility=open_facility,
                              here=here).get_root().render()


def _js_string(value: str) -> str:
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e")
