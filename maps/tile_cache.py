"""The tile cache: rendered tiles kept in PostgreSQL, invalidated precisely when an edit commits.

Why PostgreSQL and not process memory: the cache survives restarts, every `serve --workers N`
process shares it, and the invalidation is written by the editing transaction itself (the triggers
of migration 0006), so no signal has to reach other processes and no edit path can forget it. A hit
is one primary-key lookup plus one probe of the invalidation log, on the reader connection.

A cached tile is current unless a committed edit with a later data version touched its envelope;
a stale or missing tile is rendered and stored again. A tile rendered while an edit of its tables is
in flight is served but not stored (`tile_begin_render`), so an old snapshot never becomes current.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, replace

from sqlalchemy import Connection, text

from maps.tiles import BUFFER, EXTENT, TileAddress, TileSet, render_tile

_LOOKUP = text("""
    SELECT c.data, c.etag, c.data_version FROM tile_cache c
    WHERE c.tileset = :tileset AND c.z = :z AND c.x = :x AND c.y = :y
      AND NOT tile_stale(c.tables, c.envelope, c.data_version)
""")
_BEGIN = text("SELECT tile_begin_render(CAST(:tables AS text[]))")
_PRUNE_EVERY = 500  # stored tiles between two prunes of the invalidation log (per process)

_STORE = text(f"""
    INSERT INTO tile_cache (tileset, z, x, y, tables, envelope, data, etag, data_version)
    SELECT :tileset, :z, :x, :y, CAST(:tables AS text[]),
           ST_Transform(ST_TileEnvelope(CAST(:z AS integer), CAST(:x AS integer), CAST(:y AS integer),
                                        margin => {BUFFER / EXTENT}), 4490),
           :data, :etag, :version
    ON CONFLICT (tileset, z, x, y) DO UPDATE
    SET data = EXCLUDED.data, etag = EXCLUDED.etag, data_version = EXCLUDED.data_version, created_at = now()
""")


@dataclass(frozen=True)
class CachedTile:
    """A tile's bytes (empty for an empty tile), its strong ETag and how the cache answered."""

    data: bytes
    etag: str
    status: str          # "hit", "miss" (rendered and stored) or "bypass" (rendered during an edit)
    version: int | None  # tile_data_version the tile was rendered at (None: rendered during an edit)


def etag_of(data: bytes) -> str:
    """The strong ETag of tile bytes."""
    return '"' + hashlib.blake2b(data, digest_size=16).hexdigest() + '"'


def get_tile(conn: Connection, tileset: TileSet, tile: TileAddress) -> CachedTile:
    """TILE of TILESET from the cache, or rendered (and stored when no edit was in flight)."""
    key = {"tileset": tileset.id, "z": tile.z, "x": tile.x, "y": tile.y, "tables": list(tileset.tables)}
    found = conn.execute(_LOOKUP, key).first()
    if found is not None:
        return CachedTile(bytes(found.data), found.etag, "hit", found.data_version)
    version = conn.execute(_BEGIN, key).scalar()
    data = render_tile(conn, tileset, tile)
    etag = etag_of(data)
    if version is None:
        return CachedTile(data, etag, "bypass", None)
    conn.execute(_STORE, key | {"data": data, "etag": etag, "version": version})
    _maybe_prune(conn)
    return CachedTile(data, etag, "miss", version)


_stored = 0


def _maybe_prune(conn: Connection) -> None:
    global _stored
    _stored += 1
    if _stored % _PRUNE_EVERY == 0:
        prune_tile_cache(conn)


def prune_tile_cache(conn: Connection, keep_seconds: int = 300) -> int:
    """Drop stale tiles and the invalidation entries older than KEEP_SECONDS; tiles dropped."""
    return conn.execute(text("SELECT tile_prune(make_interval(secs => :k))"), {"k": keep_seconds}).scalar()


def clear_tile_cache(conn: Connection, tileset: str | None = None,
                     tiles: Iterable[tuple[int, int, int]] | None = None) -> int:
    """Drop cached tiles: all, those of TILESET, or only its TILES (z, x, y); tiles dropped."""
    if tileset is None:
        return conn.execute(text("DELETE FROM tile_cache")).rowcount
    if tiles is None:
        return conn.execute(text("DELETE FROM tile_cache WHERE tileset = :t"), {"t": tileset}).rowcount
    dropped = 0
    for z, x, y in tiles:
        dropped += conn.execute(text("DELETE FROM tile_cache WHERE tileset = :t AND z = :z AND x = :x AND y = :y"),
                                {"t": tileset, "z": z, "x": x, "y": y}).rowcount
    return dropped


def cached_tiles(conn: Connection, tileset: str) -> set[tuple[int, int, int]]:
    """The (z, x, y) of the current (not stale) tiles of TILESET in the cache."""
    rows = conn.execute(text("SELECT z, x, y FROM tile_cache c WHERE tileset = :t "
                             "AND NOT tile_stale(c.tables, c.envelope, c.data_version)"), {"t": tileset})
    return {(r.z, r.x, r.y) for r in rows}


# --- the per-process memory front ------------------------------------------------------------------
# A PostgreSQL hit still costs a round trip; warm tiles are served from process memory instead. The
# memory copy stays exact because each process re-reads the invalidation log at most every
# `sync_seconds`: every log row written by a transaction that was still running (or not yet started)
# at the previous read. A transaction's rows are found by their xmin, not by the version sequence,
# since sequence order is not commit order: a row with a small version can commit after one with a
# larger version.

_SYNC = text("""
    SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS horizon,
           coalesce(json_agg(json_build_array(i.source, ST_XMin(i.geom), ST_YMin(i.geom), ST_XMax(i.geom),
                                              ST_YMax(i.geom))) FILTER (WHERE i.source IS NOT NULL), '[]') AS rows
    FROM (SELECT 1) one
    LEFT JOIN tile_invalidations i
      ON CAST(:horizon AS bigint) IS NOT NULL
     AND age(i.xmin) <= pg_snapshot_xmax(pg_current_snapshot())::text::bigint - CAST(:horizon AS bigint) + 1
""")
_MAX_RECTANGLES = 500  # more than this many edited places at once: drop the whole memory copy
_MAX_IDLE_SECONDS = 60


def tile_bounds(tile: TileAddress) -> tuple[float, float, float, float]:
    """TILE's envelope with the MVT buffer, as lon/lat bounds (min lon, min lat, max lon, max lat)."""
    n = 2 ** tile.z
    margin = BUFFER / EXTENT

    def lon(x: float) -> float:
        return x / n * 360.0 - 180.0

    def lat(y: float) -> float:
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * y / n))))

    return (lon(tile.x - margin), lat(min(n, tile.y + 1 + margin)), lon(tile.x + 1 + margin),
            lat(max(0.0, tile.y - margin)))


@dataclass
class _Entry:
    tile: CachedTile
    bounds: tuple[float, float, float, float]
    tables: tuple[str, ...]


class MemoryTiles:
    """Tiles kept in this process's memory in front of the PostgreSQL cache, least recently used out
    first, dropped precisely when the invalidation log says an edit touched them."""

    def __init__(self, max_bytes: int = 256 * 2**20, sync_seconds: float = 0.2):
        self.max_bytes = max_bytes
        self.sync_seconds = sync_seconds
        self._tiles: OrderedDict[tuple, _Entry] = OrderedDict()
        self._bytes = 0
        self._horizon: int | None = None
        self._synced_at = -math.inf
        self._lock = threading.Lock()
        self.generation = 0  # bumped by every sync: a tile looked up before a sync is not kept after it

    def due(self) -> bool:
        """Whether the invalidation log must be read before the next answer."""
        return time.monotonic() - self._synced_at >= self.sync_seconds

    def sync(self, conn: Connection) -> None:
        """Read the log rows of every transaction not finished at the last read; drop what they touch."""
        row = conn.execute(_SYNC, {"horizon": self._horizon}).one()
        rectangles = row.rows if isinstance(row.rows, list) else json.loads(row.rows)
        with self._lock:
            # After a long pause the log rows may have been pruned (tile_prune keeps 5 minutes): start over.
            idle = time.monotonic() - self._synced_at > _MAX_IDLE_SECONDS
            if self._horizon is None or idle or len(rectangles) > _MAX_RECTANGLES:
                self._tiles.clear()
                self._bytes = 0
            else:
                for source, *box in rectangles:
                    self._drop_touched(source, box)
            self._horizon = row.horizon
            self._synced_at = time.monotonic()
            self.generation += 1

    def _drop_touched(self, source: str, box: list[float]) -> None:
        for key in [k for k, e in self._tiles.items() if source in e.tables and _overlap(e.bounds, box)]:
            self._bytes -= len(self._tiles.pop(key).tile.data)

    def get(self, tileset: TileSet, tile: TileAddress) -> CachedTile | None:
        """The tile from memory, or None."""
        with self._lock:
            entry = self._tiles.get((tileset.id, tile.z, tile.x, tile.y))
            if entry is None:
                return None
            self._tiles.move_to_end((tileset.id, tile.z, tile.x, tile.y))
            return replace(entry.tile, status="hit")

    def put(self, tileset: TileSet, tile: TileAddress, cached: CachedTile, generation: int) -> None:
        """Keep CACHED, looked up in sync GENERATION, unless it was rendered during an edit or a sync has
        run since (that sync may have read an edit the lookup's snapshot did not see)."""
        if cached.status == "bypass" or self._horizon is None:
            return
        with self._lock:
            if generation != self.generation:
                return
            key = (tileset.id, tile.z, tile.x, tile.y)
            old = self._tiles.pop(key, None)
            self._bytes -= len(old.tile.data) if old else 0
            self._tiles[key] = _Entry(cached, tile_bounds(tile), tuple(tileset.tables))
            self._bytes += len(cached.data)
            while self._bytes > self.max_bytes and self._tiles:
                self._bytes -= len(self._tiles.popitem(last=False)[1].tile.data)


def _overlap(a: tuple[float, float, float, float], b: list[float]) -> bool:
    return a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]
