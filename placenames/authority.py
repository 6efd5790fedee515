"""Who may approve a name (Art. 12, §1.6), where the approval is filed (Art. 13, §1.7) and the
15-day deadlines for 备案 and 公告 (Arts. 13–14), counted in calendar days (Asia/Shanghai)."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from boundaries.codes import DivisionCode
from data.errors import InvalidInput
from placenames.categories import Category
from placenames.rules import Finding

DB = Session | Connection
FILING_DAYS = 15        # Art. 13: filed within 15 days of approval
ANNOUNCEMENT_DAYS = 15  # Art. 14: announced within 15 days of approval (or of filing)
APPROVER_KINDS = {
    "npc": "全国人民代表大会",
    "state_council": "国务院",
    "government": "人民政府",
    "placename_dept": "地名行政主管部门(民政)",
    "housing_dept": "住房和城乡建设主管部门",
    "natural_resources": "国务院自然资源主管部门",
    "other_dept": "其他有关部门",
}
CENTRAL_ONLY = {"npc", "state_council", "natural_resources"}
MUNICIPALITIES = {"11", "12", "31", "50"}
COUNTY_GOVERNMENT_KINDS = {"县", "自治县", "县级市", "旗", "自治旗", "林区", "特区"}


@dataclass(frozen=True, slots=True)
class Approver:
    """An approving body: its kind, the division it governs (None = central) and its display name."""

    kind: str
    division_code: str | None
    division_level: int | None
    division_kind: str | None
    name: str

    @property
    def is_government_or_placename_dept(self) -> bool:
        """Art. 14: these announce within 15 days of approval; other departments of filing."""
        return self.kind in {"npc", "state_council", "government", "placename_dept"}

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


def _division(db: DB, code: str) -> tuple[str, int, str, str | None, str | None]:
    # The parent is the nearest real division above: 朝阳区 (110105) sits under the statistical
    # placeholder 市辖区 (110100), but its next-higher government is 北京市 (110000).
    row = db.execute(text("""
        WITH RECURSIVE d AS (
            SELECT code, level, name, kind, parent_code FROM divisions
            WHERE code = :c AND valid_to IS NULL AND NOT placeholder ORDER BY level LIMIT 1
        ), up AS (
            SELECT p.code, p.level, p.name, p.placeholder, p.parent_code FROM divisions p JOIN d
              ON p.code = d.parent_code AND p.level = d.level - 1 AND p.valid_to IS NULL
            UNION ALL
            SELECT p.code, p.level, p.name, p.placeholder, p.parent_code FROM divisions p JOIN up
              ON up.placeholder AND p.code = up.parent_code AND p.level = up.level - 1 AND p.valid_to IS NULL
        )
        SELECT d.name, d.level, d.kind, p.name AS parent_name, p.code AS parent_code
        FROM d LEFT JOIN (SELECT * FROM up WHERE NOT placeholder ORDER BY level DESC LIMIT 1) p ON true"""),
        {"c": code}).one_or_none()
    if row is None:
        raise InvalidInput(f"approver division {code} is not a current division",
                           errors=[{"field": "approver_division", "message": "unknown division"}])
    return row.name, row.level, row.kind, row.parent_name, row.parent_code


def _government_name(name: str, level: int, parent_name: str | None) -> str:
    # County governments are conventionally styled with their city: 湖州市吴兴区人民政府.
    prefix = parent_name if level == 3 and parent_name and parent_name.endswith("市") else ""
    return f"{prefix}{name}人民政府"


def _bureau(level: int, code: str) -> str:
    # Provinces and autonomous regions have 厅 (民政厅); municipalities and lower levels 局.
    return "厅" if level == 1 and code[:2] not in MUNICIPALITIES else "局"


def _placename_dept_name(name: str, level: int, code: str) -> str:
    return f"{name}民政{_bureau(level, code)}"


def describe_approver(db: DB, kind: str, division_code: str | None, name: str | None = None) -> Approver:
    """Resolve an approver kind and division into an Approver with its official-style name."""
    if kind not in APPROVER_KINDS:
        raise InvalidInput(f"approver_kind must be one of {', '.join(APPROVER_KINDS)}",
                           errors=[{"field": "approver_kind", "message": f"unknown kind {kind!r}"}])
    if kind in CENTRAL_ONLY or division_code is None:
        if kind not in CENTRAL_ONLY and kind not in {"other_dept", "placename_dept", "housing_dept"}:
            raise InvalidInput(f"a {APPROVER_KINDS[kind]} approver needs approver_division",
                               errors=[{"field": "approver_division", "message": "required"}])
        central = {"placename_dept": "民政部", "housing_dept": "住房和城乡建设部",
                   "natural_resources": "自然资源部"}.get(kind, APPROVER_KINDS[kind])
        return Approver(kind, None, None, None, name or central)
    DivisionCode.parse(division_code)
    dname, level, dkind, parent_name, _ = _division(db, division_code)
    if level > 3:
        raise InvalidInput("approving bodies sit at county level or above",
                           errors=[{"field": "approver_division", "message": "township or village code"}])
    display = {
        "government": lambda: _government_name(dname, level, parent_name),
        "placename_dept": lambda: _placename_dept_name(dname, level, division_code),
        "housing_dept": lambda: f"{dname}住房和城乡建设{_bureau(level, division_code)}",
    }.get(kind)
    return Approver(kind, division_code, level, dkind, name or (display() if display else dname + "有关部门"))


def filing_target(db: DB, approver: Approver) -> str | None:
    """Art. 13 / §9 rule 17: who the approval is filed with; None when the approver is the top body."""
    if approver.kind in {"npc", "state_council"}:
        return None
    if approver.division_code is None:
        if approver.kind == "placename_dept":
            return None  # 民政部 itself is the national 地名行政主管部门
        return "国务院（材料报送民政部）"
    name, level, _, parent_name, parent_code = _division(db, approver.division_code)
    if approver.kind == "government":
        if level == 1 or parent_code is None:
            return "国务院（材料报送民政部）"
        pname, plevel, _, grand_name, _ = _division(db, parent_code)
        return _government_name(pname, plevel, grand_name) + "（材料报送其地名行政主管部门）"
    if approver.kind == "placename_dept":
        if level == 1 or parent_code is None:
            return "民政部"
        pname, plevel, *_ = _division(db, parent_code)
        return _placename_dept_name(pname, plevel, parent_code)
    return _placename_dept_name(name, level, approver.division_code)  # other departments: same level


def filing_due(approver: Approver, approval_date: dt.date) -> dt.date | None:
    """§9 rule 16: approval date + 15 calendar days (None when nothing is filed)."""
    if approver.kind in {"npc", "state_council"} or (
            approver.division_code is None and approver.kind == "placename_dept"):
        return None
    return approval_date + dt.timedelta(days=FILING_DAYS)


def announcement_due(approver: Approver, approval_date: dt.date, filing_date: dt.date | None) -> dt.date | None:
    """§9 rule 18: approval + 15 days for governments and 地名 departments, else filing + 15 days."""
    if approver.is_government_or_placename_dept:
        return approval_date + dt.timedelta(days=ANNOUNCEMENT_DAYS)
    return filing_date + dt.timedelta(days=ANNOUNCEMENT_DAYS) if filing_date else None


def _finding(message: str, evidence: dict[str, Any]) -> Finding:
    return Finding(rule=15, code="wrong-authority", severity="error", message=message,
                   evidence=evidence, source="LRB-DM Art. 12; LRB-QH")


def _city_or_county(approver: Approver) -> bool:
    """直辖市、市、县 (Art. 12): a municipality, a city (not 地区/自治州/盟) or a county-level non-district."""
    if approver.division_level == 1:
        return (approver.division_code or "")[:2] in MUNICIPALITIES
    if approver.division_level == 2:
        return approver.division_kind == "地级市"
    return approver.division_kind in COUNTY_GOVERNMENT_KINDS


def authority_findings(category: Category, approver: Approver, *, name_division: str,
                       placename_dept_consulted: bool = False) -> list[Finding]:
    """§9 rule 15 and the Art. 12 table: does this approver fit this category and place?"""
    evidence = {"category": category.code, "approver": approver.name, "approver_kind": approver.kind}
    found: list[Finding] = []
    if approver.kind not in category.approvers:
        allowed = "、".join(APPROVER_KINDS[k] for k in category.approvers)
        found.append(_finding(f"{category.name}由{allowed}批准，不是{approver.name}", evidence))
    if approver.division_code and not name_division.startswith(_jurisdiction_stem(approver)):
        found.append(_finding(f"{approver.name}无权批准其辖区({approver.division_code})以外的地名"
                              f"(所在政区 {name_division})", evidence))
    if category.code == "0801" and approver.kind == "government" and not _city_or_county(approver):
        found.append(_finding("街路巷名称由直辖市、市、县人民政府批准(Art. 12)", evidence))
    if (category.code == "0703" or category.class_code == "11") and approver.kind == "housing_dept":
        if not _city_or_county(approver):
            found.append(_finding("住宅区、楼宇名称由直辖市、市、县住房和城乡建设主管部门批准", evidence))
        if not placename_dept_consulted:
            found.append(_finding("住房和城乡建设部门批准前须征求同级地名行政主管部门意见(Art. 12)", evidence))
    if category.code == "0404" and approver.kind == "government" and approver.division_level != 1:
        found.append(_finding("乡、镇的设立、撤销、更名由省级人民政府批准(行政区划管理条例)", evidence))
    return found


def _jurisdiction_stem(approver: Approver) -> str:
    code = approver.division_code or ""
    return {1: code[:2], 2: code[:4], 3: code[:6]}.get(approver.division_level or 0, "")
