"""The tile cache: hits, ETag/304, and invalidation of exactly the tiles an edit touches."""

from __future__ import annotations

import math

import mapbox_vector_tile
from sqlalchemy import Engine, text

from boundaries.markers import change_marker
from maps.tile_cache import MemoryTiles, cached_tiles, clear_tile_cache, get_tile, tile_bounds
from maps.tiles import TileAddress, get_tileset
from tests.boundary_builders import add_line, add_markers

BUFFER = 64 / 4096


def fractional_tile(lon: float, lat: float, z: int) -> tuple[float, float]:
    n = 2 ** z
    return (lon + 180) / 360 * n, (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    fx, fy = fractional_tile(lon, lat, z)
    return int(fx), int(fy)


def touches(tile: tuple[int, int, int], lon: float, lat: float) -> bool:
    """Whether the point lies in the tile grown by the MVT buffer."""
    z, x, y = tile
    fx, fy = fractional_tile(lon, lat, z)
    return x - BUFFER <= fx <= x + 1 + BUFFER and y - BUFFER <= fy <= y + 1 + BUFFER


def marker_url(z: int, x: int, y: int) -> str:
    return f"/collections/markers/tiles/WebMercatorQuad/{z}/{y}/{x}"


def test_second_request_is_a_hit_with_the_same_etag(client, connection):
    url = "/tiles/9/427/211.mvt"  # 杭州
    clear_tile_cache(connection, "gazetteer", [(9, 427, 211)])  # a served app may have cached it
    first = client.get(url)
    second = client.get(url)
    assert first.status_code == second.status_code == 200
    assert (first.headers["x-cache"], second.headers["x-cache"]) == ("MISS", "HIT")
    assert first.content == second.content
    assert first.headers["etag"] == second.headers["etag"]
    assert first.headers["etag"].startswith('"') and not first.headers["etag"].startswith("W/")
    assert "max-age=" in second.headers["cache-control"] and "public" in second.headers["cache-control"]


def test_if_none_match_gives_304(client, connection):
    url = "/collections/counties/tiles/WebMercatorQuad/9/211/427"
    clear_tile_cache(connection, "counties", [(9, 427, 211)])
    etag = client.get(url).headers["etag"]
    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    other = client.get(url, headers={"If-None-Match": '"something-else"'})
    assert other.status_code == 200 and other.headers["x-cache"] == "HIT"


def test_moving_a_marker_invalidates_exactly_the_tiles_it_touches(client, session, connection):
    line_id = add_line(session)
    marker = add_markers(session, line_id, 3)[1]
    old = (marker.lon, marker.lat)
    new = (marker.lon + 0.02, marker.lat + 0.01)  # about 2 km: other tiles at z14 and z16
    far = (marker.lon - 1.5, marker.lat)          # a tile elsewhere, at every zoom
    tiles = {(z, *tile_of(*point, z)) for z in (10, 12, 14, 16) for point in (old, new, far)}
    clear_tile_cache(connection, "markers", tiles)
    for tile in tiles:
        assert client.get(marker_url(*tile)).headers["x-cache"] in ("MISS", "HIT")
    assert cached_tiles(connection, "markers") >= tiles
    before = cached_tiles(connection, "markers")

    change_marker(session, marker.id, {"position": list(new)}, source="manual", actor="test")
    session.flush()

    expected_gone = {t for t in before if touches(t, *old) or touches(t, *new)}
    assert {(z, *tile_of(*far, z)) for z in (10, 12, 14, 16)}.isdisjoint(expected_gone)
    old_16, new_16 = (16, *tile_of(*old, 16)), (16, *tile_of(*new, 16))
    assert old_16 != new_16 and {old_16, new_16} <= expected_gone
    assert {z for z, _, _ in expected_gone} == {10, 12, 14, 16}
    assert cached_tiles(connection, "markers") == before - expected_gone

    z, x, y = 16, *tile_of(*new, 16)
    response = client.get(marker_url(z, x, y))
    assert response.headers["x-cache"] == "MISS"
    features = mapbox_vector_tile.decode(response.content)["markers"]["features"]
    assert marker.number in {f["properties"]["number"] for f in features}
    z, x, y = 16, *tile_of(*old, 16)
    old_tile = client.get(marker_url(z, x, y))
    assert old_tile.status_code == 204 or marker.number not in {
        f["properties"]["number"] for f in mapbox_vector_tile.decode(old_tile.content)["markers"]["features"]}
    assert client.get(marker_url(16, *tile_of(*far, 16))).headers["x-cache"] == "HIT"


def test_multi_layer_tiles_are_invalidated_with_the_collection_tiles(client, session, connection):
    line_id = add_line(session)
    marker = add_markers(session, line_id, 2)[0]
    x, y = tile_of(marker.lon, marker.lat, 13)
    clear_tile_cache(connection, "gazetteer", [(13, x, y)])
    assert client.get(f"/tiles/13/{x}/{y}.mvt").status_code == 200
    assert client.get(f"/tiles/13/{x}/{y}.mvt").headers["x-cache"] == "HIT"
    change_marker(session, marker.id, {"status": "损坏"}, source="manual", actor="test")
    session.flush()
    assert (13, x, y) not in cached_tiles(connection, "gazetteer")
    response = client.get(f"/tiles/13/{x}/{y}.mvt")
    assert response.headers["x-cache"] == "MISS"
    statuses = {f["properties"]["number"]: f["properties"]["status"]
                for f in mapbox_vector_tile.decode(response.content)["markers"]["features"]}
    assert statuses[marker.number] == "损坏"


def test_a_division_edit_invalidates_its_tiles_and_redraws_them(client, session, connection):
    xihu = session.execute(text("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM divisions "
                                "WHERE code = '330106' AND level = 3 AND valid_to IS NULL) s")).one()
    here = (10, *tile_of(xihu[0], xihu[1], 10))
    far = (10, *tile_of(87.6, 43.8, 10))  # 乌鲁木齐
    urls = {t: f"/collections/counties/tiles/WebMercatorQuad/{t[0]}/{t[2]}/{t[1]}" for t in (here, far)}
    clear_tile_cache(connection, "counties", urls)
    before = {t: client.get(url).content for t, url in urls.items()}
    assert cached_tiles(connection, "counties") >= {here, far}

    session.execute(text("UPDATE divisions SET geom = ST_Multi(ST_Buffer(geom, -0.005)) "
                         "WHERE code = '330106' AND level = 3 AND valid_to IS NULL"))
    session.flush()

    assert here not in cached_tiles(connection, "counties")
    assert far in cached_tiles(connection, "counties")
    redrawn = client.get(urls[here])
    assert redrawn.headers["x-cache"] == "MISS"
    assert redrawn.content != before[here]
    assert client.get(urls[far]).content == before[far]


def test_an_edit_elsewhere_or_of_another_table_keeps_the_tile(client, session, connection):
    url = "/collections/counties/tiles/WebMercatorQuad/10/422/855"  # row 422, column 855: 杭州
    clear_tile_cache(connection, "counties", [(10, 855, 422)])
    assert client.get(url).headers["x-cache"] == "MISS"
    session.execute(text("UPDATE divisions SET name = name WHERE code = '650102' AND valid_to IS NULL"))  # 乌鲁木齐
    line_id = add_line(session)  # boundary lines and markers: not read by the counties tiles
    add_markers(session, line_id, 1)
    session.flush()
    assert (10, 855, 422) in cached_tiles(connection, "counties")
    assert client.get(url).headers["x-cache"] == "HIT"


def test_a_tile_rendered_while_an_edit_is_in_flight_is_not_stored(client, session, engine: Engine, connection):
    url = marker_url(12, 3420, 1689)
    clear_tile_cache(connection, "markers", [(12, 3420, 1689)])
    with engine.connect() as other:
        # another session has changed a marker and not committed yet
        other.execute(text("UPDATE markers SET status = status WHERE id = (SELECT min(id) FROM markers)"))
        first = client.get(url)
        assert first.headers["x-cache"] == "BYPASS"
        assert (12, 3420, 1689) not in cached_tiles(connection, "markers")
        other.rollback()
    assert client.get(url).headers["x-cache"] == "MISS"
    assert client.get(url).headers["x-cache"] == "HIT"


def test_memory_front_drops_exactly_the_touched_tiles_at_its_next_sync(session, connection):
    """Each server process keeps warm tiles in memory and reads the invalidation log every
    `tile_memory_sync_seconds`; the tiles an edit touched go at that read, the others stay."""
    line_id = add_line(session)
    marker = add_markers(session, line_id, 3)[1]
    session.flush()
    memory, markers = MemoryTiles(sync_seconds=3600), get_tileset("markers")
    old, far = TileAddress(14, *tile_of(marker.lon, marker.lat, 14)), TileAddress(14, *tile_of(marker.lon - 1.5,
                                                                                                  marker.lat, 14))
    memory.sync(connection)
    for address in (old, far):
        memory.put(markers, address, get_tile(connection, markers, address), memory.generation)
    assert memory.get(markers, old) is not None and memory.get(markers, far) is not None

    change_marker(session, marker.id, {"position": [marker.lon + 0.02, marker.lat + 0.01]}, source="manual",
                  actor="test")
    session.flush()
    assert memory.get(markers, old) is not None  # until the next read of the log
    memory.sync(connection)
    assert memory.get(markers, old) is None and memory.get(markers, far) is not None


def test_memory_front_keeps_nothing_looked_up_before_a_sync(connection):
    """A tile looked up before a read of the log may miss an edit that read saw: it is not kept."""
    memory, counties = MemoryTiles(sync_seconds=3600), get_tileset("counties")
    address = TileAddress(9, 427, 211)
    memory.sync(connection)
    generation = memory.generation
    tile = get_tile(connection, counties, address)
    memory.sync(connection)
    memory.put(counties, address, tile, generation)
    assert memory.get(counties, address) is None
    memory.put(counties, address, tile, memory.generation)
    assert memory.get(counties, address) is not None


def test_tile_bounds_hold_the_tile_and_its_buffer():
    west, south, east, north = tile_bounds(TileAddress(1, 1, 0))  # the north-east quarter of the world
    assert west < 0 < east and abs(west + 180 * BUFFER) < 1e-9 and east > 180
    assert -5 < south < 0 and north == math.degrees(math.atan(math.sinh(math.pi)))
