"""Engine and unit-of-work helpers; the one place where the database URL is resolved."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session

from data.settings import Settings


def database_url(settings: Settings) -> str:
    """The configured URL, or the embedded cluster's when none is set."""
    if settings.database_url:
        return settings.database_url
    from data.embedded import EmbeddedCluster

    return EmbeddedCluster(settings).url()


def make_engine(settings: Settings, **kwargs) -> Engine:
    """Create the engine (once per process: in the app's lifespan or a CLI command)."""
    options = {"pool_pre_ping": True, "pool_size": 10, "max_overflow": 10}
    options.update(kwargs)
    return create_engine(database_url(settings), **options)


@contextmanager
def unit_of_work(engine: Engine) -> Iterator[Session]:
    """One transaction: commit on success, roll back on any error."""
    with Session(engine) as session, session.begin():
        yield session
