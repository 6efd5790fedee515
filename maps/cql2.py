"""CQL2 filters (OGC API Features Part 3): parse cql2-text or cql2-json with pygeofilter and compile the
tree to a parameterised SQL condition over a collection's queryable properties.

Only the collection's properties and `geometry` may be named; every literal becomes a bind parameter,
typed against the property it is compared with, so a filter can never inject SQL or reach a database
type error. ACCENTI is compiled as CASEI (lower-case comparison; PostgreSQL's unaccent extension is not
installed), so the accent-insensitive class is not declared. Temporal and array operators, arithmetic
and other functions are refused with a 400.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from itertools import count

import shapely
import shapely.errors
import shapely.geometry
from lark.exceptions import LarkError
from pygeofilter import ast, values
from pygeofilter.parsers.cql2_json import parse as parse_json
from pygeofilter.parsers.cql2_text import parse as parse_text

from maps.crs import Crs, bad, to_storage
from maps.registry import STORAGE_SRID, Collection

GEOMETRY = "geometry"
FILTER_LANGS = ("cql2-text", "cql2-json")
_COMPARISONS = {ast.Equal: "=", ast.NotEqual: "<>", ast.LessThan: "<", ast.LessEqual: "<=",
                ast.GreaterThan: ">", ast.GreaterEqual: ">="}
_SPATIAL = {ast.GeometryIntersects: "ST_Intersects", ast.GeometryContains: "ST_Contains",
            ast.GeometryWithin: "ST_Within", ast.GeometryTouches: "ST_Touches",
            ast.GeometryCrosses: "ST_Crosses", ast.GeometryOverlaps: "ST_Overlaps",
            ast.GeometryEquals: "ST_Equals"}
_CASE_FUNCTIONS = ("lower", "casei", "accenti")
_NUMERIC = ("integer", "number")


@dataclass(frozen=True)
class SqlFilter:
    """A compiled condition: SQL text with named bind parameters, and their values."""

    sql: str
    params: dict[str, object] = field(default_factory=dict)


@dataclass
class _Operand:
    sql: str
    type: str            # string | integer | number | boolean | date | geometry | literal
    value: object = None  # the Python literal while it is still unbound


class _Compiler:
    def __init__(self, collection: Collection, filter_crs: Crs, prefix: str) -> None:
        self.collection = collection
        self.filter_crs = filter_crs
        self.params: dict[str, object] = {}
        self._names = (f"{prefix}{i}" for i in count())

    def bind(self, value: object) -> str:
        name = next(self._names)
        self.params[name] = value
        return f":{name}"

    def condition(self, node) -> str:  # noqa: C901 - one dispatch over the node kinds
        if isinstance(node, ast.And | ast.Or):
            op = "AND" if isinstance(node, ast.And) else "OR"
            return f"({self.condition(node.lhs)} {op} {self.condition(node.rhs)})"
        if isinstance(node, ast.Not):
            return f"(NOT {self.condition(node.sub_node)})"
        if isinstance(node, ast.Include):
            return "false" if node.not_ else "true"
        if isinstance(node, bool):
            return "true" if node else "false"
        if isinstance(node, ast.Comparison):
            return self.comparison(node)
        if isinstance(node, ast.Like):
            return self.like(node)
        if isinstance(node, ast.Between):
            lhs = self.scalar(node.lhs)
            low, high = self.typed(node.low, lhs.type), self.typed(node.high, lhs.type)
            return f"({lhs.sql} {'NOT ' if node.not_ else ''}BETWEEN {low} AND {high})"
        if isinstance(node, ast.In):
            lhs = self.scalar(node.lhs)
            items = ", ".join(self.typed(v, lhs.type) for v in node.sub_nodes)
            return f"({lhs.sql} {'NOT ' if node.not_ else ''}IN ({items}))"
        if isinstance(node, ast.IsNull):
            return f"({self.scalar(node.lhs).sql} IS {'NOT ' if node.not_ else ''}NULL)"
        if isinstance(node, ast.GeometryDisjoint):
            return f"(NOT ST_Intersects({self.spatial(node.lhs)}, {self.spatial(node.rhs)}))"
        if type(node) in _SPATIAL:
            return f"{_SPATIAL[type(node)]}({self.spatial(node.lhs)}, {self.spatial(node.rhs)})"
        if isinstance(node, ast.BBox):
            box = values.Envelope(node.minx, node.maxx, node.miny, node.maxy)
            return f"ST_Intersects({self.spatial(node.lhs)}, {self.spatial(box)})"
        if isinstance(node, ast.TemporalPredicate | ast.ArrayPredicate):
            raise bad("filter", "temporal and array operators are not supported; compare dates with <, >, =")
        raise bad("filter", f"unsupported expression {_describe(node)}")

    def comparison(self, node: ast.Comparison) -> str:
        lhs, rhs = self.scalar(node.lhs), self.scalar(node.rhs)
        left, right = self.pair(lhs, rhs)
        return f"({left} {_COMPARISONS[type(node)]} {right})"

    def like(self, node: ast.Like) -> str:
        lhs = self.scalar(node.lhs)
        pattern = self.scalar(node.pattern)
        if lhs.type not in ("string", "literal") or not isinstance(pattern.value, str | None):
            raise bad("filter", "LIKE compares text properties with a text pattern")
        left, right = self.pair(lhs, pattern)
        op = "ILIKE" if node.nocase else "LIKE"
        return f"({left} {'NOT ' if node.not_ else ''}{op} {right} ESCAPE '\\')"

    def pair(self, lhs: _Operand, rhs: _Operand) -> tuple[str, str]:
        """SQL for two operands, binding literals typed against the property on the other side."""
        if lhs.type == "literal" and rhs.type == "literal":
            kinds = {_literal_kind(lhs.value), _literal_kind(rhs.value)}
            if len(kinds) > 1:
                raise bad("filter", f"cannot compare {lhs.value!r} with {rhs.value!r}")
        elif "literal" not in (lhs.type, rhs.type) and lhs.type != rhs.type \
                and not {lhs.type, rhs.type} <= set(_NUMERIC):
            raise bad("filter", f"cannot compare a {lhs.type} with a {rhs.type}")
        left = self.typed(lhs.value, rhs.type, lhs.sql) if lhs.type == "literal" else lhs.sql
        right = self.typed(rhs.value, lhs.type, rhs.sql) if rhs.type == "literal" else rhs.sql
        return left, right

    def typed(self, value: object, target: str, wrapper: str = "{}") -> str:
        """Bind VALUE as a parameter of the TARGET type (400 when it does not fit)."""
        if isinstance(value, ast.Function) and value.name in _CASE_FUNCTIONS and len(value.arguments) == 1:
            return self.typed(value.arguments[0], target, "lower({})")
        if isinstance(value, ast.Node | values.Geometry | values.Envelope | list | values.Interval):
            raise bad("filter", f"expected a literal, not {_describe(value)}")
        return (wrapper if "{}" in wrapper else "{}").format(self.bind(_coerce(value, target)))

    def scalar(self, node) -> _Operand:
        if isinstance(node, ast.Attribute):
            prop = self.collection.property(node.name)
            if prop is None:
                raise bad("filter", f"unknown property {node.name!r}; see the collection's queryables")
            return _Operand(prop.sql, "date" if prop.format == "date" else prop.type)
        if isinstance(node, ast.Function) and node.name in _CASE_FUNCTIONS and len(node.arguments) == 1:
            inner = self.scalar(node.arguments[0])
            if inner.type == "literal":
                return _Operand("lower({})", "literal", inner.value)
            if inner.type != "string":
                raise bad("filter", "CASEI and ACCENTI apply to text")
            return _Operand(f"lower({inner.sql})", "string")
        if node is None or isinstance(node, str | int | float | bool | dt.date):
            return _Operand("{}", "literal", node)
        raise bad("filter", f"unsupported operand {_describe(node)}")

    def spatial(self, node) -> str:
        if isinstance(node, ast.Attribute):
            if node.name != GEOMETRY:
                raise bad("filter", f"spatial operators take the property {GEOMETRY!r}, not {node.name!r}")
            return self.collection.geom_sql
        if isinstance(node, ast.Function) and node.name == "bbox" and len(node.arguments) in (4, 6):
            numbers = [_number(v) for v in node.arguments]
            minx, miny, maxx, maxy = (numbers[0], numbers[1], numbers[3], numbers[4]) if len(numbers) == 6 \
                else numbers
            node = values.Envelope(minx, maxx, miny, maxy)
        if isinstance(node, values.Envelope):
            node = values.Geometry(shapely.geometry.mapping(shapely.box(node.x1, node.y1, node.x2, node.y2)))
        if isinstance(node, values.Geometry):
            if "crs" in node.geometry:
                raise bad("filter", "give the geometry's CRS with filter-crs, not inside the literal")
            geometry = to_storage(_shape(node.geometry), self.filter_crs)
            return f"ST_GeomFromWKB({self.bind(shapely.to_wkb(geometry))}, {STORAGE_SRID})"
        raise bad("filter", f"spatial operators need {GEOMETRY!r} and a geometry, not {_describe(node)}")


def _shape(geojson: dict) -> shapely.Geometry:
    if geojson.get("type") == "GeometryCollection":
        raise bad("filter", "geometry collections are not supported in filters")
    try:
        return shapely.geometry.shape(geojson)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, shapely.errors.ShapelyError) as exc:
        raise bad("filter", f"invalid geometry: {str(exc)[:200]}") from None


def _number(value) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise bad("filter", f"BBOX takes numbers, not {value!r}")
    return float(value)


def _literal_kind(value) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def _coerce(value, target: str):  # noqa: C901 - one branch per JSON-schema type
    """VALUE as the Python type PostgreSQL expects for a TARGET property, or a 400."""
    if value is None:
        return None
    if target in ("literal",):
        return value
    if target == "string" and isinstance(value, str):
        return value
    if target == "boolean" and isinstance(value, bool):
        return value
    if target in _NUMERIC and isinstance(value, int | float) and not isinstance(value, bool):
        if target == "integer" and isinstance(value, float) and not value.is_integer():
            raise bad("filter", f"{value!r} is not an integer")
        return int(value) if target == "integer" else float(value)
    if target == "date":
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value)
            except ValueError:
                pass
    raise bad("filter", f"{value!r} does not fit a {target} property")


def _describe(node) -> str:
    if isinstance(node, ast.Function):
        return f"function {node.name}()"
    return type(node).__name__


def _normalise_json(node):
    """Bring standard CQL2 JSON to the shapes pygeofilter's JSON parser expects."""
    if isinstance(node, list):
        return [_normalise_json(n) for n in node]
    if not isinstance(node, dict):
        return node
    node = {k: _normalise_json(v) for k, v in node.items()}
    op, args = node.get("op"), node.get("args")
    if op == "between" and isinstance(args, list) and len(args) == 3:
        node["args"] = [args[0], args[1:]]
    elif op == "accenti":
        node["op"] = "casei"
    elif op in ("like", "in", "isNull", "not") and not isinstance(args, list | dict):
        raise bad("filter", f"{op} needs an args array")
    if "bbox" in node and "op" not in node and isinstance(node["bbox"], list):
        box = node["bbox"]
        if len(box) not in (4, 6) or not all(isinstance(v, int | float) for v in box):
            raise bad("filter", "a bbox literal has 4 or 6 numbers")
        minx, miny, maxx, maxy = (box[0], box[1], box[3], box[4]) if len(box) == 6 else box
        return {"type": "Polygon", "coordinates": [[[minx, miny], [maxx, miny], [maxx, maxy],
                                                     [minx, maxy], [minx, miny]]]}
    return node


def parse_filter(value: str, lang: str):
    """The pygeofilter tree of VALUE in LANG (cql2-text or cql2-json), or a 400."""
    if lang not in FILTER_LANGS:
        raise bad("filter-lang", f"use {' or '.join(FILTER_LANGS)}, not {lang!r}")
    try:
        if lang == "cql2-json":
            return parse_json(_normalise_json(json.loads(value)))
        return parse_text(value)
    except (LarkError, ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise bad("filter", f"not valid {lang}: {message[:200]}") from None


def compile_filter(collection: Collection, value: str, lang: str, filter_crs: Crs,
                   prefix: str = "f") -> SqlFilter:
    """Compile a CQL2 filter on COLLECTION to a SQL condition with bind parameters named PREFIX0, …."""
    compiler = _Compiler(collection, filter_crs, prefix)
    return SqlFilter(compiler.condition(parse_filter(value, lang)), compiler.params)
