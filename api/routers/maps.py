"""/maps: HTML map pages (folium)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import HTMLResponse

from api.deps import CodeDep, SessionDep, SettingsDep
from boundaries.divisions import map_features
from boundaries.reports import line_map_data
from data.errors import NotFound
from maps.boundary_map import not_found_page, render_boundary_page
from maps.division_map import render_division_page

router = APIRouter(prefix="/maps", tags=["maps"])


@router.get("/divisions/{code}", response_class=HTMLResponse, summary="Map of a division")
def division_map(session: SessionDep, settings: SettingsDep, code: CodeDep) -> HTMLResponse:
    """The division and its children, named, with tooltips, fitted to its bounds."""
    division, children = map_features(session, code)
    html = render_division_page(division, children, basemap_url=settings.basemap_url or None,
                                basemap_attribution=settings.basemap_attribution)
    return HTMLResponse(html)


@router.get("/boundaries/{line_id}", response_class=HTMLResponse, summary="Map of a boundary line and its markers",
            responses={404: {"description": "no such line (an HTML page)", "content": {"text/html": {}}}})
def boundary_map(
    session: SessionDep, settings: SettingsDep,
    line_id: Annotated[str, Path(pattern=r"^[0-9]{6,12}-[0-9]{6,12}$", examples=["330102-330105"])],
    marker: Annotated[str | None, Query(pattern=r"^[0-9A-Z]{4}[0-9]{3}[QABCDE]$",
                                        description="open this marker's popup when the page loads")] = None,
) -> HTMLResponse:
    """The line, both parties, markers coloured by status with popups, legend and last inspection's findings."""
    try:
        data = line_map_data(session, line_id)
    except NotFound:
        return HTMLResponse(not_found_page(line_id), status_code=404)
    return HTMLResponse(render_boundary_page(data, basemap_url=settings.basemap_url or None,
                                             basemap_attribution=settings.basemap_attribution, open_marker=marker))
