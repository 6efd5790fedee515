"""`gazetteer surveys …`: import field surveys (being written)."""

from __future__ import annotations

import typer

surveys_app = typer.Typer(help="Field surveys of boundary markers.", no_args_is_help=True)
