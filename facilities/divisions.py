"""The divisions facilities and coverage work with: lookup, code prefixes, children, community or village."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from boundaries.codes import DivisionCode
from data.errors import NotFound

PREFIX_LENGTH = {1: 2, 2: 4, 3: 6, 4: 9, 5: 12}


@dataclass(frozen=True)
class Division:
    """A current division: code, name, level (1 province … 5 village)."""

    code: str
    name: str
    level: int

    @property
    def prefix(self) -> str:
        """The code prefix every descendant's code (and every address's village code) starts with."""
        return self.code[:PREFIX_LENGTH[self.level]]


def get_division(db: Session | Connection, code: str, field: str = "division") -> Division:
    """The current division CODE (the higher level when a placeholder copy shares it); 404 when unknown."""
    parsed = DivisionCode.parse(code).value
    row = db.execute(text(
        "SELECT code, name, level FROM divisions WHERE code = :code AND valid_to IS NULL ORDER BY level LIMIT 1"),
        {"code": parsed}).first()
    if row is None:
        raise NotFound(f"no current division {parsed}", errors=[{"field": field, "message": "unknown division"}])
    return Division(row.code, row.name, row.level)


def children(db: Session | Connection, division: Division) -> list[Division]:
    """The current divisions one level below DIVISION (a village has none)."""
    rows = db.execute(text(
        "SELECT code, name, level FROM divisions WHERE parent_code = :code AND level = :level "
        "AND valid_to IS NULL AND code <> :code ORDER BY code"),
        {"code": division.code, "level": division.level + 1})
    found = [Division(r.code, r.name, r.level) for r in rows]
    if not found and division.level < 5:
        # a placeholder county copy (东莞 441900 at levels 2 and 3): its townships hang under the same code
        rows = db.execute(text(
            "SELECT code, name, level FROM divisions WHERE parent_code = :code AND level > :level "
            "AND valid_to IS NULL AND code <> :code ORDER BY level, code"),
            {"code": division.code, "level": division.level})
        found = [Division(r.code, r.name, r.level) for r in rows]
        found = [d for d in found if d.level == found[0].level] if found else []
    return found


def villages(db: Session | Connection, division: Division) -> list[Division]:
    """Every current village or community (level 5) inside DIVISION."""
    if division.level == 5:
        return [division]
    rows = db.execute(text(
        "SELECT code, name, level FROM divisions WHERE level = 5 AND valid_to IS NULL "
        "AND code LIKE :prefix ORDER BY code"), {"prefix": division.prefix + "%"})
    return [Division(r.code, r.name, r.level) for r in rows]


def townships(db: Session | Connection, division: Division) -> list[Division]:
    """Every current township (level 4) inside DIVISION (itself when it is one; none below)."""
    if division.level >= 4:
        return [division] if division.level == 4 else []
    rows = db.execute(text(
        "SELECT code, name, level FROM divisions WHERE level = 4 AND valid_to IS NULL "
        "AND code LIKE :prefix ORDER BY code"), {"prefix": division.prefix + "%"})
    return [Division(r.code, r.name, r.level) for r in rows]


def village_kind(code: str) -> str:
    """'community' for 居委会 ranges (001–199, 400–499), 'village' for 村委会 ones (domain.md §4.2)."""
    serial = int(code[9:12])
    return "community" if serial < 200 or 400 <= serial < 500 else "village"
