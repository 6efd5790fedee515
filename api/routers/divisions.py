"""/v1/divisions: one division, children or name search, and point location."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from api.deps import CodeDep, SessionDep
from api.schemas import DivisionOut, DivisionPage, LocationOut
from boundaries import divisions
from boundaries.codes import LEVEL_NAMES, DivisionCode
from data.errors import InvalidInput

router = APIRouter(prefix="/v1/divisions", tags=["divisions"])
DEFAULT_LIMIT = 100


def _ref(ref: divisions.DivisionRef | None) -> dict | None:
    return None if ref is None else {"code": ref.code, "name": ref.name, "level": ref.level,
                                     "level_name": ref.level_name, "kind": ref.kind}


def _level(value: str | None) -> int | None:
    if value is None:
        return None
    if value.isascii() and value.isdigit() and 1 <= int(value) <= 5:
        return int(value)
    if value in LEVEL_NAMES:
        return LEVEL_NAMES[value]
    raise InvalidInput("level is 1–5 or one of " + ", ".join(LEVEL_NAMES),
                       errors=[{"field": "level", "message": f"unknown level {value!r}"}])


@router.get("/locate", response_model=LocationOut, summary="Divisions containing a point")
def locate(
    session: SessionDep,
    lon: Annotated[float, Query(ge=-180, le=180, description="longitude, CGCS2000/WGS84")],
    lat: Annotated[float, Query(ge=-90, le=90, description="latitude")],
) -> dict:
    """Province → prefecture → county containing (lon, lat); 404 outside every polygon."""
    found = divisions.locate(session, lon, lat)
    return {"lon": lon, "lat": lat, "province": _ref(found.at(1)),
            "prefecture": _ref(found.at(2)), "county": _ref(found.at(3)),
            "chain": [_ref(r) for r in found.chain]}


@router.get("/{code}", response_model=DivisionOut, summary="One division with its parent chain")
def get_division(session: SessionDep, code: CodeDep, geometry: bool = False) -> dict:
    """Name, level, kind, chain up to the province, child count; GeoJSON with ?geometry=true."""
    return divisions.get_division(session, code, geometry=geometry).as_dict()


@router.get("", response_model=DivisionPage, summary="Children of a division, or name search")
def list_divisions(
    request: Request,
    session: SessionDep,
    parent: Annotated[str | None, Query(description="code whose children to list")] = None,
    level: Annotated[str | None, Query(description="1–5 or province…village")] = None,
    q: Annotated[str | None, Query(min_length=1, max_length=50, description="in name")] = None,
    limit: Annotated[int, Query(ge=1, le=divisions.MAX_PAGE)] = DEFAULT_LIMIT,
    after: Annotated[str | None, Query(pattern=r"^\d{6,12}$", description="keyset cursor")] = None,
) -> dict:
    """With q: name search (within parent/level); else the children of parent (or provinces)."""
    parent_code = DivisionCode.parse(parent) if parent else None
    if q:
        refs = divisions.search(session, q, level=_level(level), parent=parent_code,
                                limit=limit, after=after)
    elif parent_code:
        refs = divisions.children_of(session, parent_code, limit=limit, after=after)
    else:
        refs = divisions.search(session, "", level=_level(level) or 1, limit=limit, after=after,
                                allow_empty=True)
    next_url = None
    if len(refs) == limit:
        next_url = str(request.url.include_query_params(after=refs[-1].code))
    return {"items": [_ref(r) for r in refs], "next": next_url}
