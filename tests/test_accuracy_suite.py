"""The labelled address suite: its data checked against the real divisions, then the parser held to it."""

from __future__ import annotations

import re
from collections import Counter
from types import SimpleNamespace

import pytest
from rich.console import Console
from sqlalchemy import Connection, text

from addresses.accuracy import (
    ADMIN_FIELDS,
    CLASSES,
    COMPONENTS,
    TEXT_FIELDS,
    LabelledAddress,
    evaluate,
    load_labelled,
    main,
    parse_rows,
    render,
)

LEVEL_OF = {name: level for level, name in enumerate(ADMIN_FIELDS, start=1)}
COMMITTEE = re.compile(r"(社区居民委员会|社区居委会|村民委员会|居民委员会|村委会|居委会)$")


@pytest.fixture(scope="module")
def rows() -> list[LabelledAddress]:
    return load_labelled()


def _divisions(connection: Connection, rows: list[LabelledAddress]) -> dict[tuple[str, int], tuple[str, str]]:
    codes = sorted({row.expected[name] for row in rows for name in ADMIN_FIELDS if row.expected[name]})
    found = connection.execute(text(
        "SELECT code, level, name, parent_code FROM divisions WHERE valid_to IS NULL AND code = ANY(:codes)"),
        {"codes": codes})
    return {(code, level): (name, parent or "") for code, level, name, parent in found}


def _spoken_forms(name: str) -> set[str]:
    """How a village committee's name is written in an address: 余村村委会 → 余村, 江滨社区居委会 → 江滨社区."""
    core = COMMITTEE.sub("", name)
    if name.endswith(("社区居民委员会", "社区居委会")):
        return {core + "社区"}
    if core.endswith(("村", "社区")):
        return {core}
    return {core + "村", core + "社区"}


# --- the data itself -------------------------------------------------------------------------------


def test_size_ids_and_classes(rows):
    assert len(rows) >= 320
    assert len({row.id for row in rows}) == len(rows), "ids must be unique"
    assert len({row.text for row in rows}) == len(rows), "texts must be unique"
    per_class = Counter(row.cls for row in rows)
    assert set(per_class) == set(CLASSES)
    assert min(per_class.values()) >= 15, per_class
    assert per_class["plain"] > 15 and per_class["messy"] > 15


def test_all_provinces_and_zhejiang_share(connection, rows):
    provinces = {code for (code,) in connection.execute(text(
        "SELECT code FROM divisions WHERE valid_to IS NULL AND level = 1"))}
    assert {row.expected["province_code"] for row in rows} == provinces
    zhejiang = sum(row.expected["province_code"] == "330000" for row in rows) / len(rows)
    assert 0.35 <= zhejiang <= 0.5, zhejiang


def test_every_code_is_current_and_chains_to_the_codes_above(connection, rows):
    divisions = _divisions(connection, rows)
    problems = []
    for row in rows:
        filled = [name for name in ADMIN_FIELDS if row.expected[name]]
        if filled != list(ADMIN_FIELDS[:len(filled)]) or not filled:
            problems.append(f"{row.id}: codes must fill from the province down without gaps: {filled}")
            continue
        for name in filled:
            level = LEVEL_OF[name]
            found = divisions.get((row.expected[name], level))
            if found is None:
                problems.append(f"{row.id}: {name} {row.expected[name]} is no current level-{level} division")
            elif level > 1 and found[1] != row.expected[ADMIN_FIELDS[level - 2]]:
                problems.append(f"{row.id}: {name} {row.expected[name]} has parent {found[1]}, "
                                f"not {row.expected[ADMIN_FIELDS[level - 2]]}")
    assert not problems, "\n".join(problems)


def test_labelled_villages_are_named_in_the_text(connection, rows):
    divisions = _divisions(connection, rows)
    with_village = [row for row in rows if row.expected["village_code"]]
    assert len(with_village) >= 20
    for row in with_village:
        name = divisions[(row.expected["village_code"], 5)][0]
        assert any(form in row.text for form in _spoken_forms(name)), (row.id, name, row.text)


def test_no_unlabelled_village_of_the_town_is_named(connection, rows):
    towns = sorted({row.expected["town_code"] for row in rows
                    if row.expected["town_code"] and not row.expected["village_code"]})
    villages: dict[str, list[str]] = {}
    for parent, name in connection.execute(text(
            "SELECT parent_code, name FROM divisions WHERE valid_to IS NULL AND level = 5 "
            "AND parent_code = ANY(:towns)"), {"towns": towns}):
        villages.setdefault(parent, []).append(name)
    named = [(row.id, name) for row in rows if row.expected["town_code"] and not row.expected["village_code"]
             for name in villages.get(row.expected["town_code"], [])
             if any(len(form) >= 3 and form in row.text for form in _spoken_forms(name))]
    assert not named, named


def test_component_labels_appear_verbatim_in_order(rows):
    for row in rows:
        position = 0
        for name in TEXT_FIELDS:
            label = row.expected[name]
            if label:
                found = row.text.find(label, position)
                assert found >= 0, (row.id, name, label, row.text)
                position = found + len(label)


# --- the scorer ------------------------------------------------------------------------------------


def _row(**expected: str) -> LabelledAddress:
    values = dict.fromkeys(COMPONENTS, "") | expected
    return LabelledAddress(id="t1", text="…", cls="plain", expected=values)


def _parsed(**values: str | None) -> SimpleNamespace:
    return SimpleNamespace(**(dict.fromkeys(COMPONENTS) | values), warnings=[])


ZJ = {"province_code": "330000", "city_code": "330100", "county_code": "330106"}


def test_a_perfect_parse_scores_one():
    row = _row(**ZJ, road="文三路", roadno="１２號")
    report = evaluate([row], [_parsed(**ZJ, road="文三路", roadno="12号")])
    assert report.all_admin == 1.0 and not report.failures
    assert all(report.score(name) == 1.0 for name in COMPONENTS)


def test_an_invented_township_is_a_false_positive_and_fails_all_admin():
    report = evaluate([_row(**ZJ)], [_parsed(**ZJ, town_code="330106001")])
    assert report.all_admin == 0.0
    assert report.components["town_code"].false_positives == 1
    assert report.score("town_code") == 0.0 and report.components["town_code"].recall == 1.0
    assert report.failures[0].wrong == {"town_code": ("", "330106001")}


def test_a_missing_code_fails_and_counts_against_accuracy():
    report = evaluate([_row(**ZJ), _row(**ZJ)], [_parsed(**ZJ), _parsed(province_code="330000")])
    assert report.all_admin == 0.5
    assert report.components["county_code"].accuracy == 0.5
    assert report.components["county_code"].recall == 0.5
    assert report.class_rate("plain") == 0.5


def test_an_unlabelled_village_is_not_judged_but_a_labelled_one_is():
    unlabelled = evaluate([_row(**ZJ)], [_parsed(**ZJ, village_code="330106001001")])
    assert unlabelled.all_admin == 1.0 and not unlabelled.failures
    assert unlabelled.components["village_code"].false_positives == 1
    assert unlabelled.score("village_code") == 0.0
    labelled = _row(**ZJ, town_code="330106001", village_code="330106001001")
    report = evaluate([labelled], [_parsed(**ZJ, town_code="330106001", village_code="330106001002")])
    assert report.all_admin == 0.0 and report.score("village_code") == 0.0


def test_the_report_renders_failures():
    report = evaluate([_row(**ZJ, road="文三路")], [_parsed(**ZJ, road="文二路")])
    console = Console(record=True, width=200)
    render(report, console, show_failures=5)
    output = console.export_text()
    assert "文二路" in output and "all-admin 100.0%" in output
    assert "road" in report.summary()
    with pytest.raises(ValueError):
        evaluate([_row(**ZJ)], [])


# --- the parser against the suite --------------------------------------------------------------------


def test_parser_meets_the_accuracy_targets(connection, rows):
    report = evaluate(rows, parse_rows(rows, connection))
    misses = [f"all-admin {report.all_admin:.3f} < 0.97"] if report.all_admin < 0.97 else []
    misses += [f"{name} {report.score(name):.3f} < 0.97" for name in ADMIN_FIELDS if report.score(name) < 0.97]
    misses += [f"{name} {report.score(name):.3f} < 0.90" for name in TEXT_FIELDS if report.score(name) < 0.90]
    assert not misses, "; ".join(misses) + "\n" + report.summary(show_failures=80)


def test_command_line_prints_the_report_for_one_class(capsys, rows):
    assert main(["--class", "devzone", "--show-failures", "3"]) == 0
    output = capsys.readouterr().out
    devzones = sum(row.cls == "devzone" for row in rows)
    assert f"{devzones} rows" in output and "province_code" in output and "plain" not in output
