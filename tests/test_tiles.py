"""Vector tiles: OGC API Tiles resources, the multi-layer tiles, TileJSON, the generalised geometry."""

from __future__ import annotations

import math

import mapbox_vector_tile
import pytest
from sqlalchemy import text

from maps.registry import COLLECTIONS
from maps.tile_cache import clear_tile_cache
from tests.boundary_builders import add_line, add_markers

MVT = "application/vnd.mapbox-vector-tile"
XIHU = "330106"  # 杭州市西湖区


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2 ** z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def inner_point(session, code: str) -> tuple[float, float]:
    row = session.execute(text("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM divisions "
                               "WHERE code = :c AND level = 3 AND valid_to IS NULL) s"), {"c": code}).one()
    return row[0], row[1]


def decode(response) -> dict:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == MVT
    return mapbox_vector_tile.decode(response.content)


def codes(layer: dict) -> set[str]:
    return {f["properties"]["code"] for f in layer["features"]}


@pytest.mark.parametrize("z", [8, 10])
def test_multi_layer_tile_over_hangzhou_has_the_county(client, session, z):
    x, y = tile_of(*inner_point(session, XIHU), z)
    tile = decode(client.get(f"/tiles/{z}/{x}/{y}.mvt"))
    assert {"divisions", "boundary_lines"} <= set(tile)
    assert "markers" not in tile or z >= 10
    xihu = [f for f in tile["divisions"]["features"] if f["properties"]["code"] == XIHU]
    assert len(xihu) == 1, "one feature per county: its pieces are joined again"
    assert xihu[0]["properties"]["name"] == "西湖区"
    assert xihu[0]["properties"]["level"] == 3
    assert xihu[0]["geometry"]["type"] in ("Polygon", "MultiPolygon")
    assert {f["properties"]["level"] for f in tile["divisions"]["features"]} == {3}


def test_multi_layer_divisions_change_level_with_zoom(client, session):
    lon, lat = inner_point(session, XIHU)
    for z, level, code in ((4, 1, "330000"), (6, 2, "330100"), (9, 3, XIHU)):
        features = decode(client.get("/tiles/{}/{}/{}.mvt".format(z, *tile_of(lon, lat, z))))["divisions"]["features"]
        assert {f["properties"]["level"] for f in features} == {level}
        assert code in {f["properties"]["code"] for f in features}


def test_collection_tile_matches_the_ogc_path_and_the_database(client, session):
    x, y = tile_of(*inner_point(session, XIHU), 10)
    tile = decode(client.get(f"/collections/counties/tiles/WebMercatorQuad/10/{y}/{x}"))
    assert list(tile) == ["counties"]
    names = dict(session.execute(text("SELECT code, name FROM divisions WHERE level = 3 AND valid_to IS NULL "
                                      "AND code = ANY(:c)"), {"c": list(codes(tile["counties"]))}).all())
    assert XIHU in names
    assert {f["properties"]["code"]: f["properties"]["name"] for f in tile["counties"]["features"]} == names
    ids = {f["id"] for f in tile["counties"]["features"]}
    assert len(ids) == len(tile["counties"]["features"]) and all(isinstance(i, int) for i in ids)


def test_geometry_stays_within_the_extent_and_buffer(client, session):
    x, y = tile_of(*inner_point(session, XIHU), 12)
    tile = decode(client.get(f"/tiles/12/{x}/{y}.mvt"))
    for layer in tile.values():
        assert layer["extent"] == 4096
        for feature in layer["features"]:
            for px, py in _points(feature["geometry"]["coordinates"]):
                assert -64 <= px <= 4096 + 64 and -64 <= py <= 4096 + 64


def _points(coords):
    if isinstance(coords[0], (int, float)):
        yield coords
        return
    for item in coords:
        yield from _points(item)


def test_marker_tile_has_the_marker_with_its_number(client, session):
    line_id = add_line(session)
    markers = add_markers(session, line_id, 2)
    marker = markers[0]
    x, y = tile_of(marker.lon, marker.lat, 14)
    tile = decode(client.get(f"/collections/markers/tiles/WebMercatorQuad/14/{y}/{x}"))
    numbers = {f["properties"]["number"]: f for f in tile["markers"]["features"]}
    assert marker.number in numbers
    assert numbers[marker.number]["properties"]["status"] == "完好"
    assert numbers[marker.number]["geometry"]["type"] == "Point"
    multi = decode(client.get(f"/tiles/14/{x}/{y}.mvt"))
    assert marker.number in {f["properties"]["number"] for f in multi["markers"]["features"]}
    below = client.get("/collections/markers/tiles/WebMercatorQuad/9/{1}/{0}".format(*tile_of(marker.lon,
                                                                                                 marker.lat, 9)))
    assert below.status_code == 204, "markers start at z10"


def test_a_tile_outside_china_is_empty(client):
    x, y = tile_of(-30.0, 0.0, 8)  # the middle of the Atlantic
    for url in (f"/tiles/8/{x}/{y}.mvt", f"/collections/counties/tiles/WebMercatorQuad/8/{y}/{x}"):
        response = client.get(url)
        assert response.status_code == 204
        assert response.content == b""
        assert response.headers["etag"]


@pytest.mark.parametrize(("url", "status"), [
    ("/tiles/23/0/0.mvt", 404),
    ("/tiles/3/8/0.mvt", 404),
    ("/tiles/3/0/8.mvt", 404),
    ("/collections/counties/tiles/WebMercatorQuad/2/4/0", 404),
    ("/collections/counties/tiles/WebMercatorQuad/30/0/0", 404),
    ("/tiles/x/0/0.mvt", 400),
    ("/collections/counties/tiles/WebMercatorQuad/1/-1/0", 400),
    ("/collections/counties/tiles/WebMercatorQuad/1/0/1.5", 400),
    ("/collections/nowhere/tiles/WebMercatorQuad/1/0/0", 404),
    ("/collections/counties/tiles/WorldCRS84Quad/1/0/0", 404),
])
def test_bad_tile_addresses_are_client_errors(client, url, status):
    response = client.get(url)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"


FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "maps.example.cn", "X-Forwarded-Prefix": "/gis"}


def test_tilejson_of_a_collection(client):
    doc = client.get("/collections/counties/tiles/WebMercatorQuad/tilejson.json", headers=FORWARDED).json()
    assert doc["tilejson"] == "3.0.0"
    assert doc["tiles"] == ["https://maps.example.cn/gis/collections/counties/tiles/WebMercatorQuad/{z}/{y}/{x}"]
    [layer] = doc["vector_layers"]
    assert layer["id"] == "counties"
    assert layer["fields"]["code"] == "String"
    assert (layer["minzoom"], layer["maxzoom"]) == (6, 22)
    assert (doc["minzoom"], doc["maxzoom"]) == (6, 22)
    west, south, east, north = doc["bounds"]
    assert -180 <= west < 120.1 < east <= 180 and -90 <= south < 30.3 < north <= 90  # 杭州 inside
    assert len(doc["center"]) == 3


def test_tilejson_of_the_multi_layer_tiles(client):
    doc = client.get("/tiles/tilejson.json", headers=FORWARDED).json()
    assert doc["tilejson"] == "3.0.0"
    assert doc["tiles"] == ["https://maps.example.cn/gis/tiles/{z}/{x}/{y}.mvt"]
    layers = {v["id"]: v for v in doc["vector_layers"]}
    assert set(layers) == {"divisions", "boundary_lines", "markers", "placenames", "facilities"}
    assert (layers["divisions"]["minzoom"], layers["divisions"]["maxzoom"]) == (0, 22)
    assert layers["divisions"]["fields"]["level"] == "Number"
    assert layers["boundary_lines"]["minzoom"] == 3
    assert layers["markers"]["minzoom"] == 10 and layers["placenames"]["minzoom"] == 11
    assert layers["facilities"]["minzoom"] == 8
    assert "addresses" not in layers
    plain = client.get("/tiles/tilejson.json").json()
    assert plain["tiles"][0].startswith("http://testserver/tiles/")


def test_tile_matrix_set(client):
    listed = client.get("/tileMatrixSets").json()["tileMatrixSets"]
    assert [t["id"] for t in listed] == ["WebMercatorQuad"]
    assert listed[0]["links"][0]["href"].endswith("/tileMatrixSets/WebMercatorQuad")
    tms = client.get("/tileMatrixSets/WebMercatorQuad").json()
    assert tms["crs"] == "http://www.opengis.net/def/crs/EPSG/0/3857"
    assert tms["uri"] == "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad"
    matrices = tms["tileMatrices"]
    assert [m["id"] for m in matrices] == [str(z) for z in range(23)]
    assert matrices[0]["matrixWidth"] == 1 and matrices[10]["matrixHeight"] == 1024
    assert matrices[0]["cellSize"] == pytest.approx(2 * math.pi * 6378137 / 256)
    assert matrices[5]["scaleDenominator"] == pytest.approx(matrices[4]["scaleDenominator"] / 2)
    assert matrices[3]["pointOfOrigin"] == [pytest.approx(-20037508.3427892), pytest.approx(20037508.3427892)]


def test_tilesets_and_tileset_metadata_link_the_tiles(client, session):
    base = "https://maps.example.cn/gis"
    listing = client.get("/collections/markers/tiles", headers=FORWARDED).json()
    [summary] = listing["tilesets"]
    assert summary["dataType"] == "vector"
    self_link = next(link["href"] for link in summary["links"] if link["rel"] == "self")
    assert self_link == f"{base}/collections/markers/tiles/WebMercatorQuad"
    doc = client.get("/collections/markers/tiles/WebMercatorQuad", headers=FORWARDED).json()
    rels = {link["rel"]: link for link in doc["links"]}
    assert rels["item"]["href"] == f"{base}/collections/markers/tiles/WebMercatorQuad/{{tileMatrix}}/{{tileRow}}/{{tileCol}}"
    assert rels["item"]["templated"] is True and rels["item"]["type"] == MVT
    assert rels["alternate"]["href"] == f"{base}/collections/markers/tiles/WebMercatorQuad/tilejson.json"
    assert rels["http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme"]["href"] == f"{base}/tileMatrixSets/WebMercatorQuad"
    assert doc["layers"][0]["id"] == "markers" and doc["layers"][0]["geometryDimension"] == 0
    limits = {lim["tileMatrix"]: lim for lim in doc["tileMatrixSetLimits"]}
    assert min(int(z) for z in limits) == 10
    x, y = tile_of(*inner_point(session, XIHU), 12)
    assert limits["12"]["minTileCol"] <= x <= limits["12"]["maxTileCol"]
    assert limits["12"]["minTileRow"] <= y <= limits["12"]["maxTileRow"]
    multi = client.get("/tiles/WebMercatorQuad", headers=FORWARDED).json()
    assert {layer["id"] for layer in multi["layers"]} >= {"divisions", "markers"}
    assert client.get("/tiles").json()["tilesets"][0]["links"][0]["href"].endswith("/tiles/WebMercatorQuad")


def test_every_collection_has_tiles(client):
    for cid in COLLECTIONS:
        response = client.get(f"/collections/{cid}/tiles/WebMercatorQuad/tilejson.json")
        assert response.status_code == 200, cid
        assert response.json()["vector_layers"][0]["id"] == cid
        assert client.get(f"/collections/{cid}/tiles/WebMercatorQuad/0/0/0").status_code in (200, 204)


def test_layers_run_as_prepared_statements(client, session, connection):
    clear_tile_cache(connection)  # rendered, not taken from the cache
    x, y = tile_of(*inner_point(session, XIHU), 11)
    client.get(f"/tiles/11/{x}/{y}.mvt")
    prepared = connection.execute(text("SELECT statement FROM pg_prepared_statements "
                                       "WHERE statement LIKE '%ST_AsMVT(q, %'")).scalars().all()
    layers = {s.split("ST_AsMVT(q, '")[1].split("'")[0] for s in prepared}
    assert {"divisions", "boundary_lines", "facilities", "markers", "placenames"} <= layers


def test_generalised_pieces_cover_each_band_and_stay_small(session):
    rows = session.execute(text("""
        SELECT b.band, b.subdivide_vertices, count(p.*) AS pieces, max(ST_NPoints(p.geom)) AS most,
               ST_Area(ST_Union(p.geom)) / ST_Area(ST_Transform(d.geom, 3857)) AS covered
        FROM divisions d JOIN tile_parts p ON p.source = 'divisions' AND p.source_id = d.id
        JOIN tile_bands b ON b.band = p.band
        WHERE d.code = :c AND d.level = 3 AND d.valid_to IS NULL GROUP BY b.band, b.subdivide_vertices, d.geom
        ORDER BY b.band"""), {"c": XIHU}).all()
    assert [r.band for r in rows] == session.execute(text("SELECT band FROM tile_bands ORDER BY band")).scalars().all()
    for row in rows:
        if row.subdivide_vertices:
            assert row.most <= row.subdivide_vertices
        assert row.covered == pytest.approx(1, abs=0.1)
    assert rows[-1].covered == pytest.approx(1, abs=0.001), "the last band keeps the stored geometry"


def test_an_edited_division_gets_new_pieces(session):
    before = session.execute(text("SELECT ST_XMin(ST_Extent(p.geom)) FROM tile_parts p JOIN divisions d "
                                  "ON p.source = 'divisions' AND p.source_id = d.id "
                                  "WHERE d.code = :c AND d.level = 3 AND d.valid_to IS NULL"), {"c": XIHU}).scalar()
    session.execute(text("UPDATE divisions SET geom = ST_Translate(geom, 0.1, 0) "
                         "WHERE code = :c AND level = 3 AND valid_to IS NULL"), {"c": XIHU})
    after = session.execute(text("SELECT ST_XMin(ST_Extent(p.geom)), count(DISTINCT band) FROM tile_parts p "
                                 "JOIN divisions d ON p.source = 'divisions' AND p.source_id = d.id "
                                 "WHERE d.code = :c AND d.level = 3 AND d.valid_to IS NULL"), {"c": XIHU}).one()
    assert after[0] - before == pytest.approx(0.1 * 111_319.49, rel=0.01)  # 0.1° of longitude in metres
    assert after[1] == session.execute(text("SELECT count(*) FROM tile_bands")).scalar()
