"""Plate-numbering rules per jurisdiction and the address checks (§9 rules 46–49) on crafted data."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from addresses.checks import check_plates, summarize
from addresses.plate_rules import PlateRulesError, all_rules, load_rules, rules_for
from tests.address_builders import (
    BEIJING_VILLAGE,
    DEFAULT_VILLAGE,
    HANGZHOU_VILLAGE,
    NINGBO_VILLAGE,
    SHANGHAI_VILLAGE,
    add_building,
    add_compound,
    add_plate,
    add_room,
    add_standard_name,
    add_street,
    add_unit,
    close,
)

ALL_VILLAGES = [DEFAULT_VILLAGE, BEIJING_VILLAGE, NINGBO_VILLAGE, SHANGHAI_VILLAGE]


def codes_of(findings, code=None):
    return {c for f in findings if code is None or f.code == code for c in f.address_codes}


def only(findings, code):
    return [f for f in findings if f.code == code]


def clean_street(conn, village, direction="EW"):
    """A street with plates 1–8 on the right sides, one numbered building tree under plate 1."""
    street = add_street(conn, village_code=village, direction=direction)
    plates = [add_plate(conn, street, n) for n in range(1, 9)]
    buildings = [add_building(conn, plates[0], n) for n in range(1, 16)]
    for unit_no in (1, 2):
        unit = add_unit(conn, buildings[0], unit_no)
        for floor in range(1, 6):
            for k in range(1, 5):
                add_room(conn, unit, floor * 100 + k)
    return street, plates, buildings


# ---------------------------------------------------------------- configuration


def test_longest_prefix_picks_the_jurisdiction():
    assert rules_for(BEIJING_VILLAGE).name == "北京市"
    assert rules_for(NINGBO_VILLAGE).name == "宁波市"
    assert rules_for(SHANGHAI_VILLAGE).name == "上海市"
    assert rules_for("330106002051").prefix == ""     # 杭州: not Ningbo's 3302
    assert rules_for("3302").name == "宁波市"
    assert rules_for(DEFAULT_VILLAGE).name == "全国通用"


def test_each_jurisdiction_carries_its_rules_and_sources():
    beijing, shanghai, default = rules_for("11"), rules_for("31"), rules_for("")
    assert beijing.no_skip == (4, 13, 14) and "BJ-2012" in beijing.no_skip_source
    assert beijing.sides_for("EW").odd == "N" and beijing.sides_for("NS").even == "E"
    assert beijing.sides_for("dead_end") is None       # the entrance is not stored
    assert default.sides_for("EW") is None and default.parity == "opposite_sides"
    assert shanghai.plate_authority == "公安" and "LRB-SH" in shanghai.authority_source
    assert "LRB-NB" in rules_for("3302").gaps.source
    # Keys a jurisdiction leaves out come from [default].
    assert shanghai.parity == "opposite_sides" and shanghai.no_skip == ()
    assert all(r.plate_authority in ("地名办", "公安") for r in all_rules().values())


@pytest.mark.parametrize(("toml", "named"), [
    ('[default]\nname = "x"\nplate_authority = "地名办"\ncolour = "blue"\n[default.parity]\nmode = "off"\n',
     "colour"),
    ('[default]\nname = "x"\nplate_authority = "地名办"\n[default.parity]\nmode = "off"\nstep = 2\n', "step"),
    ('[default]\nname = "x"\nplate_authority = "地名办"\n[default.parity]\nmode = "off"\n[beijing]\n', "beijing"),
    ('[default]\nname = "x"\nplate_authority = "居委会"\n[default.parity]\nmode = "off"\n', "plate_authority"),
    ('[default]\nname = "x"\nplate_authority = "地名办"\n[default.parity]\nmode = "by_direction"\n'
     'EW = { odd = "E", even = "W" }\n', "EW"),
    ('[default]\nname = "x"\nplate_authority = "地名办"\n[default.parity]\nmode = "off"\n'
     '[default.no_skip]\nnumbers = ["4"]\n', "numbers"),
    ('[11]\nname = "x"\n', "[default]"),
])
def test_a_bad_rules_file_is_refused_naming_the_key(tmp_path, toml, named):
    path = tmp_path / "rules.toml"
    path.write_text(toml, encoding="utf-8")
    with pytest.raises(PlateRulesError) as err:
        load_rules(path)
    assert named in err.value.detail


# ---------------------------------------------------------------- clean data


@pytest.mark.parametrize("village", ALL_VILLAGES)
@pytest.mark.parametrize("direction", ["EW", "NS"])
def test_clean_street_has_no_findings(connection, village, direction):
    street, _, _ = clean_street(connection, village, direction)
    assert check_plates(connection, street_id=street.address_id) == []


def test_compound_tree_is_checked_too(connection):
    compound = add_compound(connection, village_code=BEIJING_VILLAGE)
    tree = [compound, *(add_building(connection, compound, n) for n in (1, 2, 3))]
    tree += [add_room(connection, tree[1], n) for n in (101, 102, 201, 202)]
    mine = {row.code for row in tree}
    assert not codes_of(check_plates(connection, division=BEIJING_VILLAGE)) & mine
    fifth = add_building(connection, compound, 5)
    skipped = [f for f in check_plates(connection, division=BEIJING_VILLAGE) if set(f.address_codes) & mine]
    assert [(f.code, f.address_codes) for f in skipped] == [("number-skipped", [compound.code, fifth.code])]


# ---------------------------------------------------------------- rule 46


def test_plate_on_a_street_without_standard_name_is_an_error(connection):
    street = add_street(connection, named=False, name="无名路")
    add_plate(connection, street, 1)
    findings = check_plates(connection, street_id=street.address_id)
    assert [(f.rule, f.code, f.severity) for f in findings] == [(46, "street-without-standard-name", "error")]
    assert findings[0].address_codes == [street.code] and findings[0].evidence["plates"] == 1


@pytest.mark.parametrize(("status", "registered", "code"), [
    ("historical", "文一路", "street-name-not-standard"),
    ("standard", "文二路", "street-name-mismatch"),
])
def test_street_name_must_be_the_current_standard_name(connection, status, registered, code):
    name_id = add_standard_name(connection, registered, status=status)
    street = add_street(connection, name="文一路", place_name_id=name_id)
    add_plate(connection, street, 1)
    assert [f.code for f in check_plates(connection, street_id=street.address_id)] == [code]


def test_a_retired_standard_name_leaves_the_street_unnamed(connection):
    street = add_street(connection)
    connection.execute(text("UPDATE place_names SET valid_to = '2025-01-01' WHERE name_id = :id"),
                       {"id": street.place_name_id})
    assert [f.code for f in check_plates(connection, street_id=street.address_id)] == ["street-name-not-current"]


def test_plate_whose_street_is_retired(connection):
    street = add_street(connection)
    plate = add_plate(connection, street, 1)
    close(connection, street)
    findings = only(check_plates(connection, street_id=street.address_id), "plate-street-missing")
    assert len(findings) == 1 and findings[0].address_codes == [plate.code]


def test_address_in_an_unknown_village_is_an_error(connection):
    street = add_street(connection, village_code="620102999999")
    plate = add_plate(connection, street, 1)
    findings = check_plates(connection, street_id=street.address_id)
    assert [f.code for f in findings] == ["address-village-unknown"]
    assert set(findings[0].address_codes) == {street.code, plate.code}
    assert findings[0].evidence == {"village_code": "620102999999", "addresses": 2}


def test_building_whose_plate_was_retired_is_an_orphan(connection):
    street = add_street(connection)
    plate = add_plate(connection, street, 1)
    building = add_building(connection, plate, 1)
    close(connection, plate)
    findings = check_plates(connection, street_id=street.address_id)
    assert [(f.code, f.address_codes) for f in findings] == [("address-parent-missing", [building.code])]


def test_parent_of_the_wrong_level_or_code(connection):
    street = add_street(connection)
    plate, other = add_plate(connection, street, 1), add_plate(connection, street, 3)
    building = add_building(connection, plate, 1)
    unit = add_unit(connection, building, 1)
    stray = add_building(connection, plate, 2)
    connection.execute(text("UPDATE addresses SET parent_id = :p WHERE address_id = :id"),
                       {"p": plate.address_id, "id": unit.address_id})
    connection.execute(text("UPDATE addresses SET parent_id = :p WHERE address_id = :id"),
                       {"p": other.address_id, "id": stray.address_id})
    findings = {f.code: f.address_codes for f in check_plates(connection, street_id=street.address_id)}
    assert findings == {"address-parent-level": [unit.code], "address-parent-code": [stray.code]}


# ---------------------------------------------------------------- rule 47


def test_duplicate_number_on_one_street_is_an_error(connection):
    street = add_street(connection)
    one, dup_a, dup_b = (add_plate(connection, street, n) for n in (1, 3, 3))
    add_plate(connection, street, 3, suffix="之1")     # another suffix: not a duplicate
    findings = check_plates(connection, street_id=street.address_id)
    assert [(f.rule, f.code, f.severity) for f in findings] == [(47, "plate-duplicate", "error")]
    assert findings[0].address_codes == sorted([dup_a.code, dup_b.code])
    assert one.code not in findings[0].address_codes


def test_same_number_on_two_streets_is_no_duplicate(connection):
    first, second = add_street(connection), add_street(connection, name="文二路")
    add_plate(connection, first, 1)
    add_plate(connection, second, 1)
    assert check_plates(connection, street_id=first.address_id) == []
    assert check_plates(connection, street_id=second.address_id) == []


@pytest.mark.parametrize("village", ALL_VILLAGES)
def test_gap_without_reserved_number_warns(connection, village):
    street = add_street(connection, village_code=village)
    plates = {n: add_plate(connection, street, n) for n in (1, 3, 7, 2, 4)}
    findings = check_plates(connection, street_id=street.address_id)
    assert [(f.rule, f.code, f.severity) for f in findings] == [(47, "plate-gap", "warning")]
    assert findings[0].evidence["missing"] == [5]
    assert findings[0].address_codes == [plates[3].code, plates[7].code]
    assert findings[0].evidence["jurisdiction"] == rules_for(village).name


def test_reserved_number_explains_the_gap(connection):
    street = add_street(connection)
    for n in (1, 3, 7, 2, 4):
        add_plate(connection, street, n)
    add_plate(connection, street, 5, reserved=True)
    assert check_plates(connection, street_id=street.address_id) == []


def test_numbers_missing_before_the_first_are_a_gap(connection):
    street = add_street(connection)
    for n in (1, 3, 8, 10):
        add_plate(connection, street, n)
    gaps = only(check_plates(connection, street_id=street.address_id), "plate-gap")
    assert [(g.evidence["parity"], g.evidence["missing"], g.evidence["after"]) for g in gaps] == [
        ("even", [2, 4, 6], None)]


def test_long_gap_lists_its_count(connection):
    street = add_street(connection)
    add_plate(connection, street, 1)
    add_plate(connection, street, 101)
    gap = only(check_plates(connection, street_id=street.address_id), "plate-gap")[0]
    assert gap.evidence["missing_count"] == 49 and len(gap.evidence["missing"]) == 20


def test_a_jurisdiction_can_turn_the_gap_check_off(connection, tmp_path):
    path = tmp_path / "rules.toml"
    path.write_text('[default]\nname = "test"\nplate_authority = "地名办"\n[default.parity]\nmode = "off"\n'
                    '[default.duplicates]\nseverity = "error"\n[default.gaps]\nseverity = "off"\n',
                    encoding="utf-8")
    street = add_street(connection)
    for n in (1, 3, 3, 9):
        add_plate(connection, street, n, side="N")
    findings = check_plates(connection, street_id=street.address_id, rules=load_rules(path))
    assert [f.code for f in findings] == ["plate-duplicate"]
    assert check_plates(connection, street_id=street.address_id)  # the packaged rules still warn


# ---------------------------------------------------------------- rule 48


def swapped_sides(conn, village, direction="EW"):
    """Plates with odd numbers on the south (or east) side and even on the north (or west)."""
    street = add_street(conn, village_code=village, direction=direction)
    swap = {"EW": ("S", "N"), "NS": ("E", "W")}[direction]
    plates = [add_plate(conn, street, n, side=swap[0] if n % 2 else swap[1]) for n in (1, 2, 3, 4)]
    return street, plates


@pytest.mark.parametrize("direction", ["EW", "NS"])
def test_beijing_fixes_the_side_of_each_parity(connection, direction):
    street, plates = swapped_sides(connection, BEIJING_VILLAGE, direction)
    findings = check_plates(connection, street_id=street.address_id)
    assert {(f.rule, f.code, f.severity) for f in findings} == {(48, "plate-wrong-side", "error")}
    assert codes_of(findings) == {p.code for p in plates}
    assert all(f.source.startswith("BJ-2012") for f in findings)
    odd = next(f for f in findings if f.evidence["number"] == 1)
    assert odd.evidence["expected_side"] == ("N" if direction == "EW" else "W")


@pytest.mark.parametrize("village", [DEFAULT_VILLAGE, HANGZHOU_VILLAGE, NINGBO_VILLAGE, SHANGHAI_VILLAGE])
def test_elsewhere_either_side_may_be_odd(connection, village):
    street, _ = swapped_sides(connection, village)
    assert check_plates(connection, street_id=street.address_id) == []


def test_plate_on_a_side_that_an_ew_street_does_not_have(connection):
    street = add_street(connection, village_code=BEIJING_VILLAGE)
    for n in (1, 2, 3, 4):
        add_plate(connection, street, n)
    bad = add_plate(connection, street, 5, side="E")
    findings = check_plates(connection, street_id=street.address_id)
    assert [(f.code, f.address_codes, f.evidence["expected_side"]) for f in findings] == [
        ("plate-wrong-side", [bad.code], "N")]


def test_minority_parity_on_a_side_is_wrong(connection):
    street = add_street(connection)
    for n in (1, 3, 5, 2, 4, 6):
        add_plate(connection, street, n)
    wrong = add_plate(connection, street, 8, side="N")     # an even number among the odd ones
    findings = check_plates(connection, street_id=street.address_id)
    assert [(f.code, f.address_codes) for f in findings] == [("plate-wrong-side", [wrong.code])]
    assert findings[0].evidence["side_parity"] == "odd"


def test_tied_side_is_decided_by_the_other_side(connection):
    street = add_street(connection)
    add_plate(connection, street, 1, side="N")
    wrong = add_plate(connection, street, 2, side="N")
    for n in (4, 6):
        add_plate(connection, street, n, side="S")
    findings = check_plates(connection, street_id=street.address_id)
    assert [(f.code, f.address_codes) for f in findings] == [("plate-wrong-side", [wrong.code])]


def test_tied_side_with_nothing_opposite_is_reported_once(connection):
    street = add_street(connection)
    plates = [add_plate(connection, street, n, side="N") for n in (1, 2)]
    findings = check_plates(connection, street_id=street.address_id)
    assert [(f.code, sorted(f.address_codes)) for f in findings] == [
        ("plate-side-mixed", sorted(p.code for p in plates))]


def test_both_sides_with_the_same_parity(connection):
    street = add_street(connection)
    small = [add_plate(connection, street, n, side="S") for n in (1, 3)]
    for n in (5, 7, 9):
        add_plate(connection, street, n, side="N")
    findings = check_plates(connection, street_id=street.address_id)
    assert [(f.code, f.address_codes) for f in findings] == [("plate-sides-same-parity", [p.code for p in small])]


def test_beijing_dead_end_alley_needs_only_opposite_sides(connection):
    street, _ = swapped_sides(connection, BEIJING_VILLAGE, "EW")
    connection.execute(text("UPDATE addresses SET direction = 'dead_end' WHERE address_id = :id"),
                       {"id": street.address_id})
    assert check_plates(connection, street_id=street.address_id) == []
    wrong = add_plate(connection, street, 6, side="S")     # S carries the odd numbers here
    findings = check_plates(connection, street_id=street.address_id)
    assert [(f.code, f.address_codes) for f in findings] == [("plate-wrong-side", [wrong.code])]


def test_beijing_numbering_direction(connection):
    street = add_street(connection, village_code=BEIJING_VILLAGE, lon=116.4, lat=39.9)
    for n in range(1, 7):    # numbered west → east: x grows with the number
        add_plate(connection, street, n, lon=116.4 + n * 0.0002)
    findings = check_plates(connection, street_id=street.address_id)
    assert [(f.rule, f.code, f.severity) for f in findings] == [(48, "plate-numbering-direction", "warning")]
    assert findings[0].evidence["expected"] == "east_to_west"
    default = add_street(connection, lon=116.4, lat=39.9)
    for n in range(1, 7):
        add_plate(connection, default, n, lon=116.4 + n * 0.0002)
    assert check_plates(connection, street_id=default.address_id) == []


def test_beijing_ns_street_numbered_south_to_north(connection):
    street = add_street(connection, village_code=BEIJING_VILLAGE, direction="NS", lon=116.4, lat=39.9)
    for n in range(1, 7):
        add_plate(connection, street, n, lat=39.9 + n * 0.0002)
    assert [f.code for f in check_plates(connection, street_id=street.address_id)] == [
        "plate-numbering-direction"]


# ---------------------------------------------------------------- rule 49


def skipping_tree(conn, village):
    """Buildings 1,2,3,5 under a plate; rooms 301,302,303,305 and floors 1,2,3,5 in one unit."""
    street = add_street(conn, village_code=village)
    plate = add_plate(conn, street, 1)
    buildings = [add_building(conn, plate, n) for n in (1, 2, 3, 5)]
    unit = add_unit(conn, buildings[0], 1)
    rooms = {n: add_room(conn, unit, n) for n in (101, 102, 201, 202, 301, 302, 303, 305, 501, 502)}
    return street, plate, buildings, unit, rooms


def test_beijing_sequences_must_not_skip_4_13_14(connection):
    street, plate, buildings, unit, rooms = skipping_tree(connection, BEIJING_VILLAGE)
    findings = check_plates(connection, street_id=street.address_id)
    assert {f.rule for f in findings} == {49} and {f.severity for f in findings} == {"error"}
    by_sequence = {(f.evidence["sequence"], f.evidence["floor"]): f for f in findings}
    assert set(by_sequence) == {("building", None), ("floor", None), ("room", 3)}
    assert by_sequence["building", None].address_codes == [plate.code, buildings[3].code]
    assert by_sequence["floor", None].address_codes == [unit.code, rooms[501].code]
    assert by_sequence["room", 3].address_codes == [unit.code, rooms[305].code]
    assert all(f.evidence["skipped"] == [4] for f in findings)


def test_no_skip_rule_only_where_configured(connection):
    street, *_ = skipping_tree(connection, DEFAULT_VILLAGE)
    assert check_plates(connection, street_id=street.address_id) == []


def test_13_and_14_and_units(connection):
    street = add_street(connection, village_code=BEIJING_VILLAGE)
    plate = add_plate(connection, street, 1)
    building = add_building(connection, plate, 1)
    for n in (1, 2, 3, 4, 5):
        add_unit(connection, building, n)
    others = [add_building(connection, plate, n) for n in list(range(2, 13)) + [15]]
    findings = check_plates(connection, street_id=street.address_id)
    assert [(f.evidence["sequence"], f.evidence["skipped"]) for f in findings] == [("building", [13, 14])]
    assert findings[0].address_codes == [plate.code, others[-1].code]


def test_a_sequence_that_simply_ends_before_4_is_fine(connection):
    street = add_street(connection, village_code=BEIJING_VILLAGE)
    plate = add_plate(connection, street, 1)
    for n in (1, 2, 3):
        add_building(connection, plate, n)
    assert check_plates(connection, street_id=street.address_id) == []


# ---------------------------------------------------------------- scope and summary


def test_division_scope_limits_the_rows(connection):
    here = add_street(connection, village_code="620102001002")
    there = add_street(connection, village_code="620102001001")
    for street in (here, there):
        for n in (1, 1):
            add_plate(connection, street, n)
    findings = only(check_plates(connection, division="620102001002"), "plate-duplicate")
    assert findings and all(c.startswith("620102001002") for f in findings for c in f.address_codes)
    assert any(f.evidence["street_code"] == here.code for f in findings)
    county = only(check_plates(connection, division="620102"), "plate-duplicate")
    assert {here.code, there.code} <= {f.evidence["street_code"] for f in county}


def test_bad_division_is_refused(connection):
    from data.errors import InvalidInput

    with pytest.raises(InvalidInput):
        check_plates(connection, division="62x")


def test_summarize_counts_per_rule_and_severity(connection):
    street = add_street(connection)
    for n in (1, 1, 5):
        add_plate(connection, street, n)
    findings = check_plates(connection, street_id=street.address_id)
    summary = summarize(findings)
    assert summary["total"] == len(findings) == 2
    assert summary["errors"] == 1 and summary["warnings"] == 1
    assert summary["by_rule"] == {"47": {"error": 1, "warning": 1}}
    assert summary["by_code"] == {"plate-duplicate": 1, "plate-gap": 1}
    assert summarize([]) == {"total": 0, "errors": 0, "warnings": 0, "by_rule": {}, "by_code": {}}


# ---------------------------------------------------------------- the command line


def crafted_findings(conn):
    street = add_street(conn, village_code=BEIJING_VILLAGE, name="东四北大街")
    for n in (1, 1, 5, 2):
        add_plate(conn, street, n)
    return check_plates(conn, street_id=street.address_id)


def test_cli_formats(connection):
    import csv
    import io
    import json

    from api.cli_addresses_check import Format, exit_code, write_findings

    findings = crafted_findings(connection)
    assert exit_code(findings) == 1 and exit_code([f for f in findings if f.severity == "warning"]) == 0
    out = io.StringIO()
    write_findings(findings, Format.json, out)
    data = json.loads(out.getvalue())
    assert data["summary"] == summarize(findings) and len(data["findings"]) == len(findings)
    assert data["findings"][0]["address_codes"] == findings[0].address_codes
    out = io.StringIO()
    write_findings(findings, Format.csv, out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [(int(r["rule"]), r["code"], r["severity"]) for r in rows] == [
        (f.rule, f.code, f.severity) for f in findings]
    assert rows[0]["street"] == "东四北大街" and json.loads(rows[0]["evidence"]) == findings[0].evidence
    out = io.StringIO()
    write_findings(findings, Format.table, out)
    assert "东四北大街" in out.getvalue() and "error" in out.getvalue() and "warning" in out.getvalue()
    assert all(f.address_codes[0] in out.getvalue() for f in findings)


def cli_app():
    import typer

    from api.cli_addresses_check import check_cmd

    app = typer.Typer()
    app.command()(check_cmd)
    return app


def test_cli_refuses_a_bad_division():
    from typer.testing import CliRunner

    result = CliRunner().invoke(cli_app(), ["--division", "62x"])
    assert result.exit_code == 2 and "division code" in result.output


def test_cli_exit_status_follows_the_findings(engine, tmp_path):
    import json

    from typer.testing import CliRunner

    from api.cli_addresses_check import exit_code

    division = "620102001003"   # the committed database, as the command sees it
    with engine.connect() as conn:
        expected = check_plates(conn, division=division)
    out = tmp_path / "findings.json"
    result = CliRunner().invoke(cli_app(), ["--division", division, "--format", "json", "--out", str(out)])
    assert result.exit_code == exit_code(expected), result.output
    assert json.loads(out.read_text(encoding="utf-8"))["summary"] == summarize(expected)
