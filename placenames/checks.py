"""The naming-rule checker with the registry: text rules plus duplicates and homophones within the
legal scope of each category (§1.3 items 7–8, §9 rules 3–6)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shapely.geometry.base import BaseGeometry
from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from boundaries.codes import DivisionCode
from boundaries.divisions import descendant_prefix
from placenames.categories import Category
from placenames.registry import division_name, parse_geometry
from placenames.romanize import pinyin_key
from placenames.rules import Finding, Proposal, check_text, homophone_keys

DB = Session | Connection
NATIONAL = ("0401", "0402", "0403")
BUILDINGS = ("0703", "11")  # important residential areas and buildings are checked together


@dataclass(frozen=True, slots=True)
class Scope:
    """Where duplicates count: the SQL filter, its parameters, the rule and a description."""

    rule: int
    where: str
    params: dict[str, Any]
    description: str
    source: str
    fallback: bool = False  # a built-up-area scope replaced by the county (no polygon covers the place)


def _category_filter(category: Category) -> tuple[str, dict[str, Any]]:
    if category.code in NATIONAL:
        return "category = ANY(:cats)", {"cats": list(NATIONAL)}
    if category.code == "0703" or category.class_code == "11":
        return "(category = '0703' OR category LIKE '11%')", {}
    if category.is_subclass:
        return "category = :cat", {"cat": category.code}
    return "category LIKE :cat", {"cat": category.code + "%"}


def _builtup_area(db: DB, geom: BaseGeometry | None, division_code: str) -> tuple[int, str] | None:
    if geom is not None:
        row = db.execute(text("SELECT id, name FROM builtup_areas WHERE ST_Intersects(geom, "
                              "ST_GeomFromText(:wkt, 4490)) ORDER BY ST_Area(geom) LIMIT 1"),
                         {"wkt": geom.wkt}).first()
    else:
        row = db.execute(text("SELECT id, name FROM builtup_areas WHERE :d LIKE division_code || '%' "
                              "ORDER BY length(division_code) DESC LIMIT 1"), {"d": division_code}).first()
    return (row.id, row.name) if row else None


def scope_for(db: DB, category: Category, division_code: str, geom: BaseGeometry | None) -> Scope | None:
    """The duplicate-check scope of a category at a place (None for categories without one)."""
    cat_sql, params = _category_filter(category)
    code = division_code
    if category.scope == "nation":
        return Scope(6, cat_sql, params, "全国", "LRB-DM Art. 9(7)")
    if category.scope == "province":
        return Scope(3, f"{cat_sql} AND division_code LIKE :stem", {**params, "stem": code[:2] + "%"},
                     f"省级政区 {division_name(db, code[:2] + '0000')}", "LRB-DM Art. 9(8); FS-172294")
    if category.scope == "builtup":
        area = _builtup_area(db, geom, code)
        if area:
            where = (f"{cat_sql} AND ST_Intersects(geom, (SELECT geom FROM builtup_areas WHERE id = :area))")
            return Scope(5, where, {**params, "area": area[0]}, f"建成区 {area[1]}",
                         "LRB-DM Art. 9(8); FS-172294")
        county = code[:6]
        return Scope(5, f"{cat_sql} AND division_code LIKE :stem", {**params, "stem": county + "%"},
                     f"县级政区 {division_name(db, county)}（没有建成区图层覆盖此处，按县级政区检查）",
                     "LRB-DM Art. 9(8); FS-172294 (scope fallback: design choice)", fallback=True)
    if category.scope == "county":
        parsed = DivisionCode.parse(code)
        scope_code = code[:6] if parsed.level >= 3 else code  # the county, or the wider division given
        stem = descendant_prefix(DivisionCode.parse(scope_code))
        return Scope(4, f"{cat_sql} AND division_code LIKE :stem", {**params, "stem": stem},
                     f"政区 {division_name(db, scope_code)}",
                     "LRB-DM Art. 9(8); FS-172294" if category.class_code == "05"
                     else "LRB-DM Art. 9(8) by analogy (design choice)")
    return None


def _city_names(db: DB, division_code: str) -> list[str]:
    rows = db.execute(text("SELECT name FROM divisions WHERE code = ANY(:c) AND valid_to IS NULL "
                           "AND NOT placeholder AND level <= 3"),
                      {"c": [division_code[:4] + "00", division_code[:6]]}).scalars()
    names = []
    for name in rows:
        names.append(name)
        if name.endswith("市") and len(name) > 2:
            names.append(name[:-1])
    return names


def duplicate_findings(db: DB, name: str, category: Category, division_code: str,
                       geom: BaseGeometry | None = None, exclude_name_id: int | None = None) -> list[Finding]:
    """§9 rules 3–6: same name → error; same toneless pinyin (or a 新/大/city variant) → warning."""
    scope = scope_for(db, category, division_code, geom)
    if scope is None:
        return []
    keys = sorted(homophone_keys(name, _city_names(db, division_code)) | {pinyin_key(name)})
    rows = db.execute(text(
        f"SELECT name_id, name, division_code FROM place_names WHERE valid_to IS NULL "
        f"AND status = 'standard' AND {scope.where} AND (name = :name OR pinyin_key = ANY(:keys)) "
        f"AND name_id IS DISTINCT FROM :exclude ORDER BY name <> :name, name_id LIMIT 20"),
        {**scope.params, "name": name, "keys": keys, "exclude": exclude_name_id}).all()
    found = []
    for row in rows:
        same = row.name == name
        found.append(Finding(
            rule=scope.rule, code="duplicate" if same else "homophone",
            severity="error" if same else "warning",
            message=(f"与{scope.description}内的现有地名“{row.name}”{'重名' if same else '同音或仅差新/大/市名前缀'}"),
            evidence={"name_id": row.name_id, "name": row.name, "division_code": row.division_code,
                      "scope": scope.description},
            source=scope.source))
    if not rows and scope.fallback:
        found.append(Finding(rule=5, code="scope-fallback", severity="info",
                             message=f"重名检查范围：{scope.description}", evidence={"scope": scope.description},
                             source=scope.source))
    return found


def check_proposal(db: DB, proposal: Proposal, *, geometry: dict | None = None,
                   exclude_name_id: int | None = None) -> list[Finding]:
    """Every naming rule for one proposed name: the text rules and the registry duplicates."""
    findings = list(check_text(proposal))
    if proposal.division_code:
        DivisionCode.parse(proposal.division_code)
        division_name(db, proposal.division_code)
        findings += duplicate_findings(db, proposal.name, proposal.category, proposal.division_code,
                                       parse_geometry(geometry), exclude_name_id)
    return sorted(findings, key=lambda f: ({"error": 0, "warning": 1, "info": 2}[f.severity], f.rule))
