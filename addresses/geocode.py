"""Forward geocoding: free text (or structured fields) → standard address, code, point, level, score.

Set-based: a list of queries is parsed in Python, then matched with one SQL statement over arrays
(exact structure: street/compound → plate → building → unit → room inside the resolved county). Rows
still unmatched get their street or compound name corrected by trigram similarity over the named
elements of their county (two-character names, which pg_trgm cannot index, by substring over the
county's few streets and compounds), and the structure below is matched exactly again. What is left
is answered with the deepest division recognised. A single query and a million-row batch take the
same path.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from addresses.admin import AdminIndex
from addresses.coords import point
from addresses.library import ADMIN_KEYS, admin_codes
from addresses.model import LEVELS, MATCH_LEVEL
from addresses.normalize import normalize
from addresses.parse import ParsedAddress, parse
from boundaries.codes import DivisionCode
from boundaries.divisions import descendant_prefix
from data.errors import InvalidInput

DB = Session | Connection
MAX_TEXT = 200            # characters considered; longer input is cut with a 错误 warning
ADMIN_LEVEL_NAMES = {"province": "省", "city": "市", "county": "区县", "town": "乡镇", "village": "村庄"}
LOCAL_FIELDS = ("road", "roadno", "poi", "houseno", "cellno", "floorno", "roomno")
ADMIN_FIELDS = ("province", "city", "county", "town", "village")
# Which parsed component each matched library level explains.
EXPLAINS = {"street": ("road",), "compound": ("poi",), "plate": ("roadno",), "building": ("houseno",),
            "unit": ("cellno",), "room": ("roomno", "floorno")}
_FIRST_NUMBER = re.compile(r"\d+")
_NOT_KEY = re.compile(r"[^0-9A-Z]")
_PUNCT = re.compile(r"[\s,，、;；:：.。()（）\-#]")


@dataclass(slots=True)
class GeocodeRequest:
    """One query: free text, or structured fields; DIVISION restricts the search to a division."""

    text: str = ""
    division: str | None = None
    fields: dict[str, str] | None = None


@dataclass(slots=True)
class Keys:
    """What the SQL matches on, derived from one parsed query."""

    scope: str                     # county code, or the code prefix of a province/city, or ''
    town: str | None
    fallback: str | None           # the requested division, when the answer falls back to a division
    road: str | None
    poi: str | None
    raw_road: str | None           # as written (a real name may keep a Traditional character: 復兴路)
    raw_poi: str | None
    plate: int | None
    suffix: str
    building: int | None
    unit: int | None
    room: int | None
    remainder: str


@dataclass(slots=True)
class GeocodeResult:
    """The best match for one query (or nothing), with its quality signals."""

    query: str
    match_level: str | None
    score: float
    code: str | None = None
    standard_address: str | None = None
    lon: float | None = None
    lat: float | None = None
    accuracy: str | None = None        # 'point' (a library address) or 'centroid' (a division)
    match_type: str | None = None      # 'exact', 'fuzzy' or 'division'
    admin_codes: dict[str, str | None] = field(default_factory=lambda: dict.fromkeys(ADMIN_KEYS))
    matched: list[dict[str, Any]] = field(default_factory=list)
    unmatched: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, str]] = field(default_factory=list)
    ambiguous: bool = False
    components: dict[str, str | None] = field(default_factory=dict)

    def as_dict(self, coordsys: str = "cgcs2000") -> dict[str, Any]:
        """JSON-ready result with the point in COORDSYS."""
        return {"query": self.query, "match_level": self.match_level, "score": self.score,
                "code": self.code, "standard_address": self.standard_address,
                "point": point(self.lon, self.lat, coordsys), "coordsys": coordsys,
                "accuracy": self.accuracy, "match_type": self.match_type, "admin_codes": self.admin_codes,
                "matched": self.matched, "unmatched": self.unmatched, "warnings": self.warnings,
                "ambiguous": self.ambiguous, "components": self.components}


def _number(value: str | None) -> int | None:
    found = _FIRST_NUMBER.search(value or "")
    return int(found.group()) if found and len(found.group()) <= 9 else None


def _suffix_key(roadno: str | None) -> str:
    """The plate suffix reduced to its digits/letters: 100号之1, 100-1号 and 100号附1 all give '1'."""
    if not roadno:
        return ""
    found = _FIRST_NUMBER.search(roadno)
    return _NOT_KEY.sub("", roadno[found.end():].upper()) if found else ""


def _norm(value: str | None) -> str | None:
    return normalize(value) or None if value else None


def _scope(parsed: ParsedAddress, division: str | None) -> tuple[str, str | None, str | None, list[dict]]:
    """The county-code prefix to search in, the town code, the division to answer with when nothing
    finer matches (DIVISION when it is narrower than the text or contradicts it; None: the text's),
    and a 冲突 warning if DIVISION disagrees with the text."""
    deepest = next((getattr(parsed, f"{level}_code") for level in ("county", "city", "province")
                    if getattr(parsed, f"{level}_code")), None)
    scope = county_scope(deepest) if deepest else ""
    town, fallback = parsed.town_code, None
    warnings: list[dict] = []
    if division:
        wanted = county_scope(division)
        if scope.startswith(wanted):
            pass
        elif wanted.startswith(scope):
            scope, fallback = wanted[:6], division
            town = division if len(division) >= 9 else town
        else:
            warnings.append({"kind": "冲突", "component": "division", "message":
                             f"the text names {deepest}, outside the requested division {division}; "
                             "searched inside the division"})
            scope, town, fallback = wanted[:6], division if len(division) >= 9 else None, division
    return scope, town, fallback, warnings


def county_scope(code: str) -> str:
    """The prefix shared by the county codes under CODE: 33, 3301 or 330106 (towns: their county)."""
    return descendant_prefix(DivisionCode.parse(code)).rstrip("%")[:6]


def keys_of(parsed: ParsedAddress, division: str | None) -> tuple[Keys, list[dict]]:
    """Matching keys for one parsed query (plus warnings about the division filter)."""
    scope, town, fallback, warnings = _scope(parsed, division)
    roadno = _norm(parsed.roadno)
    keys = Keys(scope=scope, town=town, fallback=fallback, road=_norm(parsed.road), poi=_norm(parsed.poi),
                raw_road=parsed.road, raw_poi=parsed.poi,
                plate=_number(roadno), suffix=_suffix_key(roadno), building=_number(_norm(parsed.houseno)),
                unit=_number(_norm(parsed.cellno)), room=_number(_norm(parsed.roomno)),
                remainder=(parsed.remainder or "")[:MAX_TEXT])
    return keys, warnings


_EXACT = text("""
WITH q AS (
    SELECT * FROM unnest(CAST(:idx AS int[]), CAST(:scope AS text[]), CAST(:town AS text[]),
                         CAST(:road AS text[]), CAST(:poi AS text[]), CAST(:raw_road AS text[]),
                         CAST(:raw_poi AS text[]), CAST(:plate AS int[]), CAST(:suffix AS text[]),
                         CAST(:building AS int[]), CAST(:unit AS int[]), CAST(:room AS int[]))
        AS q(idx, scope, town, road, poi, raw_road, raw_poi, plate, suffix, building, unit, room)
),
m AS (
    SELECT q.idx, st.address_id AS street, cp.address_id AS compound, pl.address_id AS plate,
           bd.address_id AS building, un.address_id AS unit, rm.address_id AS room
    FROM q
    LEFT JOIN LATERAL (
        SELECT a.address_id FROM addresses a
        WHERE q.road IS NOT NULL AND a.valid_to IS NULL AND a.level = 'street'
          AND a.name IN (q.road, q.raw_road)
          AND a.county_code LIKE q.scope || '%'
        ORDER BY (left(a.village_code, 9) = q.town) DESC NULLS LAST, a.code LIMIT 1) st ON true
    LEFT JOIN LATERAL (
        SELECT a.address_id FROM addresses a
        WHERE q.poi IS NOT NULL AND a.valid_to IS NULL AND a.level = 'compound'
          AND a.name IN (q.poi, q.raw_poi)
          AND a.county_code LIKE q.scope || '%'
        ORDER BY (left(a.village_code, 9) = q.town) DESC NULLS LAST, a.code LIMIT 1) cp ON true
    LEFT JOIN LATERAL (
        SELECT a.address_id FROM addresses a
        WHERE st.address_id IS NOT NULL AND q.plate IS NOT NULL AND a.valid_to IS NULL
          AND a.street_id = st.address_id AND a.level = 'plate' AND a.number = q.plate AND NOT a.reserved
          AND regexp_replace(upper(a.suffix), '[^0-9A-Z]', '', 'g') = q.suffix
        LIMIT 1) pl ON true
    LEFT JOIN LATERAL (
        SELECT a.address_id FROM addresses a
        WHERE q.building IS NOT NULL AND a.valid_to IS NULL AND a.level = 'building'
          AND a.parent_id = coalesce(cp.address_id, pl.address_id) AND a.number = q.building
        LIMIT 1) bd ON true
    LEFT JOIN LATERAL (
        SELECT a.address_id FROM addresses a
        WHERE bd.address_id IS NOT NULL AND q.unit IS NOT NULL AND a.valid_to IS NULL
          AND a.level = 'unit' AND a.parent_id = bd.address_id AND a.number = q.unit
        LIMIT 1) un ON true
    LEFT JOIN LATERAL (
        SELECT a.address_id FROM addresses a
        WHERE q.room IS NOT NULL AND coalesce(un.address_id, bd.address_id) IS NOT NULL
          AND a.valid_to IS NULL AND a.level = 'room'
          AND a.parent_id = coalesce(un.address_id, bd.address_id) AND a.number = q.room
        LIMIT 1) rm ON true
)
SELECT m.*, a.code, a.level, a.full_address, a.village_code, ST_X(a.point) AS lon, ST_Y(a.point) AS lat
FROM m JOIN addresses a
  ON a.address_id = coalesce(m.room, m.unit, m.building, m.plate, m.compound, m.street) AND a.valid_to IS NULL
""")

_FUZZY_NAMES = text("""
SELECT q.idx, f.name, f.level, f.sim
FROM unnest(CAST(:idx AS int[]), CAST(:scope AS text[]), CAST(:town AS text[]), CAST(:term AS text[]))
    AS q(idx, scope, town, term)
CROSS JOIN LATERAL (
    SELECT a.name, a.level, similarity(a.name, q.term) AS sim
    FROM addresses a
    WHERE a.valid_to IS NULL AND a.level IN ('street', 'compound') AND a.county_code LIKE q.scope || '%'
      AND ((char_length(q.term) >= 3 AND a.name % q.term)
           OR (char_length(q.term) < 3 AND char_length(q.scope) = 6 AND strpos(a.name, q.term) > 0))
    ORDER BY similarity(a.name, q.term) DESC, (left(a.village_code, 9) = q.town) DESC NULLS LAST, a.code
    LIMIT 1) f
""")

_DIVISION_POINTS = text("""
SELECT d.code, ST_X(coalesce(d.label_point, c.label_point)) AS lon, ST_Y(coalesce(d.label_point, c.label_point)) AS lat
FROM unnest(CAST(:codes AS text[])) AS k(code)
JOIN divisions d ON d.code = k.code AND d.valid_to IS NULL AND d.level = CASE char_length(k.code)
    WHEN 12 THEN 5 WHEN 9 THEN 4 ELSE d.level END
LEFT JOIN divisions c ON c.code = left(k.code, 6) AND c.level = 3 AND c.valid_to IS NULL
""")


def _arrays(keys: Sequence[Keys], indexes: Sequence[int]) -> dict[str, list]:
    rows = [keys[i] for i in indexes]
    return {"idx": list(indexes), "scope": [k.scope for k in rows], "town": [k.town for k in rows],
            "road": [k.road for k in rows], "poi": [k.poi for k in rows], "plate": [k.plate for k in rows],
            "raw_road": [k.raw_road for k in rows], "raw_poi": [k.raw_poi for k in rows],
            "suffix": [k.suffix for k in rows], "building": [k.building for k in rows],
            "unit": [k.unit for k in rows], "room": [k.room for k in rows]}


def _text_length(value: str) -> int:
    return len(_PUNCT.sub("", value)) or 1


def _spans(parsed: ParsedAddress, names: Sequence[str]) -> list[dict[str, Any]]:
    out = []
    for name in names:
        value = getattr(parsed, name, None)
        if value:
            start, end = (parsed.spans or {}).get(name, (None, None))
            out.append({"component": name, "text": value, "start": start, "end": end})
    return out


def _admin_result(parsed: ParsedAddress, result: GeocodeResult) -> None:
    """Fill the admin codes and, when nothing finer matched, the division-level answer."""
    for key in ADMIN_KEYS:
        result.admin_codes[key] = getattr(parsed, key, None)
    result.ambiguous = bool(getattr(parsed, "ambiguous", False))


def _finish(parsed: ParsedAddress, result: GeocodeResult, explained: Sequence[str], quality: float) -> None:
    """Matched/unmatched spans and the score: share of the input explained × match quality."""
    admin = [f for f in ADMIN_FIELDS if getattr(parsed, f"{f}_code", None) and getattr(parsed, f, None)]
    result.matched = _spans(parsed, [*admin, *explained])
    present = [f for f in (*ADMIN_FIELDS, *LOCAL_FIELDS) if getattr(parsed, f, None)]
    result.unmatched = _spans(parsed, [f for f in present if f not in admin and f not in explained])
    covered = sum(_text_length(m["text"]) for m in result.matched)
    share = min(1.0, covered / _text_length(parsed.text or " "))
    conflicts = sum(1 for w in result.warnings if w.get("kind") in ("冲突", "错误"))
    result.score = round(max(0.0, share * quality * (0.9 ** conflicts)), 3)


def _explained_by(levels: Sequence[str]) -> list[str]:
    return [name for level in levels for name in EXPLAINS[level]]


def geocode_parsed(db: DB, parsed: Sequence[ParsedAddress], divisions: Sequence[str | None],
                   *, fuzzy: bool = True) -> list[GeocodeResult]:
    """Best match for each parsed query, in order: exact structure, then fuzzy, then the division."""
    results, keys = [], []
    for p, division in zip(parsed, divisions, strict=True):
        k, warnings = keys_of(p, division)
        result = GeocodeResult(query=p.text, match_level=None, score=0.0,
                               warnings=[*list(p.warnings or []), *warnings],
                               components={f: getattr(p, f, None) for f in (*ADMIN_FIELDS, *LOCAL_FIELDS)})
        _admin_result(p, result)
        results.append(result)
        keys.append(k)
    pending = _match_exact(db, parsed, keys, results)
    if fuzzy:
        pending = _match_fuzzy(db, parsed, keys, results, pending)
    _match_divisions(db, parsed, keys, results, pending)
    return results


def _match_exact(db: DB, parsed, keys: list[Keys], results: list[GeocodeResult]) -> list[int]:
    wanted = [i for i, k in enumerate(keys) if k.road or k.poi]
    found: set[int] = set()
    if wanted:
        for row in db.execute(_EXACT, _arrays(keys, wanted)):
            levels = [lv for lv in LEVELS if getattr(row, lv) is not None]
            _set_address(results[row.idx], row, "exact")
            _finish(parsed[row.idx], results[row.idx], _explained_by(levels), 1.0)
            found.add(row.idx)
    return [i for i in range(len(keys)) if i not in found]


_NUMBER_TAIL = re.compile(r"\d.*$")


def _fuzzy_term(k: Keys) -> str:
    """The name to correct: the parsed road or compound, else the remainder before its first number."""
    return k.road or k.poi or _NUMBER_TAIL.sub("", k.remainder)


def _match_fuzzy(db: DB, parsed, keys: list[Keys], results: list[GeocodeResult],
                 pending: list[int]) -> list[int]:
    """Correct misspelt or mis-split street/compound names by trigram similarity (two-character names
    by substring inside the county), then match the structure below them exactly."""
    wanted = [i for i in pending if len(_fuzzy_term(keys[i])) >= 2 and (keys[i].scope or
                                                                       len(_fuzzy_term(keys[i])) >= 3)]
    if not wanted:
        return pending
    similarity: dict[int, float] = {}
    rows = db.execute(_FUZZY_NAMES, {"idx": wanted, "scope": [keys[i].scope for i in wanted],
                                     "town": [keys[i].town for i in wanted],
                                     "term": [_fuzzy_term(keys[i]) for i in wanted]})
    for row in rows:
        k = keys[row.idx]
        k.road, k.poi = (row.name, None) if row.level == "street" else (None, row.name)
        k.raw_road, k.raw_poi = k.road, k.poi
        similarity[row.idx] = float(row.sim)
    found: set[int] = set()
    if similarity:
        for row in db.execute(_EXACT, _arrays(keys, sorted(similarity))):
            levels = [lv for lv in LEVELS if getattr(row, lv) is not None]
            _set_address(results[row.idx], row, "fuzzy")
            _finish(parsed[row.idx], results[row.idx], _explained_by(levels),
                    0.5 + 0.5 * similarity[row.idx])
            found.add(row.idx)
    return [i for i in pending if i not in found]


def _set_address(result: GeocodeResult, row, match_type: str) -> None:
    result.code, result.match_level = row.code, MATCH_LEVEL[row.level]
    result.standard_address, result.lon, result.lat = row.full_address, row.lon, row.lat
    result.accuracy, result.match_type = "point", match_type
    result.admin_codes = admin_codes(row.village_code)


def _match_divisions(db: DB, parsed, keys: list[Keys], results: list[GeocodeResult],
                     pending: list[int]) -> None:
    deepest: dict[int, tuple[str, str]] = {}
    for i in pending:
        level = next((lv for lv in ("village", "town", "county", "city", "province")
                      if getattr(parsed[i], f"{lv}_code", None)), None)
        if keys[i].fallback:
            level = _LEVEL_OF_CODE[DivisionCode.parse(keys[i].fallback).level]
            deepest[i] = (level, keys[i].fallback)
            results[i].admin_codes = admin_codes(keys[i].fallback)
        elif level:
            deepest[i] = (level, getattr(parsed[i], f"{level}_code"))
        _finish(parsed[i], results[i], (), 1.0)
        if not level:
            results[i].score = 0.0
            results[i].warnings.append({"kind": "缺失", "component": "address",
                                        "message": "no division or standard address recognised"})
    if not deepest:
        return
    points = {r.code: r for r in db.execute(_DIVISION_POINTS, {"codes": sorted({c for _, c in deepest.values()})})}
    for i, (level, code) in deepest.items():
        result = results[i]
        result.code, result.match_level, result.match_type = code, ADMIN_LEVEL_NAMES[level], "division"
        found = points.get(code)
        if found is not None and found.lon is not None:
            result.lon, result.lat, result.accuracy = found.lon, found.lat, "centroid"


_LEVEL_OF_CODE = {1: "province", 2: "city", 3: "county", 4: "town", 5: "village"}


def check_division(value: str | None) -> str | None:
    """A division filter as a validated code string (422 when malformed)."""
    return DivisionCode.parse(value).value if value else None


def structured_text(fields: dict[str, str | None]) -> str:
    """Structured fields joined in address order (province … roomno) into one text for the parser."""
    order = (*ADMIN_FIELDS, *LOCAL_FIELDS)
    unknown = set(fields) - set(order)
    if unknown:
        raise InvalidInput(f"unknown address fields: {', '.join(sorted(unknown))}")
    return "".join(fields.get(name) or "" for name in order)


def geocode(db: DB, index: AdminIndex, requests: Sequence[GeocodeRequest], *, fuzzy: bool = True
            ) -> list[GeocodeResult]:
    """Geocode REQUESTS (free text or structured) in one set-based pass; results in input order."""
    texts, divisions = [], []
    for r in requests:
        raw = structured_text(r.fields) if r.fields else r.text
        texts.append(raw if len(raw) <= 10 * MAX_TEXT else raw[: 10 * MAX_TEXT])
        divisions.append(check_division(r.division))
    return geocode_parsed(db, parse(texts, index), divisions, fuzzy=fuzzy)
