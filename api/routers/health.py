"""GET /health: is the database reachable, which PostGIS, how many divisions per level."""

from __future__ import annotations

import threading
import time

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from boundaries.codes import LEVELS

router = APIRouter(tags=["health"])
COUNTS_SECONDS = 60.0
_refreshing = threading.Lock()  # the counts change only on imports; monitoring may poll every second

_COUNTS = """
SELECT level, count(*) AS n, count(geom) AS with_polygon
FROM divisions WHERE valid_to IS NULL GROUP BY level ORDER BY level
"""


@router.get("/health", summary="Service health and data counts")
def health(request: Request) -> JSONResponse:
    """200 with counts when the database answers, 503 otherwise."""
    try:
        with request.app.state.engine.connect() as conn:
            postgis, rows = _cached(request, conn)
    except SQLAlchemyError as exc:
        body = {"status": "unavailable", "database": "unreachable", "detail": str(exc.orig)[:300]}
        return JSONResponse(body, status_code=503)
    return JSONResponse({
        "status": "ok",
        "counts_age_seconds": round(time.monotonic() - request.app.state.health_cache[0], 1),
        "database": "reachable",
        "postgis": postgis.split('"')[1] if '"' in postgis else postgis,
        "divisions": {LEVELS[r.level]: r.n for r in rows},
        "polygons": {LEVELS[r.level]: r.with_polygon for r in rows},
    })


def _cached(request: Request, conn) -> tuple[str, list]:
    """PostGIS version and division counts, read at most once a minute; the database is still
    asked something on every call, so an unreachable database shows at once. One caller refreshes
    stale counts while the others answer with the previous ones; only the very first calls wait."""
    cached = getattr(request.app.state, "health_cache", None)
    if not _fresh(cached) and _refreshing.acquire(blocking=cached is None):
        try:
            cached = getattr(request.app.state, "health_cache", None)
            if not _fresh(cached):
                postgis = conn.execute(text("SELECT postgis_full_version()")).scalar_one()
                cached = (time.monotonic(), postgis, conn.execute(text(_COUNTS)).all())
                request.app.state.health_cache = cached
                return cached[1], cached[2]
        finally:
            _refreshing.release()
    conn.execute(text("SELECT 1"))
    return cached[1], cached[2]


def _fresh(cached) -> bool:
    return bool(cached) and time.monotonic() - cached[0] < COUNTS_SECONDS
