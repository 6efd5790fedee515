"""The JSON documents of the OGC API (landing page, conformance, collections, the items envelope) and the
public base URL behind proxies (`Forwarded`, `X-Forwarded-*`)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from urllib.parse import urlencode

from maps.crs import CRS84, EPSG_URI, Crs, supported_uris
from maps.features import Extent, ItemsPage
from maps.registry import STORAGE_SRID, Collection

JSON = "application/json"
GEOJSON = "application/geo+json"
SCHEMA = "application/schema+json"
OPENAPI = "application/vnd.oai.openapi+json;version=3.0"
FEATURES = "http://www.opengis.net/spec/ogcapi-features-{}/1.0/conf/{}"
CQL2 = "http://www.opengis.net/spec/cql2/1.0/conf/{}"
TILES = "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/{}"
CONFORMANCE = [
    FEATURES.format(1, "core"), FEATURES.format(1, "oas30"), FEATURES.format(1, "geojson"),
    FEATURES.format(2, "crs"),
    FEATURES.format(3, "filter"), FEATURES.format(3, "features-filter"), FEATURES.format(3, "queryables"),
    FEATURES.format(3, "queryables-query-parameters"),
    CQL2.format("cql2-text"), CQL2.format("cql2-json"), CQL2.format("basic-cql2"),
    CQL2.format("advanced-comparison-operators"), CQL2.format("case-insensitive-comparison"),
    CQL2.format("basic-spatial-functions"), CQL2.format("basic-spatial-operators"),
    TILES.format("core"), TILES.format("tileset"), TILES.format("tilesets-list"),
    TILES.format("geodata-tilesets"), TILES.format("dataset-tilesets"), TILES.format("mvt"),
]
STORAGE_CRS = EPSG_URI.format(STORAGE_SRID)


def _forwarded(value: str) -> dict[str, str]:
    """The first element of an RFC 7239 Forwarded header as a dict."""
    first = value.split(",")[0]
    pairs = (p.split("=", 1) for p in first.split(";") if "=" in p)
    return {k.strip().lower(): v.strip().strip('"') for k, v in pairs}


def public_base(headers: Mapping[str, str], scheme: str, netloc: str, root_path: str = "") -> str:
    """The base URL clients see: the request's, unless a proxy told otherwise."""
    forwarded = _forwarded(headers.get("forwarded", ""))
    scheme = (headers.get("x-forwarded-proto") or forwarded.get("proto") or scheme).split(",")[0].strip()
    host = (headers.get("x-forwarded-host") or forwarded.get("host") or netloc).split(",")[0].strip()
    port = (headers.get("x-forwarded-port") or "").split(",")[0].strip()
    if port and ":" not in host.rsplit("]", 1)[-1] and port != {"http": "80", "https": "443"}.get(scheme):
        host = f"{host}:{port}"
    prefix = (headers.get("x-forwarded-prefix") or "").split(",")[0].strip().rstrip("/")
    if prefix and not prefix.startswith("/"):
        prefix = "/" + prefix
    return f"{scheme}://{host}{prefix}{root_path.rstrip('/')}"


def link(href: str, rel: str, type_: str, title: str | None = None) -> dict:
    """One OGC link object."""
    out = {"href": href, "rel": rel, "type": type_}
    if title:
        out["title"] = title
    return out


def landing_page(base: str) -> dict:
    """The landing page (`/`)."""
    return {
        "title": "gazetteer",
        "description": "区划地名 service: divisions, place names, addresses, boundaries, facilities, maps "
                       "(OGC API Features Parts 1–3)",
        "links": [
            link(f"{base}/", "self", JSON, "this document"),
            link(f"{base}/api", "service-desc", OPENAPI, "the API definition"),
            link(f"{base}/docs", "service-doc", "text/html", "the API documentation"),
            link(f"{base}/conformance", "conformance", JSON, "conformance classes"),
            link(f"{base}/collections", "data", JSON, "feature collections"),
            link(f"{base}/tiles", "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector", JSON,
                 "vector tiles of every layer (divisions, lines, markers, names, facilities)"),
            link(f"{base}/tileMatrixSets", "http://www.opengis.net/def/rel/ogc/1.0/tiling-schemes", JSON,
                 "tile matrix sets"),
            link(f"{base}/maps", "alternate", "text/html", "map pages"),
            link(f"{base}/health", "status", JSON, "service health"),
            link(f"{base}/maps/divisions/330500", "example-map", "text/html", "an example map"),
        ],
    }


def conformance() -> dict:
    """The conformance declaration."""
    return {"conformsTo": CONFORMANCE}


def collection_document(collection: Collection, extent: Extent, base: str) -> dict:
    """One collection's description."""
    url = f"{base}/collections/{collection.id}"
    temporal = [[_day(extent.start), _day(extent.end)]]
    doc = {
        "id": collection.id, "title": collection.title, "description": collection.description,
        "keywords": list(collection.keywords), "itemType": "feature",
        "extent": {"temporal": {"interval": temporal, "trs": "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"}},
        "crs": supported_uris(), "storageCrs": STORAGE_CRS,
        "links": [
            link(url, "self", JSON, collection.title),
            link(f"{url}/items", "items", GEOJSON, "the features"),
            link(f"{url}/queryables", "http://www.opengis.net/def/rel/ogc/1.0/queryables", SCHEMA, "queryables"),
            link(f"{url}/schema", "describedby", SCHEMA, "schema of the features"),
            link(f"{url}/tiles", "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector", JSON, "vector tiles"),
            link(f"{url}/tiles", "tiles", JSON, "vector tiles"),
        ],
    }
    if extent.bbox is not None:
        doc["extent"]["spatial"] = {"bbox": [list(extent.bbox)], "crs": CRS84}
    return doc


def _day(value: dt.date | None) -> str | None:
    return None if value is None else f"{value.isoformat()}T00:00:00Z"


def collections_document(docs: list[dict], base: str) -> dict:
    """The `/collections` document."""
    return {"links": [link(f"{base}/collections", "self", JSON, "feature collections")],
            "collections": docs, "crs": supported_uris()}


def query_string(pairs: Iterable[tuple[str, str]], **replace: str) -> str:
    """PAIRS url-encoded in their order, with REPLACE's names set (replaced or appended)."""
    kept = [(k, v) for k, v in pairs if k not in replace]
    return urlencode(kept + list(replace.items()))


def items_document(page: ItemsPage, url: str, pairs: list[tuple[str, str]], crs: Crs, stamp: str) -> str:
    """The items FeatureCollection as JSON text around the features PostgreSQL serialised."""
    own = query_string(pairs)
    links = [link(url + (f"?{own}" if own else ""), "self", GEOJSON, "this page")]
    if page.next_key is not None:
        links.append(link(f"{url}?{query_string(pairs, after=str(page.next_key))}", "next", GEOJSON, "next page"))
    head = {"type": "FeatureCollection", "timeStamp": stamp, "numberReturned": page.number_returned}
    if page.number_matched is not None:
        head["numberMatched"] = page.number_matched
    head["links"] = links
    return json.dumps(head, ensure_ascii=False)[:-1] + ',"features":' + page.features + "}"


def content_crs(crs: Crs) -> dict[str, str]:
    """The Content-Crs header for CRS."""
    return {"Content-Crs": f"<{crs.uri}>"}
