"""`gazetteer boundaries …`: derive lines, check markers (being written)."""

from __future__ import annotations

import typer

boundaries_app = typer.Typer(help="Boundary lines, markers and joint inspections.", no_args_is_help=True)
