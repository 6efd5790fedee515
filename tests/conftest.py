"""Fixtures: the real embedded PostGIS, one rolled-back transaction per test."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from api import quota
from api.app import create_app
from api.background import serving
from api.deps import get_reader, get_session
from api.routers.addresses import job_connector
from data.db import make_engine
from data.settings import Settings, get_settings


@pytest.fixture(scope="session")
def settings() -> Settings:
    return get_settings()


@pytest.fixture(scope="session")
def engine(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1 FROM divisions LIMIT 1"))
    except (OperationalError, Exception) as exc:  # noqa: BLE001 - explain, then fail
        pytest.exit(f"the database is not ready ({exc.__class__.__name__}); run `make test`, "
                    "which starts and loads it first", returncode=1)
    yield engine
    engine.dispose()


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as conn:
        outer = conn.begin()
        yield conn
        outer.rollback()


@pytest.fixture
def session(connection: Connection) -> Iterator[Session]:
    with Session(bind=connection, join_transaction_mode="create_savepoint") as s:
        yield s


@contextmanager
def savepoint(connection: Connection) -> Iterator[Connection]:
    """Like `engine.begin()`, but inside the test's transaction (a savepoint, rolled back at the end)."""
    with connection.begin_nested():
        yield connection


@pytest.fixture
def client(settings: Settings, engine: Engine, session: Session, connection: Connection) -> Iterator[TestClient]:
    """The app on the test's transaction; lookup limits lifted (tests of limits build their own)."""
    # Tiles: the memory front reads the invalidation log before every answer, so a test's edit shows at once.
    lifted = settings.model_copy(update={"anon_daily_quota": 10**9, "anon_per_second": 10**6,
                                         "tile_memory_sync_seconds": 0})
    app = create_app(lifted, engine)

    def _session() -> Iterator[Session]:
        with session.begin_nested():
            yield session

    app.dependency_overrides[get_session] = _session
    app.dependency_overrides[get_reader] = lambda: connection
    app.dependency_overrides[job_connector] = lambda: partial(savepoint, connection)
    quota.install(app, connect=partial(savepoint, connection))
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def live_server(settings: Settings, engine: Engine) -> Iterator[str]:
    """The real app served by uvicorn on 127.0.0.1 (for the browser); read-only use."""
    with serving(create_app(settings, engine)) as url:
        yield url
