"""The place-name class vocabulary (domain.md §2) and the 专名/通名 split it drives (§1.2)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources

from data.errors import InvalidInput

SCOPES = ("nation", "province", "county", "builtup", "none")
APPROVER_KINDS = (
    "state_council", "government", "placename_dept", "housing_dept", "other_dept", "natural_resources",
)
ROMANIZE_MODES = ("separate", "joined", "building", "street")


class UnknownCategory(InvalidInput):
    """A category code or name that is not in the vocabulary."""


@dataclass(frozen=True)
class Category:
    """One census class ("04") or sub-class ("0404") with what the rules need to know about it."""

    code: str
    name: str
    class_code: str
    class_name: str
    generics: tuple[str, ...]
    scope: str
    approvers: tuple[str, ...]
    romanize: str
    restricted: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def is_subclass(self) -> bool:
        """Whether this is a four-digit sub-class."""
        return len(self.code) == 4


@cache
def _vocabulary() -> dict[str, Category]:
    raw = tomllib.loads(resources.files("placenames").joinpath("data/categories.toml").read_text("utf-8"))
    out: dict[str, Category] = {}
    for cls in raw["class"]:
        subs = [_subclass(cls, sub) for sub in cls["sub"]]
        out.update((s.code, s) for s in subs)
        out[cls["code"]] = Category(
            code=cls["code"], name=cls["name"], class_code=cls["code"], class_name=cls["name"],
            generics=_longest_first({g for s in subs for g in s.generics}),
            restricted=tuple(r for s in subs for r in s.restricted),
            scope=subs[0].scope if len({s.scope for s in subs}) == 1 else "county",
            approvers=tuple(dict.fromkeys(a for s in subs for a in s.approvers)),
            romanize=subs[0].romanize if len({s.romanize for s in subs}) == 1 else "separate",
        )
    return out


def _subclass(cls: dict, sub: dict) -> Category:
    if sub["scope"] not in SCOPES or sub["romanize"] not in ROMANIZE_MODES:
        raise ValueError(f"categories.toml: bad scope or romanize mode in {sub['code']}")
    if any(a not in APPROVER_KINDS for a in sub["approvers"]):
        raise ValueError(f"categories.toml: unknown approver kind in {sub['code']}")
    return Category(
        code=sub["code"], name=sub["name"], class_code=cls["code"], class_name=cls["name"],
        generics=_longest_first(sub["generics"]), scope=sub["scope"],
        approvers=tuple(sub["approvers"]), romanize=sub["romanize"],
        restricted=tuple((g, tuple(names)) for g, names in sub.get("restricted", {}).items()),
    )


def _longest_first(words) -> tuple[str, ...]:
    return tuple(sorted(set(words), key=lambda w: (-len(w), w)))


def all_categories() -> list[Category]:
    """Every class and sub-class, classes first within their group, in code order."""
    return sorted(_vocabulary().values(), key=lambda c: (c.class_code, c.code))


def get_category(value: str) -> Category:
    """Resolve a class or sub-class by code ("0801") or name ("街路巷", "行政区域")."""
    value = (value or "").strip()
    vocab = _vocabulary()
    if value in vocab:
        return vocab[value]
    for cat in vocab.values():
        if value == cat.name or (cat.is_subclass and value in cat.name.split("、")):
            return cat
    codes = ", ".join(f"{c.code} {c.name}" for c in all_categories() if not c.is_subclass)
    raise UnknownCategory(
        f"unknown place-name category {value!r}; use a class or sub-class code or name, e.g. {codes}"
    )


@cache
def all_generics() -> tuple[str, ...]:
    """Every 通名 in the vocabulary, longest first."""
    return _longest_first({g for c in _vocabulary().values() for g in c.generics})


@cache
def _restricted() -> dict[str, tuple[str, ...]]:
    return {g: names for c in _vocabulary().values() for g, names in c.restricted}


def split_name(name: str, category: Category | None = None) -> tuple[str, str]:
    """Split a name into (专名, 通名) by the longest 通名 of its category that ends it; ('name', '') if none."""
    generics = category.generics if category else all_generics()
    restricted = _restricted()
    for generic in generics:
        if name.endswith(generic) and len(name) > len(generic):
            specific = name[: -len(generic)]
            if generic in restricted and specific not in restricted[generic]:
                continue
            return specific, generic
    return name, ""
