"""OGC API Features items from a registry `Collection`: parse the query parameters, build one SQL
statement per page and return the GeoJSON built by PostgreSQL.

Paging is keyset on the collection's `key_sql` (never OFFSET), so page 100 costs what page 1 does. The
features are serialised in SQL (`ST_AsGeoJSON`, `json_build_object`, `string_agg`); Python only wraps
the array. `numberMatched` is given on the first page (no cursor) when the match count is at most
COUNT_CAP, counted with a LIMIT-ed subquery, so it is exact whenever present; above the cap, and on
later pages, it is left out (the standard makes it optional; clients read it as a hint and walk
`next`). An unfiltered page is one statement; a filtered one is two (the capped count first, which
also decides the plan: see `items_statement`).
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, text

from maps.cql2 import FILTER_LANGS, GEOMETRY, SqlFilter, compile_filter
from maps.crs import DEFAULT, Crs, bad, box_to_storage, from_storage_sql, parse_crs
from maps.registry import STORAGE_SRID, Collection, Property

DEFAULT_LIMIT = 10
MAX_LIMIT = 10_000
COUNT_CAP = 10_000
BIGINT = 2**63 - 1
EXTENT_TTL_S = 60.0
SMALL_TABLE_ROWS = 200_000  # above this, extents come from the planner's statistics
QUERY_PARAMS = ("f", "limit", "after", "bbox", "bbox-crs", "crs", "datetime", "filter", "filter-lang",
                "filter-crs", "properties")
_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


@dataclass(frozen=True)
class Interval:
    """A datetime parameter as dates: an instant has start == end; None is an open end."""

    start: dt.date | None
    end: dt.date | None

    @classmethod
    def from_query(cls, value: str) -> Interval:
        """Parse an RFC 3339 instant or interval (`a/b`, `../b`, `a/..`, empty = open)."""
        parts = value.split("/")
        if len(parts) == 1:
            instant = _date(parts[0])
            return cls(instant, instant)
        if len(parts) != 2:
            raise bad("datetime", "give an instant or an interval start/end")
        start, end = (None if p in ("", "..") else _date(p) for p in parts)
        if start is None and end is None:
            raise bad("datetime", "an interval needs at least one end")
        if start and end and start > end:
            raise bad("datetime", "the interval's start is after its end")
        return cls(start, end)


def _date(value: str) -> dt.date:
    """A date, or the Asia/Shanghai calendar day of a date-time (valid times are days)."""
    try:
        if len(value) == 10:
            return dt.date.fromisoformat(value)
        moment = dt.datetime.fromisoformat(value.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        raise bad("datetime", f"{value!r} is not an RFC 3339 date or date-time") from None
    if moment.tzinfo is None:
        raise bad("datetime", f"{value!r} needs a time zone (e.g. Z)")
    return moment.astimezone(dt.timezone(dt.timedelta(hours=8))).date()


@dataclass(frozen=True)
class BBox:
    """A bbox parameter as storage lon/lat boxes (two when it crosses the antimeridian)."""

    boxes: tuple[tuple[float, float, float, float], ...]

    @classmethod
    def from_query(cls, value: str, crs: Crs) -> BBox:
        """Parse 4 or 6 numbers in CRS's axis order (lower corner, then upper corner)."""
        try:
            numbers = [float(v) for v in value.split(",")]
        except ValueError:
            raise bad("bbox", "bbox takes 4 or 6 comma-separated numbers") from None
        if len(numbers) not in (4, 6) or not all(map(_finite, numbers)):
            raise bad("bbox", "bbox takes 4 or 6 comma-separated finite numbers")
        half = len(numbers) // 2
        lower, upper = numbers[:2], numbers[half:half + 2]
        minx, miny, maxx, maxy = box_to_storage((*lower, *upper), crs)
        if miny > maxy or (not crs.geographic and minx > maxx):
            raise bad("bbox", "the lower corner is above the upper corner")
        if crs.geographic and not (-90 <= miny <= 90 and -90 <= maxy <= 90
                                   and -180 <= minx <= 180 and -180 <= maxx <= 180):
            raise bad("bbox", "longitudes are in [-180, 180], latitudes in [-90, 90]")
        if minx > maxx:  # crosses the antimeridian
            return cls(((minx, miny, 180.0, maxy), (-180.0, miny, maxx, maxy)))
        return cls(((minx, miny, maxx, maxy),))


def _finite(x: float) -> bool:
    return x == x and abs(x) != float("inf")


@dataclass(frozen=True)
class ItemsQuery:
    """A parsed items request."""

    limit: int = DEFAULT_LIMIT
    after: int | None = None
    bbox: BBox | None = None
    crs: Crs = DEFAULT
    datetime: Interval | None = None
    equals: tuple[tuple[Property, object], ...] = ()
    filter: SqlFilter | None = None
    properties: tuple[Property, ...] | None = None


@dataclass(frozen=True)
class ItemsPage:
    """One page: the features as a JSON array text, and what the envelope needs."""

    features: str
    number_returned: int
    next_key: int | None
    number_matched: int | None


def single(params: dict[str, list[str]], name: str) -> str | None:
    """The one value of NAME in PARAMS (None when absent), or a 400 when repeated."""
    values = params.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise bad(name, "give this parameter once")
    return values[0]


def _int(value: str, name: str, low: int, high: int) -> int:
    if not value.isascii() or not value.strip().lstrip("+").isdigit():
        raise bad(name, f"expected an integer from {low} to {high}")
    number = int(value)
    if not low <= number <= high:
        raise bad(name, f"expected an integer from {low} to {high}")
    return number


def property_value(prop: Property, value: str) -> object:
    """A property parameter's text as the property's type, or a 400."""
    try:
        if prop.type == "integer":
            return _int(value, prop.name, -BIGINT, BIGINT)
        if prop.type == "number":
            number = float(value)
            if not _finite(number):
                raise ValueError
            return number
        if prop.type == "boolean":
            return {"true": True, "false": False}[value.lower()]
        if prop.format == "date":
            return dt.date.fromisoformat(value)
    except (ValueError, KeyError):
        raise bad(prop.name, f"{value!r} is not a valid {prop.format or prop.type}") from None
    if prop.enum and value not in prop.enum:
        raise bad(prop.name, f"one of {', '.join(prop.enum)}")
    return value


def check_format(params: dict[str, list[str]], allowed: tuple[str, ...] = ("json", "geojson")) -> None:
    """400 unless `f` is absent or one of ALLOWED."""
    value = single(params, "f")
    if value is not None and value not in allowed:
        raise bad("f", f"supported formats: {', '.join(allowed)}")


def parse_items_query(collection: Collection, pairs: Iterable[tuple[str, str]]) -> ItemsQuery:
    """Parse an items query string (name, value pairs) for COLLECTION; 400 on anything invalid."""
    params: dict[str, list[str]] = {}
    for name, value in pairs:
        if name not in QUERY_PARAMS and collection.property(name) is None:
            raise bad(name, "unknown parameter; see the OpenAPI description at /api")
        params.setdefault(name, []).append(value)
    check_format(params)
    limit = single(params, "limit")
    after = single(params, "after")
    crs = parse_crs(single(params, "crs"), "crs")
    bbox = single(params, "bbox")
    bbox_crs = single(params, "bbox-crs")
    if bbox_crs is not None and bbox is None:
        raise bad("bbox-crs", "bbox-crs needs a bbox")
    moment = single(params, "datetime")
    return ItemsQuery(
        limit=DEFAULT_LIMIT if limit is None else _int(limit, "limit", 1, MAX_LIMIT),
        after=None if after is None else _int(after, "after", 0, BIGINT),
        bbox=None if bbox is None else BBox.from_query(bbox, parse_crs(bbox_crs, "bbox-crs")),
        crs=crs,
        datetime=None if moment is None else Interval.from_query(moment),
        equals=tuple((p, property_value(p, single(params, p.name) or ""))
                     for p in collection.properties if p.name in params),
        filter=_filter(collection, params),
        properties=_selected(collection, single(params, "properties")),
    )


def _filter(collection: Collection, params: dict[str, list[str]]) -> SqlFilter | None:
    value = single(params, "filter")
    lang = single(params, "filter-lang")
    filter_crs = single(params, "filter-crs")
    if value is None:
        if lang is not None or filter_crs is not None:
            raise bad("filter-lang" if lang is not None else "filter-crs", "needs a filter")
        return None
    return compile_filter(collection, value, lang or FILTER_LANGS[0], parse_crs(filter_crs, "filter-crs"))


def _selected(collection: Collection, value: str | None) -> tuple[Property, ...] | None:
    if value is None:
        return None
    names = [n.strip() for n in value.split(",") if n.strip()]
    unknown = [n for n in names if collection.property(n) is None]
    if unknown:
        raise bad("properties", f"unknown properties {', '.join(unknown)}")
    return tuple(p for p in collection.properties if p.name in names)


def _conditions(collection: Collection, query: ItemsQuery, params: dict) -> list[str]:
    """The WHERE conjuncts of QUERY, adding their bind values to PARAMS."""
    conds = [collection.where]
    if query.datetime is None:
        conds.append(collection.current)
    else:
        if query.datetime.end is not None:
            conds.append(f"{collection.valid_from_sql} <= :t_end")
            params["t_end"] = query.datetime.end
        if query.datetime.start is not None:
            conds.append(f"({collection.valid_to_sql} IS NULL OR {collection.valid_to_sql} > :t_start)")
            params["t_start"] = query.datetime.start
    for i, (prop, value) in enumerate(query.equals):
        conds.append(f"{prop.sql} = :q{i}")
        params[f"q{i}"] = value
    if query.bbox is not None:
        envelopes = []
        for i, box in enumerate(query.bbox.boxes):
            names = [f"b{i}_{j}" for j in range(4)]
            params.update(zip(names, box, strict=True))
            envelopes.append(f"ST_Intersects({collection.geom_sql}, ST_MakeEnvelope("
                             f"{', '.join(':' + n for n in names)}, {STORAGE_SRID}))")
        conds.append("(" + " OR ".join(envelopes) + ")")
    if query.filter is not None:
        conds.append(query.filter.sql)
        params.update(query.filter.params)
    return conds


def _properties_json(props: Iterable[Property]) -> str:
    pairs = []
    for i, prop in enumerate(props):
        assert _NAME.match(prop.name), prop.name  # registry names are embedded as SQL literals
        pairs.append(f"'{prop.name}', _p{i}")
    return f"json_build_object({', '.join(pairs)})::text" if pairs else "'{}'"


def _feature_sql(crs: Crs, props: tuple[Property, ...]) -> str:
    """The SQL text of one Feature over the columns of the page (`_id`, `_g`, `_p0…`)."""
    geometry = f"ST_AsGeoJSON({from_storage_sql('_g', crs)}, {crs.decimals}, 0)"
    return ("""'{"type":"Feature","id":' || to_json(_id)::text || ',"geometry":' || """
            f"coalesce({geometry}, 'null') || ',\"properties\":' || {_properties_json(props)} || '}}'")


def _select_list(collection: Collection, props: tuple[Property, ...]) -> str:
    columns = [f"{collection.key_sql} AS _k", f"{collection.id_sql} AS _id", f"{collection.geom_sql} AS _g"]
    columns += [f"{p.sql} AS _p{i}" for i, p in enumerate(props)]
    return ", ".join(columns)


def items_statement(collection: Collection, query: ItemsQuery, *, count: bool = True,
                    sort_matches: bool = False) -> tuple[str, dict]:
    """The SQL of one page of QUERY and its bind values.

    COUNT adds the capped match count (first page). SORT_MATCHES orders by `key + 0`, so PostgreSQL
    finds the matches by their own index and sorts them, instead of walking the key index and
    testing every row: right when few rows match, as the planner cannot tell where they lie.
    """
    params: dict[str, object] = {"lim": query.limit, "lim1": query.limit + 1}
    where = " AND ".join(f"({c})" for c in _conditions(collection, query, params))
    props = query.properties if query.properties is not None else collection.properties
    page_where = where + (f" AND {collection.key_sql} > :after" if query.after is not None else "")
    if query.after is not None:
        params["after"] = query.after
    matched = "NULL::bigint"
    if count and query.after is None:
        params["cap1"] = COUNT_CAP + 1
        matched = f"(SELECT count(*) FROM (SELECT 1 FROM {collection.source} WHERE {where} LIMIT :cap1) c)"
    order = f"{collection.key_sql} + 0" if sort_matches else collection.key_sql
    sql = (f"WITH page AS (SELECT {_select_list(collection, props)} FROM {collection.source} "
           f"WHERE {page_where} ORDER BY {order} LIMIT :lim1), "
           "numbered AS (SELECT *, row_number() OVER (ORDER BY _k) AS _n FROM page) "
           f"SELECT coalesce(string_agg({_feature_sql(query.crs, props)}, ',' ORDER BY _k) "
           "FILTER (WHERE _n <= :lim), '') AS features, "
           "count(*) FILTER (WHERE _n <= :lim) AS returned, max(_k) FILTER (WHERE _n <= :lim) AS last_key, "
           f"count(*) > :lim AS more, {matched} AS matched FROM numbered")
    return sql, params


def _remaining(conn: Connection, collection: Collection, query: ItemsQuery) -> int:
    """How many features match QUERY from its cursor on, counted up to COUNT_CAP + 1."""
    params: dict[str, object] = {"cap1": COUNT_CAP + 1}
    conds = _conditions(collection, query, params)
    if query.after is not None:
        conds.append(f"{collection.key_sql} > :after")
        params["after"] = query.after
    where = " AND ".join(f"({c})" for c in conds)
    sql = f"SELECT count(*) FROM (SELECT 1 FROM {collection.source} WHERE {where} LIMIT :cap1) c"
    return conn.execute(text(sql), params).scalar_one()


def fetch_items(conn: Connection, collection: Collection, query: ItemsQuery) -> ItemsPage:
    """One page of COLLECTION's features for QUERY.

    Unfiltered pages are one statement. Filtered ones first count the remaining matches (capped),
    which gives `numberMatched` and tells whether to sort the matches or walk the key index.
    """
    filtered = bool(query.bbox or query.filter or query.equals or query.datetime)
    remaining = _remaining(conn, collection, query) if filtered else None
    sort_matches = remaining is not None and remaining <= COUNT_CAP
    sql, params = items_statement(collection, query, count=not filtered, sort_matches=sort_matches)
    row = conn.execute(text(sql), params).one()
    matched = row.matched if not filtered else (remaining if query.after is None else None)
    if matched is not None and matched > COUNT_CAP:
        matched = None
    return ItemsPage("[" + row.features + "]", row.returned, row.last_key if row.more else None, matched)


def _id_condition(collection: Collection, feature_id: str) -> tuple[str, object] | None:
    """The SQL test for a feature id (integer ids compared as integers, so their index is used)."""
    if collection.id_sql.endswith("::text"):
        if not feature_id.isascii() or not feature_id.isdigit() or int(feature_id) > BIGINT:
            return None
        return f"{collection.id_sql.removesuffix('::text')} = :fid", int(feature_id)
    return f"{collection.id_sql} = :fid", feature_id


def fetch_item(conn: Connection, collection: Collection, feature_id: str, crs: Crs = DEFAULT) -> str | None:
    """The current version of one feature as GeoJSON text, or None."""
    condition = _id_condition(collection, feature_id)
    if condition is None:
        return None
    props = collection.properties
    sql = (f"SELECT {_feature_sql(crs, props)} FROM (SELECT {_select_list(collection, props)} "
           f"FROM {collection.source} WHERE ({collection.where}) AND ({collection.current}) "
           f"AND {condition[0]} ORDER BY {collection.key_sql} DESC LIMIT 1) f")
    return conn.execute(text(sql), {"fid": condition[1]}).scalar()


@dataclass(frozen=True)
class Extent:
    """A collection's extent: CRS84 bbox (None when empty) and valid-time interval (dates)."""

    bbox: tuple[float, float, float, float] | None
    start: dt.date | None
    end: dt.date | None
    has_features: bool


_extents: dict[str, tuple[float, Extent]] = {}


def collection_extent(conn: Connection, collection: Collection) -> Extent:
    """COLLECTION's current extent, computed at most once a minute per process."""
    cached = _extents.get(collection.id)
    if cached and time.monotonic() - cached[0] < EXTENT_TTL_S:
        return cached[1]
    extent = _compute_extent(conn, collection)
    _extents[collection.id] = (time.monotonic(), extent)
    return extent


def _compute_extent(conn: Connection, collection: Collection) -> Extent:
    base = f"FROM {collection.source} WHERE ({collection.where}) AND ({collection.current})"
    has = conn.execute(text(f"SELECT EXISTS (SELECT 1 {base})")).scalar()
    plan = conn.execute(text(f"EXPLAIN (FORMAT JSON) SELECT 1 {base}")).scalar()
    table, column = collection.source.split()[0], collection.geom_sql.removeprefix("t.")
    if plan[0]["Plan"]["Plan Rows"] > SMALL_TABLE_ROWS and re.match(r"^\w+$", column):
        box = conn.execute(text("SELECT ST_XMin(b), ST_YMin(b), ST_XMax(b), ST_YMax(b) FROM "
                                "(SELECT ST_EstimatedExtent(:t, :c)::geometry AS b) e"),
                           {"t": table, "c": column}).one()
        start = None
    else:
        box = conn.execute(text(f"SELECT ST_XMin(b), ST_YMin(b), ST_XMax(b), ST_YMax(b) FROM "
                                f"(SELECT ST_Extent({collection.geom_sql}) AS b {base}) e")).one()
        start = conn.execute(text(f"SELECT min({collection.valid_from_sql}) {base}")).scalar()
    bbox = None if box[0] is None else tuple(round(v, 6) for v in box)
    return Extent(bbox, start, None, bool(has))


def queryables(collection: Collection, base_url: str) -> dict:
    """The collection's queryables as a JSON Schema (Part 3)."""
    props: dict[str, dict] = {GEOMETRY: {"title": "geometry",
                                         "format": "geometry-" + collection.geometry_type.lower()
                                         .replace("geometry", "any"),
                                         "x-ogc-role": "primary-geometry"}}
    for prop in collection.properties:
        schema: dict = {"title": prop.name, "description": prop.description, "type": prop.type}
        if prop.format:
            schema["format"] = prop.format
        if prop.enum:
            schema["enum"] = list(prop.enum)
        props[prop.name] = schema
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"{base_url}/collections/{collection.id}/queryables", "type": "object",
            "title": collection.title, "properties": props, "additionalProperties": False}
