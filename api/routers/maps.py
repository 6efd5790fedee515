"""/maps: HTML map pages (folium). Every page also downloads as a standalone file (`?download=1`: every
script, stylesheet and image inlined, so it opens from disk or an e-mail)."""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import HTMLResponse

from api.deps import CodeDep, SessionDep, SettingsDep
from boundaries.codes import DivisionCode
from boundaries.divisions import get_division, map_features, map_outline
from boundaries.reports import line_map_data
from data.errors import InvalidInput, NotFound
from facilities import coverage, store, types
from maps.boundary_map import not_found_page, render_boundary_page
from maps.division_map import render_division_page
from maps.facility_map import FacilityMapData, Here, render_facility_page
from maps.index_page import render_index_page
from maps.page import attachment_name, not_found_html, standalone
from maps.placename_map import PlacenameMapData, render_placename_page
from placenames.categories import get_category
from placenames.map_data import names_for_map

router = APIRouter(prefix="/maps", tags=["maps"])

DEMO_DIVISION = "330100"
MAX_UNCOVERED = 5000
# With no type asked the page shows every type, but coverage across all of them at the largest default
# radius (a cemetery's 5 km) says nothing; the plans' headline target is the meal point (助餐点).
DEFAULT_COVERAGE_TYPES = ["MEAL_POINT"]
MAX_NAMES = 5000
HTML_404 = {404: {"description": "no such division, line or name (an HTML page)", "content": {"text/html": {}}}}
Download = Annotated[bool, Query(description="download a standalone HTML file (every asset inlined)")]
DivisionQuery = Annotated[str, Query(pattern=r"^\d{6}(\d{3}){0,2}$", description="division code (6, 9 or 12 digits)",
                                     examples=["330100"])]


def page_response(html: str, download: bool, stem: str, status_code: int = 200) -> HTMLResponse:
    """The page, or with DOWNLOAD the standalone file offered as STEM.html."""
    if not download:
        return HTMLResponse(html, status_code=status_code)
    return HTMLResponse(standalone(html), status_code=status_code,
                        headers={"Content-Disposition": attachment_name(stem)})


@router.get("", response_class=HTMLResponse, summary="Map index: search and demo maps")
def map_index() -> HTMLResponse:
    """A search box (addresses, place names, divisions) that opens the right map page, and demo links."""
    return HTMLResponse(render_index_page())


@router.get("/divisions/{code}", response_class=HTMLResponse, summary="Map of a division")
def division_map(session: SessionDep, settings: SettingsDep, code: CodeDep, download: Download = False
                 ) -> HTMLResponse:
    """The division and its children, named, with tooltips, fitted to its bounds."""
    division, children = map_features(session, code)
    html = render_division_page(division, children, basemap_url=settings.basemap_url or None,
                                basemap_attribution=settings.basemap_attribution)
    return page_response(html, download, f"division-{code.value}")


@router.get("/boundaries/{line_id}", response_class=HTMLResponse, summary="Map of a boundary line and its markers",
            responses=HTML_404)
def boundary_map(
    session: SessionDep, settings: SettingsDep,
    line_id: Annotated[str, Path(pattern=r"^[0-9]{6,12}-[0-9]{6,12}$", examples=["330102-330105"])],
    marker: Annotated[str | None, Query(pattern=r"^[0-9A-Z]{4}[0-9]{3}[QABCDE]$",
                                        description="open this marker's popup when the page loads")] = None,
    download: Download = False,
) -> HTMLResponse:
    """The line, both parties, markers coloured by status with popups, legend and last inspection's findings."""
    try:
        data = line_map_data(session, line_id)
    except NotFound:
        return HTMLResponse(not_found_page(line_id), status_code=404)
    return page_response(render_boundary_page(data, basemap_url=settings.basemap_url or None,
                                              basemap_attribution=settings.basemap_attribution, open_marker=marker),
                         download, f"boundary-{line_id}")


def parse_at(value: str | None) -> tuple[float, float] | None:
    """'lon,lat' → a point inside China's lon/lat box, or InvalidInput."""
    if not value:
        return None
    try:
        lon, lat = (float(p) for p in value.split(","))
    except ValueError:
        lon = lat = math.nan
    if not (73 <= lon <= 136 and 3 <= lat <= 54):
        raise InvalidInput("at must be lon,lat inside China (CGCS2000)",
                           errors=[{"field": "at", "message": f"got {value!r}"}])
    return lon, lat


def facility_map_data(session: SessionDep, division: str, type_codes: list[str], radius: int | None
                      ) -> FacilityMapData:
    """The facility page's data from the facility domain functions (the ones the API serves)."""
    selected = types.check_type_codes(session, type_codes)
    outline = map_outline(session, DivisionCode.parse(division))
    codes = [t.code for t in selected]
    analysed = codes if type_codes else DEFAULT_COVERAGE_TYPES
    report = coverage.coverage_report(session, division, analysed, radius)  # radius None: the types' largest default
    uncovered = coverage.uncovered_points(session, division, analysed, report.radius_m, limit=MAX_UNCOVERED)
    return FacilityMapData(
        division_code=division, division_name=outline["name"], types=selected,
        facilities=store.list_facilities(session, division, codes), report=report,
        uncovered=uncovered, uncovered_limit=MAX_UNCOVERED, radius_m=radius,
        outline=outline)


@router.get("/facilities", response_class=HTMLResponse, summary="Map of service facilities and their coverage",
            responses=HTML_404)
def facility_map(
    session: SessionDep, settings: SettingsDep,
    division: DivisionQuery = DEMO_DIVISION,
    type: Annotated[list[str] | None, Query(description="facility type code (repeatable; default all)",
                                            max_length=40)] = None,
    radius: Annotated[int | None, Query(ge=50, le=5000, description="service radius in metres "
                                                                      "(default: each type's own)")] = None,
    facility: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_.:-]{1,64}$",
                                          description="open this facility's popup")] = None,
    at: Annotated[str | None, Query(max_length=40, description="centre on lon,lat and mark it")] = None,
    label: Annotated[str | None, Query(max_length=200, description="the label of the `at` point")] = None,
    download: Download = False,
) -> HTMLResponse:
    """Facilities by type (clustered, icons, popups), service rings, uncovered residential addresses, gap
    villages/communities and the coverage shares (300/500/1000 m) of the division."""
    point = parse_at(at)
    try:
        data = facility_map_data(session, division, type or [], radius)
    except NotFound:
        return HTMLResponse(not_found_html("区划不存在", f"没有现行区划 {division}"), status_code=404)
    here = Here(point[0], point[1], label or "所选位置") if point else None
    html = render_facility_page(data, basemap_url=settings.basemap_url or None,
                                basemap_attribution=settings.basemap_attribution, open_facility=facility, here=here)
    return page_response(html, download, f"facilities-{division}")


@router.get("/placenames", response_class=HTMLResponse, summary="Map of the standard names of a division",
            responses=HTML_404)
def placename_map(
    session: SessionDep, settings: SettingsDep,
    division: DivisionQuery = DEMO_DIVISION,
    category: Annotated[str | None, Query(max_length=20, description="class or sub-class code or name")] = None,
    focus: Annotated[int | None, Query(ge=1, le=2**62, description="open this name's popup (its id)")] = None,
    download: Download = False,
) -> HTMLResponse:
    """Current standard names with a geometry, a layer per category, labelled with their romanization."""
    wanted = get_category(category) if category else None
    code = DivisionCode.parse(division)
    try:
        view = get_division(session, code)
    except NotFound:
        return HTMLResponse(not_found_html("区划不存在", f"没有现行区划 {division}"), status_code=404)
    names, total = names_for_map(session, code, category=wanted, limit=MAX_NAMES, focus=focus)
    data = PlacenameMapData(division_code=view.code, division_name=view.name, names=names, total=total,
                            limit=MAX_NAMES, category=f"{wanted.name}({wanted.code})" if wanted else None)
    html = render_placename_page(data, basemap_url=settings.basemap_url or None,
                                 basemap_attribution=settings.basemap_attribution, focus=focus)
    return page_response(html, download, f"placenames-{division}")
