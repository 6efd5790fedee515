"""OGC API Features Parts 1–3: conformance, collections, items, one item, queryables and schema.

The query strings are parsed by `maps.features` (not by FastAPI), so every invalid or unknown
parameter is a 400 as the standard asks; the parameters are documented per collection in `/api` by
`maps.ogc_openapi`.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Path, Request, Response
from sqlalchemy import Connection

from api.deps import ReaderDep
from api.paging import public_base_url
from data.errors import NotFound
from maps import features, ogc_documents
from maps.crs import parse_crs
from maps.ogc_openapi import ogc_openapi
from maps.registry import COLLECTIONS, Collection

router = APIRouter(tags=["OGC API Features"])
JSON = "application/json"


def install_openapi(app: FastAPI) -> None:
    """Serve the OGC OpenAPI 3.0 document (with the per-collection items paths) at the app's /api."""
    generate = app.openapi

    def openapi() -> dict:
        if getattr(app.state, "ogc_openapi", None) is None:
            app.state.ogc_openapi = ogc_openapi(generate())
        return app.state.ogc_openapi

    app.openapi = openapi


def _pairs(request: Request) -> list[tuple[str, str]]:
    return request.query_params.multi_items()


def _check_json(request: Request) -> None:
    params: dict[str, list[str]] = {}
    for name, value in _pairs(request):
        params.setdefault(name, []).append(value)
    features.check_format(params, ("json",))


def _listed(conn: Connection, collection: Collection) -> bool:
    return collection.listed_when_empty or features.collection_extent(conn, collection).has_features


def get_collection(
    collection_id: Annotated[str, Path(alias="collectionId", description="a collection id from /collections")],
    conn: ReaderDep,
) -> Collection:
    """The collection named in the path, or 404."""
    collection = COLLECTIONS.get(collection_id)
    if collection is None or not _listed(conn, collection):
        raise NotFound(f"no collection {collection_id!r}; see /collections")
    return collection


CollectionDep = Annotated[Collection, Depends(get_collection)]


@router.get("/conformance", summary="Conformance classes")
def conformance(request: Request) -> dict:
    """The OGC conformance classes this service implements."""
    _check_json(request)
    return ogc_documents.conformance()


@router.get("/collections", summary="Feature collections")
def collections(request: Request, conn: ReaderDep) -> dict:
    """Every collection with its extent, CRSs and links."""
    _check_json(request)
    base = public_base_url(request)
    docs = [ogc_documents.collection_document(c, features.collection_extent(conn, c), base)
            for c in COLLECTIONS.values() if _listed(conn, c)]
    return ogc_documents.collections_document(docs, base)


@router.get("/collections/{collectionId}", summary="One feature collection")
def collection(request: Request, conn: ReaderDep, collection: CollectionDep) -> dict:
    """One collection's description."""
    _check_json(request)
    extent = features.collection_extent(conn, collection)
    return ogc_documents.collection_document(collection, extent, public_base_url(request))


@router.get("/collections/{collectionId}/items", summary="Features (GeoJSON; keyset pages)",
            response_class=Response, responses={200: {"content": {"application/geo+json": {}}}})
def items(request: Request, conn: ReaderDep, collection: CollectionDep) -> Response:
    """A page of features; parameters per collection are listed in /api."""
    pairs = _pairs(request)
    query = features.parse_items_query(collection, pairs)
    page = features.fetch_items(conn, collection, query)
    url = f"{public_base_url(request)}/collections/{collection.id}/items"
    stamp = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    body = ogc_documents.items_document(page, url, pairs, query.crs, stamp)
    return Response(body, media_type=ogc_documents.GEOJSON, headers=ogc_documents.content_crs(query.crs))


@router.get("/collections/{collectionId}/items/{featureId}", summary="One feature (GeoJSON)",
            response_class=Response, responses={200: {"content": {"application/geo+json": {}}}})
def item(request: Request, conn: ReaderDep, collection: CollectionDep,
         feature_id: Annotated[str, Path(alias="featureId", description="the feature's id")]) -> Response:
    """The current version of one feature."""
    params: dict[str, list[str]] = {}
    for name, value in _pairs(request):
        if name not in ("f", "crs"):
            raise features.bad(name, "unknown parameter; this path takes crs and f")
        params.setdefault(name, []).append(value)
    features.check_format(params)
    crs = parse_crs(features.single(params, "crs"))
    feature = features.fetch_item(conn, collection, feature_id, crs)
    if feature is None:
        raise NotFound(f"no feature {feature_id!r} in {collection.id}")
    base = f"{public_base_url(request)}/collections/{collection.id}"
    body = feature[:-1] + ',"links":' + json.dumps([
        ogc_documents.link(f"{base}/items/{feature_id}", "self", ogc_documents.GEOJSON),
        ogc_documents.link(base, "collection", JSON)]) + "}"
    return Response(body, media_type=ogc_documents.GEOJSON, headers=ogc_documents.content_crs(crs))


@router.get("/collections/{collectionId}/queryables", summary="Queryable properties (JSON Schema)",
            response_class=Response, responses={200: {"content": {"application/schema+json": {}}}})
def queryables(request: Request, collection: CollectionDep) -> Response:
    """The properties a filter or a property parameter may name."""
    _check_json(request)
    doc = features.queryables(collection, public_base_url(request))
    return Response(json.dumps(doc, ensure_ascii=False), media_type=ogc_documents.SCHEMA)


@router.get("/collections/{collectionId}/schema", summary="Feature schema (JSON Schema)",
            response_class=Response, responses={200: {"content": {"application/schema+json": {}}}})
def schema(request: Request, collection: CollectionDep) -> Response:
    """The schema of the features' properties."""
    _check_json(request)
    doc = features.queryables(collection, public_base_url(request))
    doc["$id"] = doc["$id"].removesuffix("queryables") + "schema"
    return Response(json.dumps(doc, ensure_ascii=False), media_type=ogc_documents.SCHEMA)
