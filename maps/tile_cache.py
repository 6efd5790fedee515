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
from collections.abc import Iterable
from dataclasses import dataclass

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
