"""Division changes keep history: versions close and open, events record old → new codes."""

import datetime as dt

import pytest
from sqlalchemy import text

from boundaries.changes import Change, apply_change
from boundaries.codes import DivisionCode
from boundaries.divisions import get_division, locate
from data.errors import Conflict, InvalidInput, NotFound

DAY = dt.date(2025, 1, 1)


def versions(session, code):
    return session.execute(text(
        "SELECT name, valid_from, valid_to FROM divisions WHERE code = :c AND NOT placeholder "
        "ORDER BY valid_from"), {"c": code}).all()


def test_rename_keeps_the_code_and_the_history(session):
    apply_change(session, Change("rename", DAY, ("330502",), new_name="新吴兴区",
                                 approval_document="国函〔2025〕1号"))
    rows = versions(session, "330502")
    assert [(r.name, r.valid_to) for r in rows] == [("吴兴区", DAY), ("新吴兴区", None)]
    assert get_division(session, DivisionCode.parse("330502")).name == "新吴兴区"
    event = session.execute(text(
        "SELECT event_type, old_codes, new_codes, approval_document FROM division_events")).one()
    assert event == ("rename", ["330502"], ["330502"], "国函〔2025〕1号")


def test_merge_into_a_new_code_retires_the_old_ones(session):
    apply_change(session, Change("merge", DAY, ("330502", "330503"), new_code="330506",
                                 new_name="湖州中心区"))
    with pytest.raises(NotFound):
        get_division(session, DivisionCode.parse("330503"))
    merged = get_division(session, DivisionCode.parse("330506"), geometry=True)
    assert merged.kind == "市辖区" and merged.geometry["type"] == "MultiPolygon"
    assert [r.code for r in merged.chain] == ["330000", "330500", "330506"]
    assert locate(session, 120.09, 30.87).chain[-1].code == "330506"


def test_retired_codes_are_never_reused(session):  # rule 32
    apply_change(session, Change("abolish", DAY, ("330503",)))
    with pytest.raises(Conflict, match="废码不用"):
        apply_change(session, Change("create", dt.date(2025, 6, 1), (), new_code="330503",
                                     new_name="南浔区"))


def test_create_derives_level_parent_and_kind(session):
    apply_change(session, Change("create", DAY, (), new_code="330599", new_name="测试县"))
    created = get_division(session, DivisionCode.parse("330599"))
    assert (created.level, created.parent_code, created.kind) == (3, "330500", "县")
    audit = session.execute(text(
        "SELECT action FROM audit_log WHERE entity_type = 'division_event'")).scalars().all()
    assert audit == ["create"]


@pytest.mark.parametrize("change", [
    Change("rename", DAY, ("330502",)),                          # no new name
    Change("rename", dt.date(2020, 1, 1), ("330502",), new_name="x"),  # before valid_from
    Change("merge", DAY, ("330502",), new_code="330506", new_name="x"),
    Change("split", DAY, ("330502",)),
])
def test_invalid_changes_are_refused(session, change):
    with pytest.raises(InvalidInput):
        apply_change(session, change)
