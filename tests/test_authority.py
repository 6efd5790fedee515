"""Who approves, where it is filed and by when (placenames.authority; domain.md §1.6–1.7, §9 rules 15–18)."""

import datetime as dt

import pytest
from sqlalchemy import text

from data.errors import InvalidInput
from placenames.authority import (
    announcement_due,
    authority_findings,
    describe_approver,
    filing_due,
    filing_target,
)
from placenames.categories import get_category

JAN_20 = dt.date(2025, 1, 20)


@pytest.mark.parametrize("kind, code, name", [
    ("government", "330500", "湖州市人民政府"),
    ("government", "330502", "湖州市吴兴区人民政府"),
    ("government", "330000", "浙江省人民政府"),
    ("government", "110105", "北京市朝阳区人民政府"),       # the district of a municipality, through 市辖区
    ("government", "220104", "长春市朝阳区人民政府"),
    ("placename_dept", "330000", "浙江省民政厅"),
    ("placename_dept", "110000", "北京市民政局"),            # municipalities have a 局
    ("placename_dept", "330500", "湖州市民政局"),
    ("housing_dept", "330500", "湖州市住房和城乡建设局"),
    ("placename_dept", None, "民政部"),
    ("state_council", None, "国务院"),
])
def test_describe_approver_names_the_body(session, kind, code, name):
    assert describe_approver(session, kind, code).name == name


def test_describe_approver_keeps_a_given_name(session):
    approver = describe_approver(session, "other_dept", "330500", "湖州市交通运输局")
    assert (approver.name, approver.division_level, approver.division_kind) == ("湖州市交通运输局", 2, "地级市")


@pytest.mark.parametrize("kind, code", [
    ("emperor", "330500"),        # unknown kind
    ("government", None),         # a government governs somewhere
    ("government", "330502001"),  # township level cannot approve
    ("government", "339999"),     # no such division
])
def test_describe_approver_refuses(session, kind, code):
    with pytest.raises(InvalidInput):
        describe_approver(session, kind, code)


@pytest.mark.parametrize("kind, code, target", [
    ("government", "330502", "湖州市人民政府（材料报送其地名行政主管部门）"),   # county → prefecture
    ("government", "330500", "浙江省人民政府（材料报送其地名行政主管部门）"),   # prefecture → province
    ("government", "330000", "国务院（材料报送民政部）"),                     # province → State Council
    ("government", "110105", "北京市人民政府（材料报送其地名行政主管部门）"),   # not past the municipality
    ("government", "429004", "湖北省人民政府（材料报送其地名行政主管部门）"),   # 省直辖县级 仙桃市
    ("placename_dept", "330502", "湖州市民政局"),                             # next-higher 地名 department
    ("placename_dept", "330500", "浙江省民政厅"),
    ("placename_dept", "330000", "民政部"),
    ("placename_dept", "110105", "北京市民政局"),
    ("other_dept", "330500", "湖州市民政局"),                                 # same-level 地名 department
    ("housing_dept", "330502", "吴兴区民政局"),
    ("state_council", None, None),                                            # nobody above
    ("placename_dept", None, None),                                           # 民政部 itself
])
def test_filing_target_rule_17(session, kind, code, target):
    assert filing_target(session, describe_approver(session, kind, code)) == target


def test_filing_due_is_15_calendar_days_across_a_month_end(session):
    county = describe_approver(session, "government", "330502")
    assert filing_due(county, JAN_20) == dt.date(2025, 2, 4)                       # §9 rule 16
    assert filing_due(county, dt.date(2024, 2, 20)) == dt.date(2024, 3, 6)         # leap year
    assert filing_due(describe_approver(session, "state_council", None), JAN_20) is None


def test_announcement_due_rule_18(session):
    government = describe_approver(session, "government", "330500")
    dept = describe_approver(session, "placename_dept", "330000")
    other = describe_approver(session, "other_dept", "330500", "湖州市交通运输局")
    filed = dt.date(2025, 1, 30)
    assert announcement_due(government, JAN_20, filed) == dt.date(2025, 2, 4)     # from approval
    assert announcement_due(dept, JAN_20, None) == dt.date(2025, 2, 4)
    assert announcement_due(other, JAN_20, filed) == dt.date(2025, 2, 14)         # from filing
    assert announcement_due(other, JAN_20, None) is None                          # not filed yet


def findings(session, category, kind, code, name_division="330502", **kwargs):
    approver = describe_approver(session, kind, code)
    return authority_findings(get_category(category), approver, name_division=name_division, **kwargs)


def test_street_needs_a_city_or_county_government(session):
    district = findings(session, "0801", "government", "330502")
    assert [(f.rule, f.code, f.severity) for f in district] == [(15, "wrong-authority", "error")]
    assert "直辖市、市、县" in district[0].message
    assert findings(session, "0801", "government", "330500") == []
    assert findings(session, "0801", "government", "110000", name_division="110105") == []   # 直辖市
    assert findings(session, "0801", "government", "330521", name_division="330521") == []   # 县


def test_street_approved_by_a_prefecture_that_is_not_a_city(session):
    prefecture = session.execute(text(
        "SELECT code FROM divisions WHERE kind = '地区' AND valid_to IS NULL AND NOT placeholder "
        "ORDER BY code LIMIT 1")).scalar_one()
    county = session.execute(text(
        "SELECT code FROM divisions WHERE parent_code = :p AND level = 3 AND valid_to IS NULL "
        "AND NOT placeholder ORDER BY code LIMIT 1"), {"p": prefecture}).scalar_one()
    found = findings(session, "0801", "government", prefecture, name_division=county)
    assert [f.code for f in found] == ["wrong-authority"]


def test_residential_area_needs_housing_department_and_consultation(session):
    unconsulted = findings(session, "0703", "housing_dept", "330500")
    assert len(unconsulted) == 1 and "征求" in unconsulted[0].message
    assert findings(session, "0703", "housing_dept", "330500", placename_dept_consulted=True) == []
    government = findings(session, "0703", "government", "330500", placename_dept_consulted=True)
    assert [f.code for f in government] == ["wrong-authority"]                    # not a housing department


def test_approver_outside_the_names_division(session):
    found = findings(session, "0801", "government", "330500", name_division="330102")
    assert len(found) == 1 and "330500" in found[0].message and found[0].evidence["approver"] == "湖州市人民政府"


def test_township_names_need_the_provincial_government(session):
    county = findings(session, "0404", "government", "330502", name_division="330502100")
    assert [f.severity for f in county] == ["error"] and "省级人民政府" in county[0].message
    assert findings(session, "0404", "government", "330000", name_division="330502100") == []
