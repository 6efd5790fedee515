"""`gazetteer demo addresses` and `gazetteer import addresses`: fill the address library from the shell."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from data.errors import InvalidInput

demo_app = typer.Typer(help="Demo data on the real divisions (reproducible from a seed).", no_args_is_help=True)
console = Console(stderr=True)
AsUser = Annotated[str, typer.Option("--as", help="actor recorded in the audit log")]


def _engine():
    from data.db import make_engine
    from data.settings import get_settings

    return make_engine(get_settings())


def _progress():
    from api.cli import _progress as progress

    return progress()


@demo_app.command("addresses")
def demo_addresses(
    count: Annotated[int, typer.Option(help="rows of all levels (streets … rooms)")] = 100_000,
    seed: Annotated[int, typer.Option(help="random seed: the same seed gives the same library")] = 1,
    division: Annotated[str, typer.Option(help="prefecture, county or township code")] = "330100",
    as_user: AsUser = "system",
) -> None:
    """Generate streets, plates, compounds, buildings, units and rooms inside the real village cells."""
    from addresses.generate import generate_demo

    with _progress() as progress, _engine().begin() as conn:
        task = progress.add_task(f"demo addresses in {division}", total=count)
        report = generate_demo(conn, count=count, seed=seed, division=division, actor=as_user,
                               on_progress=lambda n: progress.advance(task, n))
    table = Table("level", "rows")
    for level, rows in report.per_level.items():
        table.add_row(level, f"{rows:,}")
    Console().print(table)
    console.print(f"{report.dataset}: {report.rows:,} rows in {report.seconds:.1f} s, "
                  f"{report.villages:,} villages and communities in {len(report.counties)} counties")
    if report.counties_without_polygon:
        console.print("counties skipped (no polygon): " + ", ".join(report.counties_without_polygon))


@demo_app.command("remove-addresses")
def demo_remove(dataset: Annotated[str, typer.Argument(help="e.g. demo-addresses-330100-100000-1")],
                as_user: AsUser = "system") -> None:
    """Delete a demo address load: its addresses, street and compound names and dataset row."""
    from addresses.generate import remove_demo

    with _engine().begin() as conn:
        deleted = remove_demo(conn, dataset, actor=as_user)
    console.print(f"deleted {deleted:,} addresses of {dataset}")


def _mapping(pairs: list[str]) -> dict[str, str]:
    mapping = {}
    for pair in pairs:
        target, sep, column = pair.partition("=")
        if not sep or not target.strip() or not column.strip():
            raise typer.BadParameter(f"{pair!r}: write target=column, e.g. --map street=道路名称")
        mapping[target.strip()] = column.strip()
    return mapping


def _feature_count(file: Path, layer: str | None) -> int | None:
    import pyogrio

    try:
        count = pyogrio.read_info(file, layer=layer).get("features", -1)
    except Exception:  # the importer reports unreadable files itself  # noqa: BLE001
        return None
    return count if count >= 0 else None


def import_addresses_cmd(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV, GPKG, GeoJSON or SHP")],
    map_: Annotated[list[str] | None, typer.Option(
        "--map", help="target=column, repeatable; targets: village_code street number compound building "
                      "unit room side lon lat wkt")] = None,
    layer: Annotated[str | None, typer.Option(help="layer name in a multi-layer file")] = None,
    crs: Annotated[str | None, typer.Option(help="CRS of the coordinates (overrides the file's), "
                                                 "e.g. EPSG:4547")] = None,
    register_streets: Annotated[bool, typer.Option(
        "--register-streets", help="register unknown street names as standard names")] = False,
    as_user: AsUser = "system",
) -> None:
    """Import real addresses (村社区代码, 街路巷, 门牌号, 楼栋, 单元, 户室 …); all rows or none."""
    from addresses.importer import import_addresses

    mapping = _mapping(map_ or [])
    try:
        with _progress() as progress, _engine().begin() as conn:
            task = progress.add_task(file.name, total=_feature_count(file, layer))
            report = import_addresses(conn, file, mapping=mapping, layer=layer, crs=crs,
                                      register_streets=register_streets, actor=as_user,
                                      on_progress=lambda n: progress.advance(task, n))
    except InvalidInput as exc:
        console.print(f"[red]error:[/red] {exc.detail}")
        for error in exc.errors:
            console.print(f"  {error['field']}: {error['message']}")
        raise typer.Exit(1) from None
    table = Table("level", "created", "reused")
    for level, created in report.created.items():
        table.add_row(level, f"{created:,}", f"{report.reused[level]:,}")
    Console().print(table)
    console.print(f"{report.file}: {report.rows:,} rows in {report.seconds:.1f} s, coordinates from "
                  f"{report.source_crs}; dataset {report.dataset}")
    if report.streets_registered:
        console.print(f"registered {report.streets_registered} street names as standard names")
    if report.compounds_without_standard_name:
        console.print(f"{report.compounds_without_standard_name} new compounds have no standard name yet")


addresses_app = typer.Typer(help="The standard address library (一库一码).", no_args_is_help=True)


def geocode_cmd(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV in UTF-8 or GB18030/GBK")],
    out: Annotated[Path, typer.Option("-o", "--out", help="result CSV (input columns + gz_* columns)")],
    column: Annotated[str | None, typer.Option(help="address column: header name or 1-based number")] = None,
    division_column: Annotated[str | None, typer.Option(help="column with a division code per row")] = None,
    coordsys: Annotated[str, typer.Option(help="cgcs2000, wgs84, gcj02 or bd09")] = "cgcs2000",
) -> None:
    """Geocode every row of FILE (set-based, in chunks) with a progress bar; one output row per input row."""
    from addresses.admin import admin_index
    from addresses.batch import geocode_csv, inspect_csv
    from addresses.coords import check_coordsys

    data = file.read_bytes()
    spec = inspect_csv(data, column, division_column)
    coordsys = check_coordsys(coordsys)
    with _engine().connect() as conn, _progress() as progress, \
            open(out, "w", encoding="utf-8-sig", newline="") as stream:
        task = progress.add_task(f"geocoding {file.name} ({spec.encoding})", total=spec.rows)
        rows = geocode_csv(conn, admin_index(conn), data, stream, column=column,
                           division_column=division_column, coordsys=coordsys,
                           on_progress=lambda n: progress.advance(task, n), spec=spec)
    console.print(f"{rows:,} rows written to {out}")
