"""The FastAPI application: create_app + lifespan (engine created once, disposed on shutdown)."""

from __future__ import annotations

import secrets
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine

from api import errors, quota
from api.guards import no_nul_characters
from api.routers import (
    address_plates,
    addresses,
    apikeys,
    applications,
    auth,
    boundary_lines,
    divisions,
    facilities,
    health,
    inspections,
    landing,
    maps,
    ogc,
    placenames,
    protection,
    signs,
    surveys,
    tiles,
)
from data.db import make_engine
from data.settings import Settings, get_settings
from maps.tile_cache import MemoryTiles
from placenames.rules import use_extra_wordlists

STATIC = Path(__file__).resolve().parent.parent / "maps" / "static"


def ensure_secret(settings: Settings) -> Settings:
    """Use the configured token secret, or one generated once and kept in the home folder."""
    if settings.secret_key:
        return settings
    path = settings.home / "secret-key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return settings.model_copy(update={"secret_key": path.read_text().strip()})


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    """Build the app; pass ENGINE to reuse one (tests), else it is made at start-up."""
    settings = ensure_secret(settings or get_settings())
    use_extra_wordlists(settings.wordlists_dir)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        own = engine is None
        app.state.engine = engine or make_engine(settings)
        # Read-only lookups skip the per-checkout ping (a round trip on every request); a dropped
        # connection fails one request and the pool reconnects on the next.
        app.state.reader = engine or make_engine(settings, pool_pre_ping=False)
        yield
        quota.shutdown(app)
        if own:
            app.state.engine.dispose()
            app.state.reader.dispose()

    app = FastAPI(
        title="gazetteer",
        version="0.1.0",
        description="区划地名 service: divisions, place names, addresses, boundaries, maps.",
        openapi_url="/api",
        docs_url="/docs",
        redoc_url=None,
        lifespan=lifespan,
        dependencies=[Depends(no_nul_characters)],
    )
    app.state.settings = settings
    app.state.tile_memory = MemoryTiles(settings.tile_memory_mb * 2**20, settings.tile_memory_sync_seconds)
    if engine is not None:
        app.state.engine = app.state.reader = engine
    errors.install(app)
    # The lookup routes come first: routes are matched in order and they take the most traffic.
    for module in (addresses, address_plates, apikeys, landing, health, divisions, auth, maps, placenames,
                   applications, protection, signs, boundary_lines, inspections, surveys, facilities, ogc, tiles):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    ogc.install_openapi(app)
    return app
