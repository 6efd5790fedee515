"""Vector tiles: per-collection OGC API Tiles, the multi-layer tile set, TileJSON, the tile matrix set.

Tiles are `application/vnd.mapbox-vector-tile`; an empty tile is `204 No Content` (MapLibre and
OpenLayers treat it as an empty tile). Every tile has a strong ETag (`If-None-Match` → 304) and
`Cache-Control: public, max-age=60, stale-while-revalidate=60`; `X-Cache` says HIT, MISS (rendered
and stored) or BYPASS (rendered while an edit of its data was in flight, not stored). A tile outside
the tile matrix set is 404, a malformed tile matrix, row or column 400 (OGC API Tiles).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api.deps import ReaderDep
from api.paging import public_base_url
from data.errors import NotFound
from maps import tilejson
from maps.registry import COLLECTIONS
from maps.tile_cache import CachedTile, MemoryTiles, get_tile
from maps.tiles import MEDIA_TYPE, MULTI_LAYER, TileAddress, TileSet, get_tileset

router = APIRouter(tags=["OGC API Tiles"])
CACHE_CONTROL = "public, max-age=60, stale-while-revalidate=60"
TMS = tilejson.TMS_ID


async def collection_tileset(  # async: a plain function dependency would cost a worker-thread hop per tile
    collection_id: Annotated[str, Path(alias="collectionId", description="a collection id from /collections")],
) -> TileSet:
    """The tile set of the path's collection (404 when there is no such collection)."""
    if collection_id not in COLLECTIONS:
        raise NotFound(f"no collection {collection_id!r}; see /collections")
    return get_tileset(collection_id)


TileSetDep = Annotated[TileSet, Depends(collection_tileset)]


def _cached_tile(memory: MemoryTiles, conn, tileset: TileSet, address: TileAddress) -> CachedTile:
    """From memory when there (after reading the invalidation log when due), else from PostgreSQL."""
    if memory.due():
        memory.sync(conn)
    found = memory.get(tileset, address)
    if found is not None:
        return found
    generation = memory.generation
    tile = get_tile(conn, tileset, address)
    memory.put(tileset, address, tile, generation)
    return tile


async def _tile_response(request: Request, conn, tileset: TileSet, z: str, x: str, y: str) -> Response:
    address = TileAddress.parse(z, x, y)
    memory: MemoryTiles = request.app.state.tile_memory
    # A memory hit needs neither the database nor a worker thread.
    tile = None if memory.due() else memory.get(tileset, address)
    if tile is None:
        tile = await run_in_threadpool(_cached_tile, memory, conn, tileset, address)
    headers = {"ETag": tile.etag, "Cache-Control": CACHE_CONTROL, "X-Cache": tile.status.upper()}
    if tile.etag in (request.headers.get("if-none-match") or "").replace("W/", "").split(", "):
        return Response(status_code=304, headers=headers)
    if not tile.data:
        return Response(status_code=204, headers=headers)
    return Response(tile.data, media_type=MEDIA_TYPE, headers=headers)


@router.get("/tileMatrixSets", summary="The tile matrix sets")
def tile_matrix_sets(request: Request) -> dict:
    """The tile matrix sets tiles are offered on (WebMercatorQuad)."""
    return tilejson.tile_matrix_sets(public_base_url(request))


@router.get(f"/tileMatrixSets/{TMS}", summary="The WebMercatorQuad tile matrix set")
def web_mercator_quad() -> dict:
    """The definition of WebMercatorQuad (OGC 17-083r4), zooms 0–22."""
    return tilejson.tile_matrix_set()


@router.get("/collections/{collectionId}/tiles", summary="The tile sets of a collection")
def collection_tilesets(request: Request, tileset: TileSetDep) -> dict:
    """The collection's vector tile sets: one, on WebMercatorQuad."""
    return tilejson.tileset_list(tileset, public_base_url(request))


@router.get(f"/collections/{{collectionId}}/tiles/{TMS}", summary="A collection's tile set")
def collection_tileset_metadata(request: Request, tileset: TileSetDep, conn: ReaderDep) -> dict:
    """The tile set's metadata: layers, limits, links to the tile template and TileJSON."""
    return tilejson.tileset_document(tileset, public_base_url(request), tilejson.data_bounds(conn))


@router.get(f"/collections/{{collectionId}}/tiles/{TMS}/tilejson.json", summary="A collection's TileJSON")
def collection_tilejson(request: Request, tileset: TileSetDep, conn: ReaderDep) -> Response:
    """TileJSON 3.0.0 of the collection's tiles."""
    return JSONResponse(tilejson.tilejson(tileset, public_base_url(request), tilejson.data_bounds(conn)))


@router.get(f"/collections/{{collectionId}}/tiles/{TMS}/{{tileMatrix}}/{{tileRow}}/{{tileCol}}",
            summary="A vector tile of a collection", response_class=Response,
            responses={200: {"content": {MEDIA_TYPE: {}}}, 204: {"description": "empty tile"},
                       304: {"description": "not modified"}})
async def collection_tile(request: Request, tileset: TileSetDep, conn: ReaderDep, tileMatrix: str,  # noqa: N803
                    tileRow: str, tileCol: str) -> Response:  # noqa: N803
    """One tile (row before column, as OGC API Tiles orders them)."""
    return await _tile_response(request, conn, tileset, tileMatrix, tileCol, tileRow)


@router.get("/tiles/tilejson.json", summary="TileJSON of the multi-layer tiles")
def multi_layer_tilejson(request: Request, conn: ReaderDep) -> Response:
    """TileJSON 3.0.0 of the multi-layer tile set (`/tiles/{z}/{x}/{y}.mvt`)."""
    return JSONResponse(tilejson.tilejson(get_tileset(MULTI_LAYER), public_base_url(request), tilejson.data_bounds(conn)))


@router.get("/tiles", summary="The multi-layer tile sets")
def multi_layer_tilesets(request: Request) -> dict:
    """The dataset's vector tile sets: the multi-layer set on WebMercatorQuad."""
    return tilejson.tileset_list(get_tileset(MULTI_LAYER), public_base_url(request))


@router.get(f"/tiles/{TMS}", summary="The multi-layer tile set")
def multi_layer_metadata(request: Request, conn: ReaderDep) -> dict:
    """The multi-layer tile set's metadata."""
    return tilejson.tileset_document(get_tileset(MULTI_LAYER), public_base_url(request), tilejson.data_bounds(conn))


@router.get(f"/tiles/{TMS}/{{tileMatrix}}/{{tileRow}}/{{tileCol}}", summary="A multi-layer tile (OGC path)",
            response_class=Response, responses={200: {"content": {MEDIA_TYPE: {}}}, 204: {"description": "empty"}})
async def multi_layer_ogc_tile(request: Request, conn: ReaderDep, tileMatrix: str, tileRow: str,  # noqa: N803
                         tileCol: str) -> Response:  # noqa: N803
    """One multi-layer tile, row before column."""
    return await _tile_response(request, conn, get_tileset(MULTI_LAYER), tileMatrix, tileCol, tileRow)


@router.get("/tiles/{z}/{x}/{y}.mvt", summary="A multi-layer tile (XYZ)", response_class=Response,
            responses={200: {"content": {MEDIA_TYPE: {}}}, 204: {"description": "empty tile"}})
async def multi_layer_tile(request: Request, conn: ReaderDep, z: str, x: str, y: str) -> Response:
    """One multi-layer tile: divisions, boundary lines, facilities, markers, place names."""
    return await _tile_response(request, conn, get_tileset(MULTI_LAYER), z, x, y)
