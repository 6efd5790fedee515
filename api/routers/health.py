"""GET /health: is the database reachable, which PostGIS, how many divisions per level."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from boundaries.codes import LEVELS

router = APIRouter(tags=["health"])

_COUNTS = """
SELECT level, count(*) AS n, count(geom) AS with_polygon
FROM divisions WHERE valid_to IS NULL GROUP BY level ORDER BY level
"""


@router.get("/health", summary="Service health and data counts")
def health(request: Request) -> JSONResponse:
    """200 with counts when the database answers, 503 otherwise."""
    try:
        with request.app.state.engine.connect() as conn:
            postgis = conn.execute(text("SELECT postgis_full_version()")).scalar_one()
            rows = conn.execute(text(_COUNTS)).all()
    except SQLAlchemyError as exc:
        body = {"status": "unavailable", "database": "unreachable", "detail": str(exc.orig)[:300]}
        return JSONResponse(body, status_code=503)
    return JSONResponse({
        "status": "ok",
        "database": "reachable",
        "postgis": postgis.split('"')[1] if '"' in postgis else postgis,
        "divisions": {LEVELS[r.level]: r.n for r in rows},
        "polygons": {LEVELS[r.level]: r.with_polygon for r in rows},
    })
