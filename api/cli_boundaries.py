"""`gazetteer boundaries …`: derive lines and tri-junctions from the polygons, check the marker numbering.

`derive` prints counts, the tolerance and minimum lengths used, and the time of each step. `check` prints
the rule 39–40 findings and exits 1 when one is an error (so a pipeline can gate on it).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

boundaries_app = typer.Typer(help="Boundary lines, markers and joint inspections.", no_args_is_help=True)
console = Console(stderr=True)


class Level(StrEnum):
    """Line levels."""

    county = "county"
    province = "province"
    township = "township"


def _progress():
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console, transient=False)


def _engine():
    from data.db import make_engine
    from data.settings import get_settings

    return make_engine(get_settings())


@boundaries_app.command("derive")
def derive_cmd(
    level: Annotated[Level, typer.Option(help="county, province (from the county lines) or township")] = Level.county,
    within: Annotated[list[str] | None, typer.Option(help="only lines with a party under this code prefix "
                                                          "(repeatable), e.g. 3301")] = None,
) -> None:
    """Replace the derived lines of a level (and its tri-junctions) by the shared edges of the current polygons."""
    from boundaries.lines import DERIVE_STEPS, derive_lines, derive_tri_junctions

    with _progress() as progress, _engine().begin() as conn:
        task = progress.add_task(f"{level.value} lines", total=2 if level is Level.province else DERIVE_STEPS)
        report = derive_lines(conn, level=level.value, within=within,
                              on_progress=lambda n: progress.advance(task, n))
        junctions = derive_tri_junctions(conn, level.value, within=within)
    console.print(report.summary())
    console.print(junctions.summary())


@boundaries_app.command("check")
def check_cmd(
    line: Annotated[str | None, typer.Option("--line", help="only this line, e.g. 330102-330105")] = None,
) -> None:
    """Check marker numbers, pairing, sides and order (§9 rules 39–40); exit 1 when an error is found."""
    from sqlalchemy.orm import Session

    from boundaries.lines import parse_line_id
    from boundaries.marker_register import check_register, summarize
    from data.errors import InvalidInput

    if line is not None:
        try:
            parse_line_id(line)
        except InvalidInput as exc:
            raise typer.BadParameter(exc.detail, param_hint="--line") from exc
    with Session(_engine()) as session:
        findings = check_register(session, line)
    Console(width=200).print(_table(findings) if findings else "no findings")
    summary = summarize(findings)
    console.print(f"{line or 'all lines with markers'}: {summary['total']} findings, {summary['errors']} errors, "
                  f"{summary['warnings']} warnings")
    raise typer.Exit(1 if summary["errors"] else 0)


def _table(findings) -> Table:
    table = Table("rule", "severity", "line", "marker", "message", title="marker checks (§9 rules 39–40)")
    for f in findings:
        table.add_row(str(f.rule), f"[red]{f.severity}[/red]" if f.severity == "error" else f.severity,
                      f.line_id, f.marker or "", f.message)
    return table
