"""The OpenAPI document served at `/api`: the app's own description brought to OpenAPI 3.0 (what the OGC
landing page announces and the OGC test suite reads), plus one explicit items path per collection
listing its property filters and `limit` (clients such as GDAL push an attribute filter to the
server only when the items path lists it). Self-contained: every `$ref` is local.
"""

from __future__ import annotations

import copy

from maps.crs import CRS84, supported_uris
from maps.features import DEFAULT_LIMIT, MAX_LIMIT
from maps.registry import COLLECTIONS, Collection, Property

OPENAPI_VERSION = "3.0.3"
_PROBLEM = {"description": "invalid parameter (problem+json)",
            "content": {"application/problem+json": {"schema": {"type": "object"}}}}


def _downgrade(node):  # noqa: C901 - one rule per JSON Schema 2020-12 construct
    """A JSON-Schema 2020-12 (OpenAPI 3.1) tree rewritten to the OpenAPI 3.0 schema dialect."""
    if isinstance(node, list):
        return [_downgrade(n) for n in node]
    if not isinstance(node, dict):
        return node
    node = {k: _downgrade(v) for k, v in node.items()}
    for key in ("anyOf", "oneOf"):
        options = node.get(key)
        if isinstance(options, list) and {"type": "null"} in options:
            rest = [o for o in options if o != {"type": "null"}]
            node.pop(key)
            if len(rest) == 1 and "$ref" not in rest[0]:
                node.update(rest[0])
            elif rest:
                node[key] = rest
            node["nullable"] = True
    if isinstance(node.get("type"), list):
        types = [t for t in node["type"] if t != "null"]
        if len(types) < len(node["type"]):
            node["nullable"] = True
        node["type"] = types[0] if len(types) == 1 else "string"
    if "const" in node:
        node["enum"] = [node.pop("const")]
    if isinstance(node.get("examples"), list) and "schema" not in node and "in" not in node:
        examples = node.pop("examples")
        if examples:
            node["example"] = examples[0]
    for bound, plain in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(node.get(bound), int | float) and not isinstance(node.get(bound), bool):
            node[plain] = node.pop(bound)
            node[bound] = True
    if "contentMediaType" in node:
        node.pop("contentMediaType")
        node.setdefault("format", "binary")
    node.pop("contentEncoding", None)
    node.pop("$schema", None)
    return node


def _param(name: str, schema: dict, description: str, *, explode: bool = True) -> dict:
    out = {"name": name, "in": "query", "required": False, "description": description, "schema": schema}
    if not explode:
        out.update(style="form", explode=False)
    return out


def _property_schema(prop: Property) -> dict:
    schema: dict = {"type": prop.type}
    if prop.format:
        schema["format"] = prop.format
    if prop.enum:
        schema["enum"] = list(prop.enum)
    return schema


def items_parameters(collection: Collection) -> list[dict]:
    """The query parameters of COLLECTION's items path."""
    crs = {"type": "string", "format": "uri", "enum": supported_uris(), "default": CRS84}
    common = [
        _param("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
               f"features per page (default {DEFAULT_LIMIT}, at most {MAX_LIMIT})"),
        _param("bbox", {"type": "array", "minItems": 4, "maxItems": 6, "items": {"type": "number"}},
               "features intersecting this box: lower corner then upper corner, in bbox-crs axis order",
               explode=False),
        _param("bbox-crs", crs, "CRS of bbox (default CRS84)"),
        _param("crs", crs, "CRS of the returned geometries (default CRS84; EPSG:4490 is lat,lon)"),
        _param("datetime", {"type": "string"},
               "valid on this date or during this interval (RFC 3339, `a/b`, `../b`, `a/..`); "
               "without it, the current features"),
        _param("filter", {"type": "string"}, "a CQL2 filter on the queryables"),
        _param("filter-lang", {"type": "string", "enum": ["cql2-text", "cql2-json"], "default": "cql2-text"},
               "the language of filter"),
        _param("filter-crs", crs, "CRS of the geometries in filter (default CRS84)"),
        _param("properties", {"type": "array", "items": {"type": "string",
                                                          "enum": [p.name for p in collection.properties]}},
               "only these properties in the features", explode=False),
        _param("after", {"type": "integer", "minimum": 0}, "keyset cursor from a `next` link"),
        _param("f", {"type": "string", "enum": ["json", "geojson"]}, "output format"),
    ]
    return common + [_param(p.name, _property_schema(p), f"{p.description} (exact match)")
                     for p in collection.properties]


def _items_path(collection: Collection) -> dict:
    return {"get": {
        "tags": ["OGC API Features"], "summary": f"{collection.title}: features",
        "description": collection.description, "operationId": f"getItems_{collection.id.replace('-', '_')}",
        "parameters": items_parameters(collection),
        "responses": {
            "200": {"description": "a page of features",
                    "content": {"application/geo+json": {"schema": {"type": "object"}}}},
            "400": _PROBLEM,
            "404": {"description": "no such collection"},
        },
    }}


def ogc_openapi(document: dict) -> dict:
    """The app's OpenAPI DOCUMENT as OpenAPI 3.0 with an explicit items path per collection."""
    out = _downgrade(copy.deepcopy(document))
    out["openapi"] = OPENAPI_VERSION
    out.pop("jsonSchemaDialect", None)
    generic = out["paths"].get("/collections/{collectionId}/items", {}).get("get")
    if generic is not None:
        generic["parameters"] = [*generic.get("parameters", []),
                                 *items_parameters(COLLECTIONS["provinces"])[:11]]
    for collection in COLLECTIONS.values():
        out["paths"][f"/collections/{collection.id}/items"] = _items_path(collection)
    return out
