"""The 不规范地名 batch audit over the registry (placenames.cleanup; domain.md §7, §9 rules 3–13)."""

from __future__ import annotations

import csv
from collections import Counter

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from api.cli import app
from boundaries.codes import DivisionCode
from placenames.cleanup import CSV_COLUMNS, audit_registry, write_csv, write_html
from placenames.registry import NameInput, register

WUXING = DivisionCode.parse("330502")


def add(connection, name, category, division_code="330502"):
    return register(connection, NameInput(name=name, category=category, division_code=division_code),
                    actor="test")


def found(result, name_id):
    return {(r.finding.rule, r.finding.code, r.finding.severity) for r in result.rows if r.name_id == name_id}


@pytest.fixture
def violations(connection):
    village, code = connection.execute(text(
        "SELECT name, division_code FROM place_names p WHERE category = '0502' AND division_code LIKE '330502%' "
        "AND valid_to IS NULL AND NOT EXISTS (SELECT 1 FROM place_names q WHERE q.name = p.name "
        "AND q.name_id <> p.name_id AND q.division_code LIKE '330502%') ORDER BY division_code LIMIT 1")).one()
    other_township = "330502101" if not code.startswith("330502101") else "330502102"
    return {
        "universe": add(connection, "宇宙城小区", "0703"),
        "manhattan": add(connection, "曼哈顿广场", "1101"),
        "village": add(connection, village, "0502", other_township),
        "seeded_village": connection.execute(text(
            "SELECT name_id FROM place_names WHERE name = :n AND division_code = :c AND valid_to IS NULL"),
            {"n": village, "c": code}).scalar_one(),
    }


def test_audit_flags_the_registered_violations(connection, violations):
    result = audit_registry(connection, division=WUXING)
    assert (10, "exaggerated-word", "error") in found(result, violations["universe"])
    assert (8, "foreign-place", "error") in found(result, violations["manhattan"])
    assert found(result, violations["village"]) == {(4, "duplicate", "error")}
    assert found(result, violations["seeded_village"]) == {(4, "duplicate", "error")}


def test_audit_checks_every_current_name_of_the_division(connection, violations):
    result = audit_registry(connection, division=WUXING)
    expected = connection.execute(text(
        "SELECT count(*) FROM place_names WHERE division_code LIKE '330502%' AND valid_to IS NULL "
        "AND status = 'standard'")).scalar_one()
    assert result.checked == expected
    assert {r.division_code[:6] for r in result.rows} == {"330502"}


def test_audit_finds_the_seeded_duplicates_of_the_county(connection):
    pairs = connection.execute(text(
        "SELECT array_agg(name_id) FROM place_names WHERE category = '0502' AND division_code LIKE '330502%' "
        "AND valid_to IS NULL GROUP BY name HAVING count(*) > 1")).scalars().all()
    assert pairs                                                               # 红旗村委会 twice in 吴兴区
    result = audit_registry(connection, division=WUXING)
    flagged = {r.name_id for r in result.rows if (r.finding.rule, r.finding.code) == (4, "duplicate")}
    assert flagged == {i for ids in pairs for i in ids}


def test_township_homophone_elsewhere_in_the_province_is_found(connection):
    daixi = connection.execute(text(
        "SELECT name_id FROM place_names WHERE name = '岱西镇' AND division_code LIKE '33%' AND valid_to IS NULL"
    )).scalar_one()                                                            # 舟山市岱山县, not in 吴兴区
    result = audit_registry(connection, division=WUXING)
    homophones = [r for r in result.rows if r.name == "埭溪镇" and r.finding.code == "homophone"]
    assert [(r.finding.rule, r.finding.severity) for r in homophones] == [(3, "warning")]
    assert daixi in homophones[0].finding.evidence["ids"] and "岱西镇" in homophones[0].finding.message
    assert daixi not in {r.name_id for r in result.rows}                      # listed only as the other name


def test_counts_and_names_flagged(connection, violations):
    result = audit_registry(connection, division=WUXING)
    tally = Counter((r.finding.rule, r.finding.code, r.finding.severity) for r in result.rows)
    assert sorted(result.counts()) == sorted((*key, n) for key, n in tally.items())
    assert [n for *_, n in result.counts()] == sorted(tally.values(), reverse=True)
    assert result.names_flagged() == len({r.name_id for r in result.rows if r.finding.severity != "info"})
    assert {violations["universe"], violations["manhattan"], violations["village"]} <= {
        r.name_id for r in result.rows}


def test_write_csv_and_html(connection, violations, tmp_path):
    result = audit_registry(connection, division=WUXING)
    write_csv(result, tmp_path / "list.csv")
    raw = (tmp_path / "list.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")                                    # Excel needs the BOM
    rows = list(csv.reader(raw.decode("utf-8-sig").splitlines()))
    assert tuple(rows[0]) == CSV_COLUMNS and len(rows) == len(result.rows) + 1
    universe = [r for r in rows[1:] if r[0] == str(violations["universe"]) and r[5] == "10"]
    assert universe and universe[0][1:5] == ["宇宙城小区", "0703", "住宅区", "330502"]

    write_html(result, tmp_path / "list.html", scope="政区 330502")
    page = (tmp_path / "list.html").read_text(encoding="utf-8")
    assert '<table id="counts">' in page and "政区 330502" in page and "宇宙城小区" in page
    for rule, code, severity, n in result.counts():
        assert f"<td>{rule}</td><td>{code}</td>\n<td>{severity}</td><td>{n}</td>" in page


def test_cli_audit_writes_both_files(tmp_path):
    result = CliRunner().invoke(app, ["placenames", "audit", "--division", "330502", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "names checked" in result.output and "duplicate" in result.output
    listed = (tmp_path / "不规范地名.csv").read_text(encoding="utf-8-sig")
    assert listed.startswith(",".join(CSV_COLUMNS)) and "红旗村委会" in listed
    assert '<table id="counts">' in (tmp_path / "不规范地名.html").read_text(encoding="utf-8")
