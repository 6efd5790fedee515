"""`gazetteer facilities …`: import facilities, population and a walking network; coverage reports."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from api.cli_support import one_line_errors, unit
from data import audit

facilities_app = typer.Typer(help="Service facilities and coverage analysis.", no_args_is_help=True)
console = Console(stderr=True)


@facilities_app.command("import")
def import_cmd(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV (lon/lat columns), GeoJSON or GPKG")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="check every row, store nothing")] = False,
) -> None:
    """Import facilities, all or nothing; errors name the line (CSV) or feature."""
    from api.cli import _progress
    from facilities.importer import import_facilities, read_rows

    with one_line_errors(console), unit() as session, _progress() as progress:
        task = progress.add_task(file.name, total=len(read_rows(file)[0]))
        report = import_facilities(session, file, actor=audit.SYSTEM, dry_run=dry_run,
                                   on_progress=lambda n: progress.advance(task, n))
    verb = "checked (dry run)" if dry_run else "imported"
    console.print(f"{report.rows} rows {verb}; {report.matched_addresses} matched to a standard address; "
                  + ", ".join(f"{k} {v}" for k, v in report.per_type.items()))


@facilities_app.command("import-network")
def import_network_cmd(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="GeoPackage or GeoJSON lines, any CRS")],
) -> None:
    """Replace the walking network by the file's lines (reprojected to EPSG:4490, noded, costs in metres)."""
    from api.cli import _progress
    from facilities.network import load_network, read_network_file, require_pgrouting

    with one_line_errors(console):
        lines = read_network_file(file)
        with unit() as session, _progress() as progress:
            require_pgrouting(session)
            task = progress.add_task(f"{file.name}: noding", total=len(lines))
            report = load_network(session, lines, dataset=f"network:{file.name}", actor=audit.SYSTEM,
                                  on_progress=lambda n: progress.advance(task, n))
    console.print(f"network: {report.lines_read} lines → {report.edges} edges, {report.vertices} vertices, "
                  f"{report.length_km:.1f} km in {report.seconds:.1f} s")


@facilities_app.command("import-population")
def import_population_cmd(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False,
                                         help="CSV: code, population, elderly_population, year, source")],
    year: Annotated[int, typer.Option(help="year for rows without one")] = 2020,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="check every row, store nothing")] = False,
) -> None:
    """Load population per division (any level), all or nothing; existing codes are replaced."""
    from facilities.population import import_population_file

    with one_line_errors(console), unit() as session:
        count = import_population_file(session, file, actor=audit.SYSTEM, year=year, dry_run=dry_run)
    console.print(f"population: {count} divisions {'checked (dry run)' if dry_run else 'loaded'}")


@facilities_app.command("coverage")
def coverage_cmd(
    division: Annotated[str, typer.Option(help="division code, e.g. 330100")],
    type_: Annotated[list[str] | None, typer.Option("--type", help="type code (repeatable); default: all")] = None,
    radius: Annotated[int | None, typer.Option(help="metres (50–5000); default: the types' default")] = None,
    csv_file: Annotated[Path | None, typer.Option("--csv", help="write the rows here (and FILE-gaps.csv)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """Coverage of the division's children within 300 / 500 / 1,000 m and the radius, and the gaps."""
    from facilities import export
    from facilities.coverage import coverage_report

    with one_line_errors(console), unit() as session:
        started = time.perf_counter()
        report = coverage_report(session, division, type_, radius)
        seconds = time.perf_counter() - started
    if csv_file:
        csv_file.write_text(export.coverage_csv(report), encoding="utf-8")
        gaps = csv_file.with_name(csv_file.stem + "-gaps.csv")
        gaps.write_text(export.gaps_csv(report), encoding="utf-8")
        console.print(f"wrote {csv_file} and {gaps}")
    if as_json:
        print(json.dumps(export.report_dict(report), ensure_ascii=False, indent=2))
        return
    Console().print(_table(report))
    for note in report.notes:
        console.print(f"note: {note}")
    console.print(f"{len(report.gaps)} gaps; {report.facilities} facilities; {seconds:.1f} s")


def _table(report) -> Table:
    table = Table(title=f"{report.division_code} {report.division_name}: {', '.join(report.type_codes)} "
                        f"(radius {report.radius_m} m{', network' if report.network else ''})")
    for column in ("code", "name", "addresses", "population",
                   *(f"≤{r} m" for r in report.radii_m), *(f"walk ≤{r} m" for r in report.radii_m if report.network)):
        table.add_column(column)
    for row in [*report.rows, report.total]:
        shares = [_pct(row.share(r)) for r in report.radii_m]
        walks = [_pct(row.share(r, network=True)) for r in report.radii_m] if report.network else []
        table.add_row(row.code, row.name, str(row.addresses), "" if row.population is None else str(row.population),
                      *shares, *walks)
    return table


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"
