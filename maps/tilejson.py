"""Tile metadata documents: TileJSON 3.0.0, OGC API Tiles tile set lists and tile sets, and the
WebMercatorQuad tile matrix set (OGC 17-083r4). All links are absolute, built on BASE (the public
base URL, `X-Forwarded-*` honoured by the caller)."""

from __future__ import annotations

import math

from sqlalchemy import Connection, text

from maps.tiles import MAX_ZOOM, MEDIA_TYPE, MULTI_LAYER, Layer, TileSet

TMS_ID = "WebMercatorQuad"
TMS_URI = "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad"
CRS_3857 = "http://www.opengis.net/def/crs/EPSG/0/3857"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
REL_TILING_SCHEME = "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme"
TILEJSON_TYPE = "application/vnd.mapbox.tile+json"
ORIGIN = 20037508.342789244
CHINA = (73.5, 18.1, 135.1, 53.6)  # lon/lat bounds used when the divisions have no geometry yet
_FIELD_TYPES = {"string": "String", "integer": "Number", "number": "Number", "boolean": "Boolean"}
_GEOMETRY_DIMENSION = {"Point": 0, "MultiLineString": 1, "MultiPolygon": 2}


def tiles_path(tileset: TileSet) -> str:
    """The path of TILESET's OGC tile set resource (without the tile matrix set)."""
    return "/tiles" if tileset.id == MULTI_LAYER else f"/collections/{tileset.id}/tiles"


def data_bounds(conn: Connection) -> tuple[float, float, float, float]:
    """Lon/lat bounds of the loaded divisions (estimated from the planner's statistics: no scan)."""
    box = conn.execute(text("SELECT ST_XMin(b), ST_YMin(b), ST_XMax(b), ST_YMax(b) "
                            "FROM (SELECT ST_EstimatedExtent('divisions', 'geom') AS b) e")).one()
    if box[0] is None:
        return CHINA
    return tuple(round(v, 4) for v in box)  # type: ignore[return-value]


def _vector_layers(tileset: TileSet) -> list[dict]:
    merged: dict[str, dict] = {}
    for layer in tileset.layers:
        entry = merged.setdefault(layer.name, {
            "id": layer.name, "description": layer.collection.title, "fields": {},
            "minzoom": layer.min_zoom, "maxzoom": layer.max_zoom})
        entry["minzoom"] = min(entry["minzoom"], layer.min_zoom)
        entry["maxzoom"] = max(entry["maxzoom"], layer.max_zoom)
        entry["fields"].update(_fields(layer))
    return list(merged.values())


def _fields(layer: Layer) -> dict[str, str]:
    out = {}
    for name, _ in layer.properties:
        prop = layer.collection.property(name)
        out[name] = _FIELD_TYPES.get(prop.type, "String") if prop else "Number"
    return out


def tile_template(base: str, tileset: TileSet) -> str:
    """The XYZ tile URL template of TILESET (the OGC path: z/y/x)."""
    return f"{base}{tiles_path(tileset)}/{TMS_ID}/{{z}}/{{y}}/{{x}}"


def tilejson(tileset: TileSet, base: str, bounds: tuple[float, float, float, float]) -> dict:
    """The TileJSON 3.0.0 document of TILESET."""
    tiles = ([f"{base}/tiles/{{z}}/{{x}}/{{y}}.mvt"] if tileset.id == MULTI_LAYER
             else [tile_template(base, tileset)])
    center = [round((bounds[0] + bounds[2]) / 2, 4), round((bounds[1] + bounds[3]) / 2, 4),
              max(tileset.min_zoom, 3)]
    return {
        "tilejson": "3.0.0", "name": tileset.title, "description": tileset.description,
        "version": "1.0.0", "scheme": "xyz", "tiles": tiles,
        "vector_layers": _vector_layers(tileset),
        "minzoom": tileset.min_zoom, "maxzoom": tileset.max_zoom,
        "bounds": list(bounds), "center": center,
        "attribution": "区划地名 gazetteer; demo polygons are approximate",
    }


def tile_matrix_set() -> dict:
    """The WebMercatorQuad tile matrix set (zooms 0–MAX_ZOOM)."""
    matrices = [{
        "id": str(z), "scaleDenominator": 559082264.028717 / 2 ** z, "cellSize": 156543.033928041 / 2 ** z,
        "cornerOfOrigin": "topLeft", "pointOfOrigin": [-ORIGIN, ORIGIN],
        "tileWidth": 256, "tileHeight": 256, "matrixWidth": 2 ** z, "matrixHeight": 2 ** z,
    } for z in range(MAX_ZOOM + 1)]
    return {"id": TMS_ID, "title": "Google Maps Compatible for the World", "uri": TMS_URI, "crs": CRS_3857,
            "orderedAxes": ["X", "Y"],
            "wellKnownScaleSet": "http://www.opengis.net/def/wkss/OGC/1.0/GoogleMapsCompatible",
            "tileMatrices": matrices}


def tile_matrix_sets(base: str) -> dict:
    """The list of tile matrix sets (`/tileMatrixSets`)."""
    return {"tileMatrixSets": [{
        "id": TMS_ID, "title": "Google Maps Compatible for the World", "uri": TMS_URI,
        "links": [{"rel": "self", "href": f"{base}/tileMatrixSets/{TMS_ID}", "type": "application/json",
                   "title": TMS_ID}]}]}


def _tile_range(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2 ** z
    lat = max(min(lat, 85.0511), -85.0511)
    col = int((lon + 180) / 360 * n)
    row = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return min(max(col, 0), n - 1), min(max(row, 0), n - 1)


def _limits(tileset: TileSet, bounds: tuple[float, float, float, float]) -> list[dict]:
    out = []
    for z in range(tileset.min_zoom, tileset.max_zoom + 1):
        min_col, min_row = _tile_range(bounds[0], bounds[3], z)
        max_col, max_row = _tile_range(bounds[2], bounds[1], z)
        out.append({"tileMatrix": str(z), "minTileRow": min_row, "maxTileRow": max_row,
                    "minTileCol": min_col, "maxTileCol": max_col})
    return out


def _tileset_summary(tileset: TileSet, base: str) -> dict:
    href = f"{base}{tiles_path(tileset)}/{TMS_ID}"
    return {"title": f"{tileset.title} ({TMS_ID})", "dataType": "vector", "crs": CRS_3857,
            "tileMatrixSetURI": TMS_URI,
            "links": [{"rel": "self", "href": href, "type": "application/json", "title": "the tile set"},
                      {"rel": REL_TILING_SCHEME, "href": f"{base}/tileMatrixSets/{TMS_ID}",
                       "type": "application/json", "title": TMS_ID}]}


def tileset_list(tileset: TileSet, base: str) -> dict:
    """The tile sets of TILESET's resource (`…/tiles`): one, on WebMercatorQuad."""
    return {"links": [{"rel": "self", "href": f"{base}{tiles_path(tileset)}", "type": "application/json"}],
            "tilesets": [_tileset_summary(tileset, base)]}


def tileset_document(tileset: TileSet, base: str, bounds: tuple[float, float, float, float]) -> dict:
    """The OGC tile set metadata of TILESET on WebMercatorQuad."""
    href = f"{base}{tiles_path(tileset)}/{TMS_ID}"
    layers = [{"id": v["id"], "dataType": "vector", "title": v["description"],
               "minTileMatrix": str(v["minzoom"]), "maxTileMatrix": str(v["maxzoom"]),
               "propertiesSchema": {"type": "object", "properties": {
                   name: {"type": kind.lower()} for name, kind in v["fields"].items()}}}
              for v in _vector_layers(tileset)]
    for layer, source in zip(layers, _first_layers(tileset), strict=True):
        dimension = _GEOMETRY_DIMENSION.get(source.collection.geometry_type)
        if dimension is not None:
            layer["geometryDimension"] = dimension
    links = [
        {"rel": "self", "href": href, "type": "application/json", "title": "this tile set"},
        {"rel": "item", "href": f"{href}/{{tileMatrix}}/{{tileRow}}/{{tileCol}}", "templated": True,
         "type": MEDIA_TYPE, "title": "Mapbox vector tiles"},
        {"rel": "alternate", "href": f"{href}/tilejson.json" if tileset.id != MULTI_LAYER
         else f"{base}/tiles/tilejson.json", "type": TILEJSON_TYPE, "title": "TileJSON 3.0.0"},
        {"rel": REL_TILING_SCHEME, "href": f"{base}/tileMatrixSets/{TMS_ID}", "type": "application/json"},
    ]
    if tileset.id != MULTI_LAYER:
        links.append({"rel": "collection", "href": f"{base}/collections/{tileset.id}", "type": "application/json"})
    return {
        "title": tileset.title, "description": tileset.description, "keywords": list(tileset.keywords),
        "dataType": "vector", "crs": CRS_3857, "tileMatrixSetURI": TMS_URI,
        "tileMatrixSetLimits": _limits(tileset, bounds),
        "boundingBox": {"lowerLeft": [bounds[0], bounds[1]], "upperRight": [bounds[2], bounds[3]], "crs": CRS84},
        "layers": layers, "links": links,
    }


def _first_layers(tileset: TileSet) -> list[Layer]:
    seen: dict[str, Layer] = {}
    for layer in tileset.layers:
        seen.setdefault(layer.name, layer)
    return list(seen.values())
