"""`gazetteer facilities …`: import facilities, population and a walking network; coverage reports (stub)."""

from __future__ import annotations

import typer

facilities_app = typer.Typer(help="Service facilities and coverage analysis.", no_args_is_help=True)
