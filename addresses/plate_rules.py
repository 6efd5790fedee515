"""Plate-numbering rules per jurisdiction (domain.md §6.3), read once from `data/plate_rules.toml`.

The file is keyed by division-code prefix; an address takes the rules of the longest prefix its
village code starts with, every key a jurisdiction leaves out coming from `[default]`. The file is
validated when it is read: an unknown key or value stops the load with a message naming it.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from data.errors import GazetteerError

PARITY_MODES = ("opposite_sides", "by_direction", "off")
SEVERITIES = ("error", "warning", "off")
AUTHORITIES = ("地名办", "公安")
DIRECTION_SIDES = {"EW": ("N", "S"), "NS": ("W", "E")}
ORDERS = {"EW": ("east_to_west", "west_to_east", "any"), "NS": ("north_to_south", "south_to_north", "any")}
PREFIX_LENGTHS = (2, 4, 6, 9, 12)

_TOP_KEYS = {"name", "plate_authority", "authority_source", "parity", "order", "duplicates", "gaps",
             "no_skip"}
_SUB_KEYS = {
    "parity": {"mode", "EW", "NS", "source"},
    "order": {"EW", "NS", "severity", "source"},
    "duplicates": {"severity", "source"},
    "gaps": {"severity", "source"},
    "no_skip": {"numbers", "source"},
}
_PREFIX = re.compile(r"[0-9]+")


class PlateRulesError(GazetteerError):
    """The plate-rules file is malformed; the message names the table and key."""

    code = "bad-plate-rules"
    title = "Bad plate-rules configuration"


@dataclass(frozen=True, slots=True)
class Sides:
    """Which side of a street carries the odd and which the even numbers."""

    odd: str
    even: str


@dataclass(frozen=True, slots=True)
class Check:
    """How serious a rule's breach is ('off' = not checked) and where the rule comes from."""

    severity: str
    source: str

    @property
    def active(self) -> bool:
        """Whether the rule is checked at all."""
        return self.severity != "off"


@dataclass(frozen=True, slots=True)
class PlateRules:
    """The numbering rules of one jurisdiction, with [default] filled in."""

    prefix: str                 # '' for the default rules
    name: str
    plate_authority: str
    authority_source: str
    parity: str
    ew_sides: Sides | None
    ns_sides: Sides | None
    parity_source: str
    ew_order: str
    ns_order: str
    order: Check
    duplicates: Check
    gaps: Check
    no_skip: tuple[int, ...]
    no_skip_source: str

    def sides_for(self, direction: str | None) -> Sides | None:
        """The fixed sides for a street of DIRECTION, or None when only opposite sides are required."""
        if self.parity != "by_direction":
            return None
        return {"EW": self.ew_sides, "NS": self.ns_sides}.get(direction or "")

    def as_sql(self) -> dict[str, Any]:
        """The rules as one row for the checks' SQL (`jsonb_to_recordset`)."""
        return {
            "key": self.prefix, "parity": self.parity,
            "ew_odd": self.ew_sides.odd if self.ew_sides else None,
            "ew_even": self.ew_sides.even if self.ew_sides else None,
            "ns_odd": self.ns_sides.odd if self.ns_sides else None,
            "ns_even": self.ns_sides.even if self.ns_sides else None,
            "ew_order": self.ew_order, "ns_order": self.ns_order,
            "no_skip": list(self.no_skip),
        }


def load_rules(path: Path | None = None) -> dict[str, PlateRules]:
    """Read and validate a plate-rules file (the packaged one by default), keyed by prefix ('' = default)."""
    if path is None:
        raw_text = resources.files("addresses").joinpath("data/plate_rules.toml").read_text("utf-8")
        where = "addresses/data/plate_rules.toml"
    else:
        raw_text, where = Path(path).read_text("utf-8"), str(path)
    try:
        raw = tomllib.loads(raw_text)
    except tomllib.TOMLDecodeError as exc:
        raise PlateRulesError(f"{where}: not valid TOML ({exc})") from exc
    if "default" not in raw:
        raise PlateRulesError(f"{where}: a [default] table is required")
    base = raw["default"]
    rules = {}
    for key, table in raw.items():
        prefix = "" if key == "default" else _checked_prefix(where, key)
        _check_keys(where, key, table)
        rules[prefix] = _build(where, key, prefix, _merged(base, table))
    return rules


@cache
def all_rules() -> dict[str, PlateRules]:
    """The packaged rules, read once per process."""
    return load_rules()


def rules_for(division_code: str, rules: dict[str, PlateRules] | None = None) -> PlateRules:
    """The rules of the longest prefix DIVISION_CODE starts with, else the default rules."""
    rules = all_rules() if rules is None else rules
    for length in sorted({len(p) for p in rules if len(p) <= len(division_code)}, reverse=True):
        found = rules.get(division_code[:length])
        if found is not None:
            return found
    return rules[""]


def _checked_prefix(where: str, key: str) -> str:
    if not _PREFIX.fullmatch(key) or len(key) not in PREFIX_LENGTHS:
        raise PlateRulesError(f"{where}: [{key}] is not a division-code prefix of 2, 4, 6, 9 or 12 digits "
                              "(or [default])")
    return key


def _check_keys(where: str, key: str, table: Any) -> None:
    if not isinstance(table, dict):
        raise PlateRulesError(f"{where}: [{key}] must be a table")
    unknown = set(table) - _TOP_KEYS
    if unknown:
        raise PlateRulesError(f"{where}: [{key}] has unknown keys {sorted(unknown)}; allowed: {sorted(_TOP_KEYS)}")
    for sub, allowed in _SUB_KEYS.items():
        if sub not in table:
            continue
        if not isinstance(table[sub], dict):
            raise PlateRulesError(f"{where}: [{key}.{sub}] must be a table")
        extra = set(table[sub]) - allowed
        if extra:
            raise PlateRulesError(f"{where}: [{key}.{sub}] has unknown keys {sorted(extra)}; "
                                  f"allowed: {sorted(allowed)}")


def _merged(base: dict, table: dict) -> dict:
    merged = dict(base)
    for name, value in table.items():
        merged[name] = {**base.get(name, {}), **value} if isinstance(value, dict) else value
    return merged


def _build(where: str, key: str, prefix: str, t: dict) -> PlateRules:
    def need(table: dict, name: str, label: str):
        if name not in table:
            raise PlateRulesError(f"{where}: [{key}] needs {label} (in [{key}] or [default])")
        return table[name]

    parity, order = t.get("parity", {}), t.get("order", {})
    authority = need(t, "plate_authority", "plate_authority")
    if authority not in AUTHORITIES:
        raise PlateRulesError(f"{where}: [{key}] plate_authority must be one of {AUTHORITIES}, not {authority!r}")
    mode = _one_of(where, f"{key}.parity", "mode", need(parity, "mode", "parity.mode"), PARITY_MODES)
    ew, ns = _sides(where, key, parity, "EW"), _sides(where, key, parity, "NS")
    if mode == "by_direction" and ew is None and ns is None:
        raise PlateRulesError(f"{where}: [{key}.parity] mode 'by_direction' needs an EW or NS table of sides")
    return PlateRules(
        prefix=prefix, name=str(need(t, "name", "name")), plate_authority=authority,
        authority_source=str(t.get("authority_source", "")), parity=mode, ew_sides=ew, ns_sides=ns,
        parity_source=str(parity.get("source", "")),
        ew_order=_one_of(where, f"{key}.order", "EW", order.get("EW", "any"), ORDERS["EW"]),
        ns_order=_one_of(where, f"{key}.order", "NS", order.get("NS", "any"), ORDERS["NS"]),
        order=_check(where, key, "order", order), duplicates=_check(where, key, "duplicates", t),
        gaps=_check(where, key, "gaps", t), no_skip=_numbers(where, key, t.get("no_skip", {})),
        no_skip_source=str(t.get("no_skip", {}).get("source", "")),
    )


def _one_of(where: str, table: str, name: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise PlateRulesError(f"{where}: [{table}] {name} must be one of {allowed}, not {value!r}")
    return value


def _sides(where: str, key: str, parity: dict, direction: str) -> Sides | None:
    table = parity.get(direction)
    if table is None:
        return None
    allowed = DIRECTION_SIDES[direction]
    if not isinstance(table, dict) or set(table) != {"odd", "even"}:
        raise PlateRulesError(f"{where}: [{key}.parity] {direction} must be {{ odd = …, even = … }}")
    if {table["odd"], table["even"]} != set(allowed):
        raise PlateRulesError(f"{where}: [{key}.parity] {direction} sides must be {allowed[0]} and {allowed[1]}, "
                              f"one odd and one even, not {table}")
    return Sides(odd=table["odd"], even=table["even"])


def _check(where: str, key: str, name: str, t: dict) -> Check:
    table = t if name == "order" else t.get(name, {})
    severity = _one_of(where, f"{key}.{name}", "severity", table.get("severity", "off"), SEVERITIES)
    return Check(severity=severity, source=str(table.get("source", "")))


def _numbers(where: str, key: str, table: dict) -> tuple[int, ...]:
    numbers = table.get("numbers", [])
    if not isinstance(numbers, list) or not all(type(n) is int and 1 <= n <= 99 for n in numbers):
        raise PlateRulesError(f"{where}: [{key}.no_skip] numbers must be a list of whole numbers 1–99, "
                              f"not {numbers!r}")
    return tuple(sorted(set(numbers)))
