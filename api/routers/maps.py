"""/maps: HTML map pages (folium)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from api.deps import CodeDep, SessionDep, SettingsDep
from boundaries.divisions import map_features
from maps.division_map import render_division_page

router = APIRouter(prefix="/maps", tags=["maps"])


@router.get("/divisions/{code}", response_class=HTMLResponse, summary="Map of a division")
def division_map(session: SessionDep, settings: SettingsDep, code: CodeDep) -> HTMLResponse:
    """The division and its children, named, with tooltips, fitted to its bounds."""
    division, children = map_features(session, code)
    html = render_division_page(division, children, basemap_url=settings.basemap_url or None,
                                basemap_attribution=settings.basemap_attribution)
    return HTMLResponse(html)
