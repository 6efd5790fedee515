"""The standard-name registry: versioned names, history, search by Chinese, pinyin or initials.

A name keeps one `name_id` for life; every approved change closes the current version
(`valid_to`) and opens a new one, so nothing is overwritten (conventions §4).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from boundaries.codes import DivisionCode
from boundaries.divisions import descendant_prefix, escape_like
from data import audit
from data.errors import InvalidInput, NotFound
from placenames.categories import Category, get_category, split_name
from placenames.inputs import not_future, today
from placenames.overrides import romanization_for
from placenames.romanize import initials_key, pinyin_key
from placenames.rules import validate_name

DB = Session | Connection
STATUSES = ("standard", "historical", "cancelled")
MAX_PAGE = 200
# Longitude/latitude box that holds every Chinese place (with a margin): catches swapped axes.
CHINA_BOUNDS = (73.0, 3.0, 136.0, 54.0)
GEOMETRY_TYPES = {"Point", "LineString", "Polygon", "MultiPoint", "MultiLineString", "MultiPolygon"}


@dataclass(slots=True)
class NameVersion:
    """One version of a standard name."""

    id: int
    version_id: int
    name: str
    specific: str
    generic: str
    category: str
    category_name: str
    romanization: str | None
    minority_name: str | None
    minority_language: str | None
    division_code: str | None
    division_codes: list[str]
    entity_code: str | None
    meaning: str | None
    history: str | None
    status: str
    aliases: list[str]
    former_names: list[str]
    source: str
    valid_from: str
    valid_to: str | None
    application_id: int | None
    change_note: str | None
    geometry: dict[str, Any] | None = None
    division_names: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class NameInput:
    """What a caller supplies to register a name; everything else is derived."""

    name: str
    category: str
    division_code: str
    specific: str | None = None
    generic: str | None = None
    romanization: str | None = None
    minority_name: str | None = None
    minority_language: str | None = None
    geometry: dict[str, Any] | None = None
    division_codes: tuple[str, ...] = ()
    entity_code: str | None = None
    meaning: str | None = None
    history: str | None = None
    status: str = "standard"
    aliases: tuple[str, ...] = ()
    former_names: tuple[str, ...] = ()
    source: str = "manual entry"


_COLUMNS = """
    name_id AS id, version_id, name, specific, generic, category, romanization, minority_name,
    minority_language, division_code, division_codes, entity_code, meaning, history, status,
    aliases, former_names, source, valid_from::text AS valid_from, valid_to::text AS valid_to,
    application_id, change_note
"""


def _version(row) -> NameVersion:
    """A NameVersion from a row of _COLUMNS (plus `geometry` as GeoJSON text, and search-only columns)."""
    data = {k: v for k, v in row._mapping.items() if k in NameVersion.__dataclass_fields__}
    data["category_name"] = get_category(data["category"]).name
    data["geometry"] = json.loads(data["geometry"]) if data.get("geometry") else None
    return NameVersion(**data)


def get_name(db: DB, name_id: int, *, geometry: bool = True) -> NameVersion:
    """The current version of a name (any status), or NotFound."""
    row = db.execute(text(
        f"SELECT {_COLUMNS}, CASE WHEN :g THEN ST_AsGeoJSON(geom, 7) END AS geometry "
        "FROM place_names WHERE name_id = :id AND valid_to IS NULL"), {"id": name_id, "g": geometry},
    ).one_or_none()
    if row is None:
        raise NotFound(f"no place name has id {name_id}")
    view = _version(row)
    view.division_names = _division_names(db, view.division_codes or [view.division_code])
    return view


def history(db: DB, name_id: int) -> list[NameVersion]:
    """Every version of a name, oldest first."""
    rows = db.execute(text(
        f"SELECT {_COLUMNS} FROM place_names WHERE name_id = :id ORDER BY valid_from, version_id"),
        {"id": name_id}).all()
    if not rows:
        raise NotFound(f"no place name has id {name_id}")
    return [_version(r) for r in rows]


def _division_names(db: DB, codes: Iterable[str | None]) -> list[str]:
    wanted = [c for c in codes if c]
    if not wanted:
        return []
    rows = db.execute(text(
        "SELECT DISTINCT ON (code) code, name FROM divisions WHERE code = ANY(:c) AND valid_to IS NULL "
        "ORDER BY code, placeholder, level"), {"c": wanted})
    names = {r.code: r.name for r in rows}
    return [names[c] for c in wanted if c in names]


def division_name(db: DB, code: str) -> str:
    """The current name of a division code, or InvalidInput naming the unknown code."""
    names = _division_names(db, [code])
    if not names:
        raise InvalidInput(f"division {code} does not exist (or no longer does)",
                           errors=[{"field": "division_code", "message": "unknown division code"}])
    return names[0]


def inside_china(minx: float, miny: float, maxx: float, maxy: float) -> bool:
    """Whether a lon/lat box lies in CHINA_BOUNDS (a lat/lon box does not: it catches swapped axes)."""
    lo_x, lo_y, hi_x, hi_y = CHINA_BOUNDS
    return lo_x <= minx and maxx <= hi_x and lo_y <= miny and maxy <= hi_y


def parse_geometry(value: dict[str, Any] | None) -> BaseGeometry | None:
    """A GeoJSON geometry (lon/lat, CGCS2000) checked for type, validity and plausibility."""
    if value is None:
        return None
    if not isinstance(value, dict) or value.get("type") not in GEOMETRY_TYPES:
        raise InvalidInput("geometry must be a GeoJSON Point, LineString or Polygon (or Multi-)",
                           errors=[{"field": "geometry", "message": "unsupported geometry"}])
    try:
        geom = shape(value)
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise InvalidInput(f"geometry is not valid GeoJSON: {exc}",
                           errors=[{"field": "geometry", "message": str(exc)}]) from exc
    if geom.is_empty or not inside_china(*geom.bounds):
        raise InvalidInput("geometry must be lon/lat (CGCS2000) inside China; check the axis order",
                           errors=[{"field": "geometry", "message": f"bounds {geom.bounds}"}])
    if not geom.is_valid:
        raise InvalidInput("geometry is not valid (self-intersecting or degenerate)",
                           errors=[{"field": "geometry", "message": "invalid geometry"}])
    return geom


@dataclass(frozen=True, slots=True)
class Derived:
    """The columns computed from a NameInput."""

    name: str
    specific: str
    generic: str
    category: Category
    romanization: str
    pinyin_key: str
    initials: str


def derive(db: DB, item: NameInput) -> Derived:
    """Validate a name input and compute its split, romanization and search keys."""
    name = validate_name(item.name)
    category = get_category(item.category)
    specific, generic = split_name(name, category)
    if item.specific is not None or item.generic is not None:
        specific, generic = item.specific or "", item.generic or ""
        if specific + generic != name:
            raise InvalidInput(f"专名 {specific!r} + 通名 {generic!r} must spell the name {name!r}",
                               errors=[{"field": "specific", "message": "专名+通名 ≠ name"}])
    if item.status not in STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(STATUSES)}",
                           errors=[{"field": "status", "message": f"unknown status {item.status!r}"}])
    romanization = item.romanization or romanization_for(
        db, name, category, specific=specific, generic=generic, division_code=item.division_code)
    return Derived(name, specific, generic, category, romanization, pinyin_key(name), initials_key(name))


_INSERT = text("""
INSERT INTO place_names (name_id, name, specific, generic, category, romanization, minority_name,
    minority_language, geom, division_code, division_codes, entity_code, meaning, history, status,
    aliases, former_names, source, pinyin_key, initials, valid_from, application_id, change_note,
    created_by)
VALUES (:name_id, :name, :specific, :generic, :category, :romanization, :minority_name,
    :minority_language, ST_GeomFromText(:wkt, 4490), :division_code, :division_codes, :entity_code,
    :meaning, :history, :status, :aliases, :former_names, :source, :pinyin_key, :initials,
    :valid_from, :application_id, :change_note, :created_by)
RETURNING version_id
""")


def _check_divisions(db: DB, item: NameInput) -> list[str]:
    DivisionCode.parse(item.division_code)
    codes = list(dict.fromkeys([item.division_code, *item.division_codes]))
    for code in codes:
        DivisionCode.parse(code)
        division_name(db, code)
    return codes


def register(
    db: DB, item: NameInput, *, actor: str, valid_from: dt.date | None = None,
    name_id: int | None = None, application_id: int | None = None, change_note: str | None = None,
) -> int:
    """Insert a new standard name (or a new version of NAME_ID); returns the name id. Audited."""
    derived = derive(db, item)
    not_future(valid_from, "valid_from")
    codes = _check_divisions(db, item)
    geom = parse_geometry(item.geometry)
    if name_id is None:
        name_id = db.execute(text("SELECT nextval('place_name_ids')")).scalar_one()
    row = {
        "name_id": name_id, "name": derived.name, "specific": derived.specific,
        "generic": derived.generic, "category": derived.category.code,
        "romanization": derived.romanization, "minority_name": item.minority_name,
        "minority_language": item.minority_language, "wkt": geom.wkt if geom is not None else None,
        "division_code": item.division_code, "division_codes": codes, "entity_code": item.entity_code,
        "meaning": item.meaning, "history": item.history, "status": item.status,
        "aliases": list(item.aliases), "former_names": list(item.former_names), "source": item.source,
        "pinyin_key": derived.pinyin_key, "initials": derived.initials,
        "valid_from": valid_from or today(), "application_id": application_id,
        "change_note": change_note, "created_by": actor,
    }
    version_id = db.execute(_INSERT, row).scalar_one()
    audit.record(db, actor=actor, action="placename.version", entity_type="place_name",
                 entity_id=str(name_id), after={**row, "version_id": version_id, "wkt": None})
    return name_id


def _current_input(db: DB, name_id: int) -> tuple[NameInput, str | None]:
    row = db.execute(text(
        "SELECT name, category, division_code, specific, generic, minority_name, minority_language, "
        "ST_AsGeoJSON(geom, 8) AS geometry, division_codes, entity_code, meaning, history, status, "
        "aliases, former_names, source, romanization FROM place_names "
        "WHERE name_id = :id AND valid_to IS NULL FOR UPDATE"), {"id": name_id}).one_or_none()
    if row is None:
        raise NotFound(f"no place name has id {name_id}")
    data = dict(row._mapping)
    data["geometry"] = json.loads(data["geometry"]) if data["geometry"] else None
    for key in ("division_codes", "aliases", "former_names"):
        data[key] = tuple(data[key])
    romanization = data.pop("romanization")
    return NameInput(**data), romanization


def revise(
    db: DB, name_id: int, changes: dict[str, Any], *, actor: str, valid_from: dt.date | None = None,
    application_id: int | None = None, change_note: str | None = None,
) -> int:
    """Close the current version of NAME_ID and open a new one with CHANGES applied. Audited."""
    current, romanization = _current_input(db, name_id)
    valid_from = valid_from or today()
    updates = dict(changes)
    if "name" in updates and updates["name"] != current.name:
        updates.setdefault("former_names", (*current.former_names, current.name))
        updates.setdefault("specific", None)
        updates.setdefault("generic", None)
        updates.setdefault("romanization", None)
    elif "romanization" not in updates:
        updates["romanization"] = romanization
    unknown = set(updates) - set(NameInput.__dataclass_fields__)
    if unknown:
        raise InvalidInput(f"cannot change {', '.join(sorted(unknown))} of a place name")
    new = NameInput(**{**asdict(current), **updates})
    with db.begin_nested():  # a refused new version leaves the current one open
        closed = db.execute(text(
            "UPDATE place_names SET valid_to = :d WHERE name_id = :id AND valid_to IS NULL "
            "AND valid_from <= :d RETURNING version_id"), {"d": valid_from, "id": name_id}).first()
        if closed is None:
            raise InvalidInput(f"the new version must start on or after the current one ({valid_from})")
        return register(db, new, actor=actor, valid_from=valid_from, name_id=name_id,
                        application_id=application_id, change_note=change_note)


# ---------------------------------------------------------------- search

@dataclass(frozen=True, slots=True)
class SearchQuery:
    """Parsed search parameters."""

    q: str | None = None
    category: Category | None = None
    division: DivisionCode | None = None
    bbox: tuple[float, float, float, float] | None = None
    status: str | None = "standard"
    limit: int = 20
    after: tuple[int, int, int] | None = None


def parse_bbox(value: str | None) -> tuple[float, float, float, float] | None:
    """'minlon,minlat,maxlon,maxlat' → a tuple, or InvalidInput saying what a bbox looks like."""
    if not value:
        return None
    try:
        parts = tuple(float(p) for p in value.split(","))
    except ValueError:
        parts = ()
    if len(parts) != 4 or not (parts[0] < parts[2] and parts[1] < parts[3]) \
            or not all(-180 <= p <= 180 for p in parts):
        raise InvalidInput("bbox needs 4 numbers: minlon,minlat,maxlon,maxlat (min < max)",
                           errors=[{"field": "bbox", "message": f"got {value!r}"}])
    return parts  # type: ignore[return-value]


def parse_cursor(value: str | None) -> tuple[int, int, int] | None:
    """The `after` cursor of a `next` link: 'rank.length.id'."""
    if not value:
        return None
    try:
        rank, length, ident = (int(p) for p in value.split("."))
        if not all(0 <= v < 2**63 for v in (rank, length, ident)):
            raise ValueError(value)
    except ValueError as exc:
        raise InvalidInput("after must be the value from a previous `next` link",
                           errors=[{"field": "after", "message": f"got {value!r}"}]) from exc
    return rank, length, ident


def _match(q: str) -> tuple[str, dict[str, Any]]:
    """SQL rank expression and filter for q: Chinese by name, ASCII by full pinyin or initials."""
    if q.isascii():
        key = "".join(ch for ch in q.lower() if ch.isalnum())
        if not key:
            raise InvalidInput("q must contain letters, digits or Chinese characters")
        rank = ("CASE WHEN initials = :key OR pinyin_key = :key THEN 0 "
                "WHEN pinyin_key LIKE :prefix THEN 1 ELSE 2 END")
        where = "(pinyin_key LIKE :prefix OR initials LIKE :prefix)"
        return rank, {"rank": rank, "where": where, "key": key, "prefix": key + "%"}
    rank = ("CASE WHEN name = :q THEN 0 WHEN name LIKE :prefix THEN 1 "
            "WHEN aliases @> ARRAY[:q] OR former_names @> ARRAY[:q] THEN 2 ELSE 3 END")
    # Trigram indexes need three characters: shorter queries match from the start of the name.
    where = ("(name LIKE :contains OR aliases @> ARRAY[:q] OR former_names @> ARRAY[:q])" if len(q) >= 3
             else "(name LIKE :prefix OR aliases @> ARRAY[:q] OR former_names @> ARRAY[:q])")
    escaped = escape_like(q)
    return rank, {"rank": rank, "where": where, "q": q, "prefix": escaped + "%",
                  "contains": "%" + escaped + "%"}


def search(db: DB, query: SearchQuery) -> tuple[list[NameVersion], tuple[int, int, int] | None]:
    """Current names matching the query, best first; returns (page, cursor of the next page)."""
    params: dict[str, Any] = {"limit": query.limit + 1}
    where = ["valid_to IS NULL"]
    rank = "0"
    if query.q:
        rank, match = _match(query.q.strip())
        where.append(match.pop("where"))
        match.pop("rank")
        params.update(match)
    if query.category:
        where.append("category LIKE :cat")
        params["cat"] = query.category.code + "%"
    if query.division:
        where.append("(division_code LIKE :div OR :divcode = ANY(division_codes))")
        params["div"], params["divcode"] = descendant_prefix(query.division), query.division.value
    if query.bbox:
        where.append("geom && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4490)")
        params.update(dict(zip(("x0", "y0", "x1", "y1"), query.bbox, strict=True)))
    if query.status:
        where.append("status = :status")
        params["status"] = query.status
    inner = (f"SELECT {_COLUMNS}, ({rank}) AS rank, char_length(name) AS len, "
             f"ST_AsGeoJSON(geom, 7) AS geometry FROM place_names WHERE {' AND '.join(where)}")
    sql = f"SELECT * FROM ({inner}) hits"
    if query.after:
        sql += " WHERE (rank, len, id) > (:r, :l, :i)"
        params.update(r=query.after[0], l=query.after[1], i=query.after[2])
    sql += " ORDER BY rank, len, id LIMIT :limit"
    rows = db.execute(text(sql), params).all()
    page = rows[: query.limit]
    cursor = (page[-1].rank, page[-1].len, page[-1].id) if len(rows) > query.limit else None
    return [_version(r) for r in page], cursor
