"""Vector tiles (MVT) on WebMercatorQuad: tile sets, their layers, the tile SQL and rendering.

Every collection of the registry is a tile set of one layer; the multi-layer set `gazetteer` puts
divisions (the level changes with the zoom), boundary lines, markers, place names and facilities in
one tile. Each layer is one SQL statement in Martin's shape — `ST_AsMVT` over `ST_AsMVTGeom` with a
bounding-box filter the GiST index answers — executed as a server-side prepared statement, so a tile
is never re-planned; a multi-layer tile is the concatenation of its layers' MVT bytes.

Polygons and lines (divisions, boundary lines) are read from `tile_parts`: geometry in EPSG:3857,
simplified per zoom band and split into small pieces (migration 0006, built by `build_tile_geometry`). The pieces
of one feature are collected again per tile, and ST_AsMVTGeom's clipping joins them, so a tile holds
one feature per division. Points are read from their base tables and transformed per tile.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

from sqlalchemy import Connection, text

from data import audit
from data.errors import InvalidInput, NotFound
from maps.registry import (
    BOUNDARY_LINES,
    COLLECTIONS,
    COUNTIES,
    FACILITIES,
    MARKERS,
    PLACE_NAMES,
    PREFECTURES,
    PROVINCES,
    Collection,
)

EXTENT = 4096
BUFFER = 64
MAX_ZOOM = 22
MEDIA_TYPE = "application/vnd.mapbox-vector-tile"
GEOMETRY_DATASET = "tile-geometry"
MULTI_LAYER = "gazetteer"
_PARTS_SOURCES = ("divisions", "boundary_lines")

# The attributes a tile carries per collection: a few identifying ones (the full record is one
# OGC API Features request away).
TILE_PROPERTIES: dict[str, tuple[str, ...]] = {
    "provinces": ("code", "name", "kind"),
    "prefectures": ("code", "name", "kind", "parent_code"),
    "counties": ("code", "name", "kind", "parent_code"),
    "townships": ("code", "name", "kind", "parent_code"),
    "placenames": ("name_id", "name", "category", "status"),
    "addresses": ("code", "level", "name"),
    "boundary-lines": ("line_id", "line_number", "name", "level"),
    "markers": ("number", "line_id", "type", "status"),
    "facilities": ("facility_id", "name", "type_code", "category", "status"),
}
# Units and rooms stand at their building's point: in a tile they would only stack on it.
_TILE_FILTER = {"addresses": "t.level NOT IN ('unit', 'room')"}


class TileNotFound(NotFound):
    """The tile is outside the tile matrix set (OGC API Tiles: 404)."""


class BadTileRequest(InvalidInput):
    """A malformed tile matrix, row or column (OGC API Tiles: 400)."""

    status = 400
    code = "bad-request"
    title = "Bad request"


@dataclass(frozen=True)
class TileAddress:
    """A tile of WebMercatorQuad: zoom z, column x, row y (from the top)."""

    z: int
    x: int
    y: int

    @classmethod
    def parse(cls, z: str | int, x: str | int, y: str | int) -> TileAddress:
        """Check Z/X/Y: 400 when not integers, 404 when outside the tile matrix set."""
        values = []
        for name, value in (("tileMatrix", z), ("tileCol", x), ("tileRow", y)):
            if not re.fullmatch(r"\d{1,9}", str(value)):
                raise BadTileRequest(f"{name} must be a non-negative integer, not {value!r}",
                                     errors=[{"field": name, "message": "not a non-negative integer"}])
            values.append(int(value))
        z_, x_, y_ = values
        if z_ > MAX_ZOOM:
            raise TileNotFound(f"tile matrix {z_} is not in WebMercatorQuad here (0–{MAX_ZOOM})")
        if x_ >= 2 ** z_ or y_ >= 2 ** z_:
            raise TileNotFound(f"tile {z_}/{y_}/{x_} (row {y_}, column {x_}) is outside tile matrix {z_} "
                               f"(rows and columns 0–{2 ** z_ - 1})")
        return cls(z_, x_, y_)


@dataclass(frozen=True)
class Layer:
    """One MVT layer over one collection for a zoom range."""

    name: str
    collection: Collection
    min_zoom: int
    max_zoom: int
    extra: tuple[tuple[str, str], ...] = ()   # more attributes: (name, SQL over t)
    parts_class: str | None = None            # generalised pieces: only this class (level); None: all

    @property
    def properties(self) -> tuple[tuple[str, str], ...]:
        """(name, SQL) of the attributes, registry properties first."""
        names = TILE_PROPERTIES[self.collection.id]
        return tuple((n, self.collection.property(n).sql) for n in names) + self.extra

    @property
    def table(self) -> str:
        """The base table the layer reads its geometry from."""
        return self.collection.tables[0]

    def active(self, z: int) -> bool:
        """Whether the layer has content at zoom Z."""
        return self.min_zoom <= z <= self.max_zoom

    @cached_property
    def sql(self) -> str:
        """The layer's statement (parameters z, x, y)."""
        return _parts_sql(self) if self.table in _PARTS_SOURCES else _base_sql(self)


@dataclass(frozen=True)
class TileSet:
    """A set of tiles: one layer per collection, or several for the multi-layer set."""

    id: str
    title: str
    description: str
    layers: tuple[Layer, ...]
    keywords: tuple[str, ...] = field(default=())

    @property
    def tables(self) -> tuple[str, ...]:
        """The base tables whose edits change these tiles (sorted, unique)."""
        return tuple(sorted({t for layer in self.layers for t in layer.collection.tables}))

    @property
    def min_zoom(self) -> int:
        """The lowest zoom with content."""
        return min(layer.min_zoom for layer in self.layers)

    @property
    def max_zoom(self) -> int:
        """The highest zoom served."""
        return max(layer.max_zoom for layer in self.layers)

    def layers_at(self, z: int) -> tuple[Layer, ...]:
        """The layers with content at zoom Z."""
        return tuple(layer for layer in self.layers if layer.active(z))


def _select_list(layer: Layer) -> str:
    return ", ".join(f"{sql} AS {_quote(name)}" for name, sql in layer.properties)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


_ENVELOPE = "ST_TileEnvelope(%(z)s::integer, %(x)s::integer, %(y)s::integer)"
_ENVELOPE_BUFFERED = (f"ST_TileEnvelope(%(z)s::integer, %(x)s::integer, %(y)s::integer, "
                      f"margin => {BUFFER / EXTENT})")


def _mvt(layer: Layer, inner: str) -> str:
    return (f"SELECT ST_AsMVT(q, '{layer.name}', {EXTENT}, 'geom', 'fid') FROM ({inner}) q "
            "WHERE q.geom IS NOT NULL")


def _base_sql(layer: Layer) -> str:
    c = layer.collection
    where = " AND ".join([c.where, c.current, _TILE_FILTER.get(c.id, "true")])
    inner = (f"SELECT {c.key_sql} AS fid, {_select_list(layer)}, "
             f"ST_AsMVTGeom(ST_Transform({c.geom_sql}, 3857), {_ENVELOPE}, {EXTENT}, {BUFFER}, true) AS geom "
             f"FROM {c.source} WHERE {c.geom_sql} && ST_Transform({_ENVELOPE_BUFFERED}, 4490) AND {where}")
    return _mvt(layer, inner)


def _parts_sql(layer: Layer) -> str:
    c = layer.collection
    only = f" AND p.class = '{layer.parts_class}'" if layer.parts_class else ""
    inner = (f"SELECT {c.key_sql} AS fid, {_select_list(layer)}, "
             f"ST_AsMVTGeom(ST_Collect(p.geom), {_ENVELOPE}, {EXTENT}, {BUFFER}, true) AS geom "
             f"FROM tile_parts p JOIN {c.source} ON {c.key_sql} = p.source_id "
             f"WHERE p.source = '{layer.table}'{only} "
             f"AND p.band = (SELECT b.band FROM tile_bands b WHERE %(z)s::integer BETWEEN b.min_zoom AND b.max_zoom) "
             f"AND p.geom && {_ENVELOPE_BUFFERED} AND {c.where} AND {c.current} "
             f"GROUP BY {c.key_sql}")
    return _mvt(layer, inner)


def _division_class(collection: Collection) -> str | None:
    found = re.search(r"t\.level = (\d)", collection.where)
    return found.group(1) if found else None


def collection_tileset(collection: Collection) -> TileSet:
    """The tile set of one collection: one layer named after it."""
    parts_class = _division_class(collection) if collection.tables[0] == "divisions" else None
    layer = Layer(collection.id, collection, collection.min_zoom, collection.max_zoom, parts_class=parts_class)
    return TileSet(collection.id, collection.title, collection.description, (layer,), collection.keywords)


def _multi_layer() -> TileSet:
    level = (("level", "t.level"),)
    layers = (
        Layer("divisions", PROVINCES, 0, 4, level, parts_class="1"),
        Layer("divisions", PREFECTURES, 5, 7, level, parts_class="2"),
        Layer("divisions", COUNTIES, 8, MAX_ZOOM, level, parts_class="3"),
        Layer("boundary_lines", BOUNDARY_LINES, 3, 4, parts_class="province"),
        Layer("boundary_lines", BOUNDARY_LINES, 5, MAX_ZOOM),
        Layer("facilities", FACILITIES, 8, MAX_ZOOM),
        Layer("markers", MARKERS, 10, MAX_ZOOM),
        Layer("placenames", PLACE_NAMES, 11, MAX_ZOOM),
    )
    return TileSet(MULTI_LAYER, "区划地名", "Divisions (provinces to z4, prefectures z5–7, counties from z8; "
                   "attribute `level`), boundary lines (provincial from z3, all from z5), facilities (z8+), "
                   "boundary markers (z10+) and place names (z11+) in one tile.", layers,
                   ("行政区划", "界线", "地名"))


TILESETS: dict[str, TileSet] = {c.id: collection_tileset(c) for c in COLLECTIONS.values()}
TILESETS[MULTI_LAYER] = _multi_layer()


def get_tileset(tileset_id: str) -> TileSet:
    """The tile set TILESET_ID (a collection id, or `gazetteer`); 404 if there is none."""
    found = TILESETS.get(tileset_id)
    if found is None:
        raise NotFound(f"no tile set {tileset_id!r}; there are {', '.join(sorted(TILESETS))}")
    return found


def render_tile(conn: Connection, tileset: TileSet, tile: TileAddress) -> bytes:
    """The MVT bytes of TILE (empty when no layer has a feature there)."""
    layers = tileset.layers_at(tile.z)
    if not layers:
        return b""
    params = {"z": tile.z, "x": tile.x, "y": tile.y}
    cursor = conn.connection.driver_connection.cursor()
    try:
        out = []
        for layer in layers:
            # prepare=True: a server-side prepared statement per layer and connection (Martin's way)
            row = cursor.execute(layer.sql, params, prepare=True).fetchone()
            if row and row[0]:
                out.append(bytes(row[0]))
        return b"".join(out)
    finally:
        cursor.close()


def build_tile_geometry(conn: Connection, on_progress: Callable[[int], None] | None = None) -> int:
    """Build `tile_parts` from the current divisions and boundary lines and mark it built; pieces written."""
    conn.execute(text("TRUNCATE tile_parts"))
    conn.execute(text("DELETE FROM datasets WHERE name = :n"), {"n": GEOMETRY_DATASET})
    counts: dict[str, int] = {}
    for source, classes in (("divisions", ("1", "2", "3", "4")), ("boundary_lines", ("province", "county",
                                                                                     "township"))):
        for cls in classes:
            written = conn.execute(text(
                f"INSERT INTO tile_parts (source, source_id, class, band, geom) "
                f"SELECT '{source}', t.id, t.level::text, p.band, p.geom FROM {source} t "
                "CROSS JOIN LATERAL tile_generalise(t.geom) p "
                "WHERE t.valid_to IS NULL AND t.geom IS NOT NULL AND t.level::text = :cls"), {"cls": cls}).rowcount
            counts[f"{source}:{cls}"] = written
            if on_progress:
                on_progress(written)
    conn.execute(text("ANALYZE tile_parts"))
    total = sum(counts.values())
    conn.execute(text(
        "INSERT INTO datasets (name, version, source, terms, row_count, details) "
        "VALUES (:n, '1', :s, :t, :c, CAST(:d AS jsonb))"),
        {"n": GEOMETRY_DATASET, "c": total, "d": json.dumps(counts),
         "s": "derived (maps/tiles.py): divisions and boundary lines simplified per zoom band, subdivided",
         "t": "as the source geometry"})
    audit.record(conn, actor=audit.SYSTEM, action="import", entity_type="dataset", entity_id=GEOMETRY_DATASET,
                 after=counts)
    return total
