"""Address-library checks, §9 rules 46–49, as set-based SQL over the current rows.

- 46: a street without a current standard name (the 门牌 on it have none), a plate whose street is not
  current, an address whose village code is not a current village/community under a current township,
  a building, unit or room without a current parent of the right level whose code it extends;
- 47: the same number and suffix twice on one street; a number missing from a street's odd or even run
  (1, 3, 7 → 5) that no reserved row (预留号) explains;
- 48: a plate on the wrong side for its number under the jurisdiction's parity rule, and a street
  numbered in the wrong direction where the jurisdiction fixes one;
- 49: under a `no_skip` rule (Beijing: 4, 13, 14) a building, unit, floor or room sequence that skips one
  of those numbers while higher numbers exist.

Rule 50 (一标三实: person, house and organisation records must point at a standard address) has nothing
to check yet: no such tables exist. When they arrive, their address column is a foreign key to the
current address id, so the database itself refuses an unlinked record.

Each check is one statement whose cost grows with the rows in scope (grouping and window functions,
no per-row round trips); the rules per jurisdiction enter the SQL as a small JSON table.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from addresses.plate_rules import PlateRules, all_rules, rules_for
from boundaries.codes import DivisionCode
from boundaries.divisions import descendant_prefix

DB = Session | Connection
MAX_CODES = 20      # address codes listed per finding; evidence carries the full count
MAX_MISSING = 20    # missing numbers listed per gap
SEVERITY_ORDER = {"error": 0, "warning": 1}
SIDE_WORDS = {"N": "north", "S": "south", "E": "east", "W": "west"}
DIRECTION_WORDS = {"EW": "east–west", "NS": "north–south", "dead_end": "dead-end"}
RULE_SOURCES = {46: "LRB-DM Art. 21; CP-39609"}


@dataclass(frozen=True)
class Finding:
    """One breach of a §9 address rule: where, how serious, what to do and the evidence."""

    rule: int
    code: str
    severity: str
    message: str
    street: str
    address_codes: list[str] = field(hash=False)
    evidence: dict = field(hash=False)
    source: str = ""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class _Scope:
    """The SQL filter and parameters for the rows a check run looks at."""

    division: str | None
    street_id: int | None

    def where(self, alias: str, *, street_column: str = "street_id") -> str:
        """AND-clauses limiting ALIAS to the division and to rows whose STREET_COLUMN is the street."""
        parts = []
        if self.division:
            parts.append(f"{alias}.village_code BETWEEN :lo AND :hi")
        if self.street_id is not None:
            parts.append(f"{alias}.{street_column} = :street_id")
        return "".join(f" AND {p}" for p in parts)

    def any_row(self, alias: str) -> str:
        """Like `where`, for rows of every level: the street itself counts as on the street."""
        where = self.where(alias)
        if self.street_id is None:
            return where
        return where.replace(f"{alias}.street_id = :street_id",
                             f"({alias}.street_id = :street_id OR {alias}.address_id = :street_id)")

    @property
    def params(self) -> dict[str, Any]:
        params: dict[str, Any] = {"street_id": self.street_id}
        if self.division:
            params["lo"] = self.division.ljust(12, "0")
            params["hi"] = self.division.ljust(12, "9")
        return params


def check_plates(db: DB, *, division: str | DivisionCode | None = None, street_id: int | None = None,
                 rules: dict[str, PlateRules] | None = None) -> list[Finding]:
    """Run rules 46–49 over the current addresses in DIVISION (or on one street, or everywhere)."""
    rules = all_rules() if rules is None else rules
    stem = descendant_prefix(DivisionCode.parse(str(division))).rstrip("%") if division else None
    scope = _Scope(stem, street_id)
    findings: list[Finding] = []
    for check in (_unnamed_streets, _streetless_plates, _unknown_villages, _orphans, _duplicates, _gaps,
                  _wrong_sides, _numbering_order, _skipped_numbers):
        findings.extend(check(db, scope, rules))
    return sorted(findings, key=lambda f: (f.rule, SEVERITY_ORDER.get(f.severity, 9), f.street,
                                           f.address_codes, f.code))


def summarize(findings: Iterable[Finding]) -> dict[str, Any]:
    """Counts of findings: in total, per severity, per rule and severity, and per finding code."""
    findings = list(findings)
    by_rule: dict[str, dict[str, int]] = {}
    for f in findings:
        counts = by_rule.setdefault(str(f.rule), {"error": 0, "warning": 0})
        counts[f.severity] = counts.get(f.severity, 0) + 1
    severities = Counter(f.severity for f in findings)
    return {"total": len(findings), "errors": severities.get("error", 0),
            "warnings": severities.get("warning", 0), "by_rule": dict(sorted(by_rule.items())),
            "by_code": dict(sorted(Counter(f.code for f in findings).items()))}


# ---------------------------------------------------------------- jurisdiction in SQL


def _jurisdiction_sql(rules: dict[str, PlateRules], column: str) -> tuple[str, dict[str, Any]]:
    """A CASE picking the longest rule prefix COLUMN starts with ('' = default), and its parameters."""
    lengths = sorted({len(p) for p in rules if p}, reverse=True)
    if not lengths:
        return "''", {}
    whens = " ".join(f"WHEN left({column}, {n}) = ANY(:jur{n}) THEN left({column}, {n})" for n in lengths)
    return f"(CASE {whens} ELSE '' END)", {f"jur{n}": [p for p in rules if len(p) == n] for n in lengths}


_RULES_TABLE = """rules AS (
    SELECT * FROM jsonb_to_recordset(CAST(:rules AS jsonb)) AS r(
        key text, parity text, ew_odd text, ew_even text, ns_odd text, ns_even text,
        ew_order text, ns_order text, no_skip int[])
)"""


def _rules_json(rules: dict[str, PlateRules]) -> str:
    rows = []
    for r in rules.values():
        row = r.as_sql()
        if not r.order.active:
            row["ew_order"] = row["ns_order"] = "any"
        rows.append(row)
    return json.dumps(rows)


def _streets(db: DB, ids: Iterable[int]) -> dict[int, Any]:
    """Current street rows (code, name, direction) by address id."""
    wanted = sorted({i for i in ids if i is not None})
    if not wanted:
        return {}
    rows = db.execute(text("SELECT address_id, code, name, direction FROM addresses "
                           "WHERE address_id = ANY(:ids) AND valid_to IS NULL"), {"ids": wanted})
    return {r.address_id: r for r in rows}


def _street_label(street) -> str:
    return street.name if street is not None else ""


# ---------------------------------------------------------------- rule 46


_UNNAMED_STREETS = """
SELECT s.code, s.name, s.place_name_id, pn.name AS standard_name, pn.status,
       (SELECT count(*) FROM addresses p
        WHERE p.street_id = s.address_id AND p.level = 'plate' AND p.valid_to IS NULL) AS plates
FROM addresses s
LEFT JOIN place_names pn ON pn.name_id = s.place_name_id AND pn.valid_to IS NULL
WHERE s.valid_to IS NULL AND s.level = 'street' {scope}
  AND (pn.name_id IS NULL OR pn.status <> 'standard' OR pn.name <> s.name)
"""


def _unnamed_streets(db: DB, scope: _Scope, rules) -> list[Finding]:
    sql = _UNNAMED_STREETS.format(scope=scope.where("s", street_column="address_id"))
    found = []
    for r in db.execute(text(sql), scope.params):
        if r.place_name_id is None:
            code, why = "street-without-standard-name", "carries no standard name (place_name_id is empty)"
        elif r.standard_name is None:
            code, why = "street-name-not-current", f"points at place name {r.place_name_id}, which is not current"
        elif r.status != "standard":
            code, why = "street-name-not-standard", f"carries a {r.status} name, not a standard one"
        else:
            code, why = "street-name-mismatch", f"is written {r.name} but its standard name is {r.standard_name}"
        found.append(Finding(
            46, code, "error", f"street {r.name} ({r.code}) {why}: its {r.plates} plates have no standard "
            "street name; register or link the standard name", r.name, [r.code],
            {"street_code": r.code, "place_name_id": r.place_name_id, "standard_name": r.standard_name,
             "status": r.status, "plates": r.plates}, RULE_SOURCES[46]))
    return found


_STREETLESS = """
SELECT p.street_id, count(*) AS n, (array_agg(p.code ORDER BY p.code))[1:{cap}] AS codes
FROM addresses p
LEFT JOIN addresses s ON s.address_id = p.street_id AND s.valid_to IS NULL AND s.level = 'street'
WHERE p.valid_to IS NULL AND p.level = 'plate' AND s.address_id IS NULL {scope}
GROUP BY p.street_id
"""


def _streetless_plates(db: DB, scope: _Scope, rules) -> list[Finding]:
    sql = _STREETLESS.format(scope=scope.where("p"), cap=MAX_CODES)
    return [Finding(
        46, "plate-street-missing", "error",
        f"{r.n} plates are numbered on street id {r.street_id}, which is not a current street: "
        "a 门牌 needs a standard street name", "", list(r.codes),
        {"street_id": r.street_id, "plates": r.n}, RULE_SOURCES[46])
        for r in db.execute(text(sql), scope.params)]


_VILLAGES = """
WITH used AS (
    SELECT a.village_code, count(*) AS n FROM addresses a
    WHERE a.valid_to IS NULL {scope} GROUP BY a.village_code
)
SELECT u.village_code, u.n, v.code IS NOT NULL AS village_known,
       ARRAY(SELECT x.code FROM addresses x WHERE x.village_code = u.village_code AND x.valid_to IS NULL
             ORDER BY x.code LIMIT {cap}) AS codes
FROM used u
LEFT JOIN divisions v ON v.code = u.village_code AND v.level = 5 AND v.valid_to IS NULL
LEFT JOIN divisions t ON t.code = v.parent_code AND t.level = 4 AND t.valid_to IS NULL
WHERE t.code IS NULL
"""


def _unknown_villages(db: DB, scope: _Scope, rules) -> list[Finding]:
    sql = _VILLAGES.format(scope=scope.any_row("a"), cap=MAX_CODES)
    found = []
    for r in db.execute(text(sql), scope.params):
        why = ("is a current village/community whose township is not current" if r.village_known
               else "is not a current village/community (level 5) code")
        found.append(Finding(
            46, "address-village-unknown", "error",
            f"{r.n} addresses use village code {r.village_code}, which {why}; an address must resolve to "
            "a 12-digit village/community and a 9-digit township", "", list(r.codes),
            {"village_code": r.village_code, "addresses": r.n}, RULE_SOURCES[46]))
    return found


_ORPHANS = """
WITH bad AS (
    SELECT c.code, c.level, c.parent_id, c.street_id, c.compound_id,
           par.code AS parent_code, par.level AS parent_level
    FROM addresses c
    LEFT JOIN addresses par ON par.address_id = c.parent_id AND par.valid_to IS NULL
    WHERE c.valid_to IS NULL AND c.level IN ('building', 'unit', 'room') {scope}
      AND (par.address_id IS NULL
           OR (c.level, par.level) NOT IN (('building', 'plate'), ('building', 'compound'),
                                           ('unit', 'building'), ('room', 'unit'), ('room', 'building'))
           OR left(c.code, length(par.code)) <> par.code)
)
SELECT bad.*, coalesce(
    (SELECT name FROM addresses s WHERE s.address_id = bad.street_id AND s.valid_to IS NULL),
    (SELECT name FROM addresses k WHERE k.address_id = bad.compound_id AND k.valid_to IS NULL), '') AS street
FROM bad
"""
_PARENT_LEVELS = {"building": "a plate or compound", "unit": "a building", "room": "a unit or building"}


def _orphans(db: DB, scope: _Scope, rules) -> list[Finding]:
    found = []
    for r in db.execute(text(_ORPHANS.format(scope=scope.where("c"))), scope.params):
        if r.parent_code is None:
            code, why = "address-parent-missing", f"its parent (address id {r.parent_id}) is not current"
        elif not r.code.startswith(r.parent_code):
            code, why = "address-parent-code", f"its code does not extend its parent's code {r.parent_code}"
        else:
            code, why = "address-parent-level", (f"its parent {r.parent_code} is a {r.parent_level}, "
                                                 f"not {_PARENT_LEVELS[r.level]}")
        found.append(Finding(
            46, code, "error", f"{r.level} {r.code}: {why}", r.street, [r.code],
            {"level": r.level, "parent_id": r.parent_id, "parent_code": r.parent_code,
             "parent_level": r.parent_level}, RULE_SOURCES[46]))
    return found


# ---------------------------------------------------------------- rule 47


_DUPLICATES = """
SELECT p.street_id, p.number, p.suffix, count(*) AS n, count(*) FILTER (WHERE p.reserved) AS reserved,
       min(p.village_code) AS village_code
FROM addresses p
WHERE p.valid_to IS NULL AND p.level = 'plate' AND p.number IS NOT NULL {scope}
GROUP BY p.street_id, p.number, p.suffix
HAVING count(*) > 1
"""


def _duplicates(db: DB, scope: _Scope, rules) -> list[Finding]:
    rows = db.execute(text(_DUPLICATES.format(scope=scope.where("p"))), scope.params).all()
    streets = _streets(db, (r.street_id for r in rows))
    codes_of = _duplicate_codes(db, rows)
    found = []
    for r in rows:
        rule = rules_for(r.village_code, rules)
        if not rule.duplicates.active:
            continue
        street = streets.get(r.street_id)
        codes = codes_of.get((r.street_id, r.number, r.suffix), [])
        reserved = f" ({r.reserved} of them reserved)" if r.reserved else ""
        found.append(Finding(
            47, "plate-duplicate", rule.duplicates.severity,
            f"{_street_name(street, r.street_id)}: number {r.number}{r.suffix} is used {r.n} times{reserved}; "
            "each number and suffix may appear once on a street", _street_label(street), codes[:MAX_CODES],
            {"street_code": street.code if street else None, "number": r.number, "suffix": r.suffix,
             "count": r.n, "reserved": r.reserved, "jurisdiction": rule.name}, rule.duplicates.source))
    return found


_DUPLICATE_CODES = """
SELECT p.street_id, p.number, p.suffix, p.code
FROM unnest(CAST(:streets AS bigint[]), CAST(:numbers AS int[]), CAST(:suffixes AS text[])) AS f(street_id, number,
                                                                                              suffix)
JOIN addresses p ON p.street_id = f.street_id AND p.number = f.number AND p.suffix = f.suffix
WHERE p.level = 'plate' AND p.valid_to IS NULL
ORDER BY p.code
"""


def _duplicate_codes(db: DB, rows) -> dict[tuple, list[str]]:
    """The codes of each duplicated (street, number, suffix), fetched for those keys only."""
    if not rows:
        return {}
    found: dict[tuple, list[str]] = {}
    params = {"streets": [r.street_id for r in rows], "numbers": [r.number for r in rows],
              "suffixes": [r.suffix for r in rows]}
    for p in db.execute(text(_DUPLICATE_CODES), params):
        found.setdefault((p.street_id, p.number, p.suffix), []).append(p.code)
    return found


# A street's odd (even) run is complete when its distinct numbers are 1, 3, … (2, 4, …) up to the highest:
# two hash aggregates find the runs that are not; only their streets are walked for the gaps.
_BROKEN_RUNS = """
WITH nums AS (
    SELECT p.street_id, p.number FROM addresses p
    WHERE p.valid_to IS NULL AND p.level = 'plate' AND p.number > 0 {scope}
    GROUP BY p.street_id, p.number
)
SELECT DISTINCT street_id FROM nums
GROUP BY street_id, number % 2
HAVING max(number) <> 2 - min(number % 2) + 2 * (count(*) - 1)
"""
_GAPS = """
WITH nums AS (
    SELECT p.street_id, p.number, min(p.code) AS code, min(p.village_code) AS village_code
    FROM addresses p
    WHERE p.valid_to IS NULL AND p.level = 'plate' AND p.number > 0 AND p.street_id = ANY(:ids) {scope}
    GROUP BY p.street_id, p.number
), runs AS (
    SELECT n.*, lag(n.number) OVER w AS prev, lag(n.code) OVER w AS prev_code
    FROM nums n
    WINDOW w AS (PARTITION BY n.street_id, n.number % 2 ORDER BY n.number)
)
SELECT street_id, number, code, village_code, prev, prev_code,
       coalesce(prev + 2, 2 - number % 2) AS first_missing
FROM runs
WHERE number > coalesce(prev + 2, 2 - number % 2)
"""


def _gaps(db: DB, scope: _Scope, rules) -> list[Finding]:
    broken = db.execute(text(_BROKEN_RUNS.format(scope=scope.where("p"))), scope.params).scalars().all()
    if not broken:
        return []
    rows = db.execute(text(_GAPS.format(scope=scope.where("p"))), {**scope.params, "ids": list(broken)}).all()
    streets = _streets(db, (r.street_id for r in rows))
    found = []
    for r in rows:
        rule = rules_for(r.village_code, rules)
        if not rule.gaps.active:
            continue
        street = streets.get(r.street_id)
        missing = list(range(r.first_missing, r.number, 2))
        parity = "odd" if r.number % 2 else "even"
        where = f"between {r.prev} and {r.number}" if r.prev is not None else f"before {r.number}"
        shown = ", ".join(str(n) for n in missing[:MAX_MISSING]) + (" …" if len(missing) > MAX_MISSING else "")
        found.append(Finding(
            47, "plate-gap", rule.gaps.severity,
            f"{_street_name(street, r.street_id)}: {parity} number(s) {shown} missing {where} with no "
            "reserved row (预留号); reserve them or renumber", _street_label(street),
            [c for c in (r.prev_code, r.code) if c],
            {"street_code": street.code if street else None, "parity": parity, "after": r.prev,
             "before": r.number, "missing": missing[:MAX_MISSING], "missing_count": len(missing),
             "jurisdiction": rule.name}, rule.gaps.source))
    return found


# ---------------------------------------------------------------- rule 48


_PLATES_WITH_RULES = """
{rules_table}, plates AS (
    SELECT p.code, p.street_id, p.number, p.side, (p.number % 2 <> 0) AS odd, s.direction,
           r.key AS jurisdiction{columns},
           CASE WHEN r.parity <> 'by_direction' THEN NULL
                WHEN s.direction = 'EW' THEN CASE WHEN p.number % 2 <> 0 THEN r.ew_odd ELSE r.ew_even END
                WHEN s.direction = 'NS' THEN CASE WHEN p.number % 2 <> 0 THEN r.ns_odd ELSE r.ns_even END
           END AS expected
    FROM addresses p
    JOIN addresses s ON s.address_id = p.street_id AND s.valid_to IS NULL AND s.level = 'street'
    JOIN rules r ON r.key = {jurisdiction}
    WHERE p.valid_to IS NULL AND p.level = 'plate' AND p.number IS NOT NULL {filters} {scope}
)"""

# One aggregate per street side: plates off their fixed side, and for sides without a fixed parity the odd
# and even counts, the majority, a tie broken by the other sides, and whether a larger side already
# carries the same parity. Only the sides this flags are read plate by plate afterwards.
_SIDES = _PLATES_WITH_RULES + """, sides AS (
    SELECT street_id, jurisdiction, side, min(direction) AS direction,
           count(*) FILTER (WHERE expected IS NOT NULL AND side <> expected) AS off_side,
           count(*) FILTER (WHERE expected IS NULL AND odd) AS odd_n,
           count(*) FILTER (WHERE expected IS NULL AND NOT odd) AS even_n
    FROM plates GROUP BY street_id, jurisdiction, side
), majority AS (
    SELECT *, CASE WHEN odd_n > even_n THEN 'odd' WHEN even_n > odd_n THEN 'even' END AS major FROM sides
), streetwise AS (
    SELECT *,
           bool_or(major = 'odd') OVER st AS any_odd, bool_or(major = 'even') OVER st AS any_even,
           first_value(side) OVER (PARTITION BY street_id, jurisdiction, major
                                   ORDER BY odd_n + even_n DESC, side) AS leading_side
    FROM majority
    WINDOW st AS (PARTITION BY street_id, jurisdiction)
), classified AS (
    SELECT *, coalesce(major, CASE WHEN any_odd AND NOT coalesce(any_even, false) THEN 'even'
                                   WHEN any_even AND NOT coalesce(any_odd, false) THEN 'odd' END) AS side_parity
    FROM streetwise
)
SELECT street_id, jurisdiction, side, direction, off_side, odd_n, even_n, major, side_parity, leading_side
FROM classified
WHERE off_side > 0
   OR (odd_n + even_n > 0 AND (side_parity IS NULL
                               OR (side_parity = 'odd' AND even_n > 0) OR (side_parity = 'even' AND odd_n > 0)
                               OR (major IS NOT NULL AND side <> leading_side)))
"""


def _wrong_sides(db: DB, scope: _Scope, rules: dict[str, PlateRules]) -> list[Finding]:
    jurisdiction, jparams = _jurisdiction_sql(rules, "p.village_code")
    sql = "WITH " + _SIDES.format(rules_table=_RULES_TABLE, jurisdiction=jurisdiction, columns="",
                                  filters="AND p.side IS NOT NULL AND r.parity <> 'off'", scope=scope.where("p"))
    sides = db.execute(text(sql), {**scope.params, **jparams, "rules": _rules_json(rules)}).all()
    if not sides:
        return []
    streets = _streets(db, (s.street_id for s in sides))
    plates = _side_plates(db, sides, rules)
    found = []
    for s in sides:
        on_side = [p for p in plates.get((s.street_id, s.side), [])
                   if rules_for(p.village_code, rules).prefix == s.jurisdiction]
        found.extend(_side_findings(s, on_side, streets.get(s.street_id), rules[s.jurisdiction]))
    return found


_SIDE_PLATES = """
SELECT p.street_id, p.side, p.code, p.number, p.suffix, p.village_code
FROM unnest(CAST(:streets AS bigint[]), CAST(:sides AS text[]), CAST(:wanted AS text[])) AS f(street_id, side, wanted)
JOIN addresses p ON p.street_id = f.street_id AND p.side = f.side
WHERE p.level = 'plate' AND p.valid_to IS NULL AND p.number IS NOT NULL
  AND (f.wanted = 'all' OR (f.wanted = 'odd') = (p.number % 2 <> 0))
ORDER BY p.number, p.suffix, p.code
"""


def _side_plates(db: DB, sides, rules: dict[str, PlateRules]) -> dict[tuple, list]:
    """The plates each flagged side needs read: its wrong parity only, or all of them for a side-level finding."""
    wanted = [_wanted_parity(s, rules[s.jurisdiction]) for s in sides]
    params = {"streets": [s.street_id for s in sides], "sides": [s.side for s in sides], "wanted": wanted}
    found: dict[tuple, list] = {}
    for p in db.execute(text(_SIDE_PLATES), params):
        found.setdefault((p.street_id, p.side), []).append(p)
    return found


def _wanted_parity(s, rule: PlateRules) -> str:
    fixed = rule.sides_for(s.direction)
    if fixed:
        return "even" if s.side == fixed.odd else "odd" if s.side == fixed.even else "all"
    if s.side_parity is None or (s.major is not None and s.side != s.leading_side):
        return "all"
    return "even" if s.side_parity == "odd" else "odd"


def _side_findings(s, on_side: list, street, rule: PlateRules) -> list[Finding]:
    """The findings of one flagged street side, from its plates (ordered by number)."""
    name, side = _street_name(street, s.street_id), SIDE_WORDS.get(s.side, s.side)
    base = {"street_code": street.code if street else None, "side": s.side, "direction": s.direction,
            "jurisdiction": rule.name}
    found = []

    def add(code: str, message: str, codes: list[str], evidence: dict) -> None:
        found.append(Finding(48, code, "error", message, _street_label(street), codes[:MAX_CODES],
                             {**base, **evidence, "plates": len(codes)}, rule.parity_source))

    fixed = rule.sides_for(s.direction)
    for p in on_side:
        expected = fixed and (fixed.odd if p.number % 2 else fixed.even)
        if expected and p.side != expected:
            article = "an" if s.direction == "EW" else "a"
            add("plate-wrong-side", f"{name}: {p.number} is on the {side} side, but on {article} "
                f"{DIRECTION_WORDS[s.direction]} street {'odd' if p.number % 2 else 'even'} numbers belong "
                f"on the {SIDE_WORDS[expected]} side ({rule.name})", [p.code],
                {"number": p.number, "expected_side": expected})
    if fixed or s.odd_n + s.even_n == 0:
        return found
    if s.side_parity is None:
        add("plate-side-mixed", f"{name}: the {side} side mixes {s.odd_n} odd and {s.even_n} even numbers "
            "and no other side tells which belong here; one parity per side", [p.code for p in on_side],
            {"odd": s.odd_n, "even": s.even_n})
        return found
    for p in on_side:
        if (p.number % 2 != 0) != (s.side_parity == "odd"):
            add("plate-wrong-side", f"{name}: {p.number} is on the {side} side, which carries {s.side_parity} "
                f"numbers ({s.odd_n} odd, {s.even_n} even); odd and even numbers belong on opposite sides",
                [p.code], {"number": p.number, "side_parity": s.side_parity, "odd": s.odd_n, "even": s.even_n})
    if s.major is not None and s.side != s.leading_side:
        add("plate-sides-same-parity", f"{name}: both the {SIDE_WORDS.get(s.leading_side, s.leading_side)} "
            f"and the {side} side carry {s.major} numbers; odd and even numbers belong on opposite sides",
            [p.code for p in on_side], {"parity": s.major, "other_side": s.leading_side})
    return found


def _plates_on(db: DB, street_ids: set[int]) -> dict[int, list]:
    """Current numbered plates of the given streets, by street, in number order."""
    if not street_ids:
        return {}
    rows = db.execute(text(
        "SELECT street_id, code, number, suffix, side, village_code FROM addresses "
        "WHERE street_id = ANY(:ids) AND level = 'plate' AND valid_to IS NULL AND number IS NOT NULL "
        "ORDER BY number, suffix, code"), {"ids": sorted(street_ids)})
    found: dict[int, list] = {}
    for r in rows:
        found.setdefault(r.street_id, []).append(r)
    return found


def _street_name(street, street_id: int) -> str:
    return street.name if street is not None else f"street {street_id}"


_ORDER_WORDS = {"east_to_west": "from east to west", "west_to_east": "from west to east",
                "north_to_south": "from north to south", "south_to_north": "from south to north"}
MIN_TREND = 0.5  # |correlation| below this is too noisy to call a direction


_ORDER = """
SELECT street_id, jurisdiction, direction, count(*) AS n, min(expected_order) AS expected,
       corr(number, CASE WHEN direction = 'EW' THEN ST_X(point) ELSE ST_Y(point) END) AS trend
FROM (SELECT *, CASE WHEN direction = 'EW' THEN ew_order ELSE ns_order END AS expected_order FROM plates) AS o
WHERE expected_order <> 'any'
GROUP BY street_id, jurisdiction, direction
HAVING count(*) >= 3 AND CASE WHEN min(expected_order) IN ('east_to_west', 'north_to_south')
    THEN corr(number, CASE WHEN direction = 'EW' THEN ST_X(point) ELSE ST_Y(point) END) >= :trend
    ELSE corr(number, CASE WHEN direction = 'EW' THEN ST_X(point) ELSE ST_Y(point) END) <= -:trend END
"""


def _numbering_order(db: DB, scope: _Scope, rules: dict[str, PlateRules]) -> list[Finding]:
    patterns = [p + "%" for p, r in rules.items() if r.order.active and {r.ew_order, r.ns_order} != {"any"}]
    if not patterns:
        return []
    jurisdiction, jparams = _jurisdiction_sql(rules, "p.village_code")
    sql = "WITH " + _PLATES_WITH_RULES.format(
        rules_table=_RULES_TABLE, jurisdiction=jurisdiction, columns=", p.point, r.ew_order, r.ns_order",
        filters="AND s.direction IN ('EW', 'NS') AND p.village_code LIKE ANY(:patterns)",
        scope=scope.where("p")) + _ORDER
    rows = db.execute(text(sql), {**scope.params, **jparams, "rules": _rules_json(rules),
                                  "trend": MIN_TREND, "patterns": patterns}).all()
    streets = _streets(db, (r.street_id for r in rows))
    plates = _plates_on(db, {r.street_id for r in rows})
    found = []
    for r in rows:
        rule, street, numbered = rules[r.jurisdiction], streets.get(r.street_id), plates.get(r.street_id, [])
        ends = [numbered[0].code, numbered[-1].code] if numbered else []
        found.append(Finding(
            48, "plate-numbering-direction", rule.order.severity,
            f"{_street_name(street, r.street_id)}: numbers run against the rule ({rule.name}: "
            f"{DIRECTION_WORDS[r.direction]} streets are numbered {_ORDER_WORDS[r.expected]})",
            _street_label(street), ends,
            {"street_code": street.code if street else None, "direction": r.direction, "expected": r.expected,
             "correlation": round(r.trend, 3), "plates": r.n, "jurisdiction": rule.name}, rule.order.source))
    return found


# ---------------------------------------------------------------- rule 49


_SKIPS = """
{rules_table}, kids AS (
    SELECT c.parent_id, c.level, c.number, r.no_skip, r.key AS jurisdiction
    FROM addresses c
    JOIN rules r ON r.key = {jurisdiction}
    WHERE c.valid_to IS NULL AND c.level IN ('building', 'unit', 'room') AND c.number > 0
      AND cardinality(r.no_skip) > 0 AND c.village_code LIKE ANY(:patterns) {scope}
), seqs AS (
    SELECT parent_id, jurisdiction, no_skip, level AS seq, NULL::int AS floor,
           array_agg(DISTINCT number) AS nums, max(number) AS top
    FROM kids WHERE level IN ('building', 'unit') OR number < 100
    GROUP BY parent_id, jurisdiction, no_skip, level
    UNION ALL
    SELECT parent_id, jurisdiction, no_skip, 'floor', NULL, array_agg(DISTINCT number / 100), max(number / 100)
    FROM kids WHERE level = 'room' AND number >= 100
    GROUP BY parent_id, jurisdiction, no_skip
    UNION ALL
    SELECT parent_id, jurisdiction, no_skip, 'room', number / 100, array_agg(DISTINCT number % 100),
           max(number % 100)
    FROM kids WHERE level = 'room' AND number >= 100
    GROUP BY parent_id, jurisdiction, no_skip, number / 100
)
SELECT s.parent_id, s.jurisdiction, s.seq, s.floor, s.top, array_agg(x ORDER BY x) AS skipped
FROM seqs s CROSS JOIN LATERAL unnest(s.no_skip) AS x
WHERE x < s.top AND NOT x = ANY(s.nums)
GROUP BY s.parent_id, s.jurisdiction, s.seq, s.floor, s.top
"""


def _skipped_numbers(db: DB, scope: _Scope, rules: dict[str, PlateRules]) -> list[Finding]:
    patterns = [p + "%" for p, r in rules.items() if r.no_skip]
    if not patterns:
        return []
    jurisdiction, jparams = _jurisdiction_sql(rules, "c.village_code")
    sql = "WITH " + _SKIPS.format(rules_table=_RULES_TABLE, jurisdiction=jurisdiction, scope=scope.where("c"))
    rows = db.execute(text(sql), {**scope.params, **jparams, "rules": _rules_json(rules),
                                  "patterns": patterns}).all()
    if not rows:
        return []
    parents = _parents(db, {r.parent_id for r in rows})
    children = _children(db, {r.parent_id for r in rows})
    return [_skip_finding(r, parents.get(r.parent_id), children.get(r.parent_id, []), rules[r.jurisdiction])
            for r in rows]


def _parents(db: DB, ids: set[int]) -> dict[int, Any]:
    rows = db.execute(text(
        "SELECT a.address_id, a.code, a.local_address, coalesce(s.name, k.name, '') AS street "
        "FROM addresses a "
        "LEFT JOIN addresses s ON s.address_id = a.street_id AND s.valid_to IS NULL "
        "LEFT JOIN addresses k ON k.address_id = a.compound_id AND k.valid_to IS NULL "
        "WHERE a.address_id = ANY(:ids) AND a.valid_to IS NULL"), {"ids": sorted(ids)})
    return {r.address_id: r for r in rows}


def _children(db: DB, ids: set[int]) -> dict[int, list]:
    rows = db.execute(text(
        "SELECT parent_id, level, number, code FROM addresses "
        "WHERE parent_id = ANY(:ids) AND valid_to IS NULL AND number > 0 ORDER BY number, code"),
        {"ids": sorted(ids)})
    found: dict[int, list] = {}
    for r in rows:
        found.setdefault(r.parent_id, []).append(r)
    return found


def _sequence_key(seq: str, floor: int | None, child) -> int | None:
    """The number CHILD has in sequence SEQ (None when it is not in that sequence)."""
    if seq in ("building", "unit"):
        return child.number if child.level == seq else None
    if child.level != "room":
        return None
    if seq == "floor":
        return child.number // 100 if child.number >= 100 else None
    if floor is None:
        return child.number if child.number < 100 else None
    return child.number % 100 if child.number // 100 == floor else None


def _skip_finding(r, parent, children: list, rule: PlateRules) -> Finding:
    keyed = [(k, c.code) for c in children if (k := _sequence_key(r.seq, r.floor, c)) is not None]
    after = []
    for x in r.skipped:
        nxt = min(((k, code) for k, code in keyed if k > x), default=None)
        if nxt and nxt[1] not in after:
            after.append(nxt[1])
    where = parent.local_address if parent else f"address id {r.parent_id}"
    what = f"rooms on floor {r.floor}" if r.floor is not None else f"{r.seq} numbers"
    skipped = ", ".join(str(x) for x in r.skipped)
    return Finding(
        49, "number-skipped", "error",
        f"{where}: {what} skip {skipped} (up to {r.top}); {rule.name} numbers building, unit and room "
        f"sequences without skipping {', '.join(str(n) for n in rule.no_skip)}",
        parent.street if parent else "", ([parent.code] if parent else []) + after[:MAX_CODES - 1],
        {"parent_code": parent.code if parent else None, "sequence": r.seq, "floor": r.floor,
         "skipped": list(r.skipped), "highest": r.top, "jurisdiction": rule.name}, rule.no_skip_source)
