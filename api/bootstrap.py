"""First-run set-up: database up, schema migrated, demo data loaded once."""

from __future__ import annotations

import time

from rich.console import Console
from sqlalchemy import Engine, text

from data import migrate
from data.db import database_url, make_engine
from data.settings import Settings


def _loaded(engine: Engine, dataset: str) -> bool:
    with engine.connect() as conn:
        found = conn.execute(text("SELECT 1 FROM datasets WHERE name = :n"), {"n": dataset})
        return found.first() is not None


def start_database(settings: Settings, console: Console) -> None:
    """Start the embedded cluster, or check the extensions of the configured server."""
    from data.embedded import EmbeddedCluster, ensure_extensions

    if settings.embedded:
        started = EmbeddedCluster(settings).start()
        console.print(f"database: embedded cluster in {settings.home / 'pg'} on port "
                      f"{settings.pg_port} ({'started' if started else 'already running'})")
    else:
        ensure_extensions(database_url(settings))
        console.print("database: GAZETTEER_DATABASE_URL")


def load_demo(settings: Settings, engine: Engine, console: Console, progress_factory) -> None:
    """Load the divisions, the demo polygons and the registry seed, each only the first time."""
    from boundaries.divisions_import import DATASET, import_divisions
    from boundaries.polygons_import import DEMO_DATASET, load_demo_polygons

    if not _loaded(engine, DATASET):
        started = time.perf_counter()
        with progress_factory() as progress, engine.begin() as conn:
            task = progress.add_task("division codes", total=665_276)
            import_divisions(conn, on_progress=lambda n: progress.advance(task, n))
        console.print(f"divisions loaded in {time.perf_counter() - started:.0f} s")
    if not _loaded(engine, DEMO_DATASET):
        started = time.perf_counter()
        with progress_factory() as progress, engine.begin() as conn:
            report = load_demo_polygons(conn, settings.cache_dir, progress=progress)
        console.print(f"demo polygons: {len(report.match.polygons)} of "
                      f"{report.match.county_total} county-level codes "
                      f"({report.match.rate:.1%}) in {time.perf_counter() - started:.0f} s")
    seed_registry(engine, console, progress_factory)
    load_address_library(engine, console, progress_factory)
    load_boundaries(engine, settings, console, progress_factory)
    load_facilities(engine, settings, console, progress_factory)
    prepare_tiles(engine, settings, console, progress_factory)


def _once(engine: Engine, console: Console, progress_factory, dataset: str, label: str, load) -> None:
    """Run LOAD(conn, on_progress) -> count in one transaction unless DATASET is already loaded."""
    if _loaded(engine, dataset):
        return
    started = time.perf_counter()
    with progress_factory() as progress, engine.begin() as conn:
        task = progress.add_task(label, total=None)
        count = load(conn, lambda n: progress.advance(task, n))
    console.print(f"{label}: {count} in {time.perf_counter() - started:.0f} s")


def load_address_library(engine: Engine, console: Console, progress_factory) -> None:
    """Generate the demo address library (杭州市, 100,000 elements), the first time only."""
    from addresses.generate import DEMO_LIBRARY_DATASET, load_demo_library

    _once(engine, console, progress_factory, DEMO_LIBRARY_DATASET, "demo address library",
          lambda conn, progress: load_demo_library(conn, on_progress=progress).rows)


def load_boundaries(engine: Engine, settings: Settings, console: Console, progress_factory) -> None:
    """Derive the boundary lines and tri-junctions nationally, place the demo markers and replay the demo
    joint inspections on them, each the first time only."""
    from boundaries.demo_inspections import DEMO_DATASET as INSPECTIONS_DATASET
    from boundaries.demo_inspections import load_demo_inspections
    from boundaries.demo_markers import DEMO_DATASET, load_demo_boundaries

    _once(engine, console, progress_factory, DEMO_DATASET, "boundary lines and demo markers",
          lambda conn, progress: load_demo_boundaries(conn, on_progress=progress))
    _once(engine, console, progress_factory, INSPECTIONS_DATASET, "demo joint inspections",
          lambda conn, progress: load_demo_inspections(conn, settings, progress))


def load_facilities(engine: Engine, settings: Settings, console: Console, progress_factory) -> None:
    """Load the facility types, the demo facilities, population and walking network (杭州市), the first time only."""
    from facilities.demo import DATASET as FACILITIES_DATASET
    from facilities.demo import load_demo_facilities
    from facilities.network import DEMO_DATASET as NETWORK_DATASET
    from facilities.network import PGROUTING_HINT, build_demo_network, pgrouting_installed
    from facilities.population import DEMO_DATASET as POPULATION_DATASET
    from facilities.population import load_demo_population
    from facilities.types import load_types

    with engine.begin() as conn:
        load_types(conn)  # every set-up: edits to facilities/types.csv apply
    _once(engine, console, progress_factory, FACILITIES_DATASET, "demo facilities (杭州市)", load_demo_facilities)
    _once(engine, console, progress_factory, POPULATION_DATASET, "demo population estimate (杭州市 villages)",
          load_demo_population)
    with engine.connect() as conn:
        routing = pgrouting_installed(conn)
    if not routing:
        console.print(f"walking network: not built ({PGROUTING_HINT})")
        return
    _once(engine, console, progress_factory, NETWORK_DATASET, "demo walking network edges (杭州市)",
          lambda conn, progress: build_demo_network(conn).edges)


def prepare_tiles(engine: Engine, settings: Settings, console: Console, progress_factory) -> None:
    """Build the generalised tile geometry per zoom band, the first time only."""
    from maps.tiles import GEOMETRY_DATASET, build_tile_geometry

    _once(engine, console, progress_factory, GEOMETRY_DATASET, "tile geometry (pieces per zoom band)",
          lambda conn, progress: build_tile_geometry(conn, on_progress=progress))


def seed_registry(engine: Engine, console: Console, progress_factory) -> None:
    """Register the division names as standard names, the first time only."""
    from placenames.seed import DATASET as NAMES_DATASET
    from placenames.seed import seed_from_divisions

    _once(engine, console, progress_factory, NAMES_DATASET, "standard names from division names",
          lambda conn, progress: seed_from_divisions(conn, on_progress=progress))


def bootstrap(settings: Settings, *, console: Console, progress_factory) -> None:
    """Everything `make run` and `make test` need before they serve or test."""
    start_database(settings, console)
    engine = make_engine(settings)
    try:
        migrate.upgrade(engine)
        if settings.demo_data:
            load_demo(settings, engine, console, progress_factory)
    finally:
        engine.dispose()
