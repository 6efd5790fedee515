"""What the command-line modules share: one committed unit of work, and errors as one line."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from sqlalchemy.orm import Session

from data.errors import GazetteerError


@contextmanager
def unit() -> Iterator[Session]:
    """One committed transaction on the configured database (a one-connection engine, disposed after)."""
    from data.db import make_engine
    from data.settings import get_settings

    engine = make_engine(get_settings(), pool_size=1, max_overflow=0)
    try:
        with Session(engine) as session, session.begin():
            yield session
    finally:
        engine.dispose()


@contextmanager
def one_line_errors(console: Console) -> Iterator[None]:
    """Turn an expected error into a red line (and a hint of further field errors) and exit 1."""
    try:
        yield
    except GazetteerError as exc:
        console.print(f"[red]error:[/red] {exc.detail}", soft_wrap=True)
        for error in exc.errors[5:6]:
            console.print(f"  … and {len(exc.errors) - 5} more, e.g. {error['field']}: {error['message']}")
        raise typer.Exit(1) from None
