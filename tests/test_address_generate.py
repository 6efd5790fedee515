"""The demo address generator and the address text it writes (addresses/generate.py, addresses/compose.py)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from addresses.compose import (
    DivisionNames,
    division_chain_names,
    full_address,
    local_address,
    plate_name,
)
from addresses.generate import dataset_name, generate_demo, remove_demo
from addresses.model import CODE_LENGTH
from data.errors import Conflict, InvalidInput, NotFound

COUNTY = "330106"  # 西湖区: communities (居委会) and villages (村委会)


def _generate(connection, count=2_000, seed=1, division=COUNTY):
    return generate_demo(connection, count=count, seed=seed, division=division)


def _rows(connection, dataset, sql="SELECT * FROM addresses a WHERE a.source = :s"):
    return connection.execute(text(sql), {"s": dataset}).all()


def _codes_and_points(connection, dataset):
    return _rows(connection, dataset, "SELECT code, name, ST_AsText(point) FROM addresses WHERE source = :s "
                                      "ORDER BY code")


# ------------------------------------------------------------------ compose


def test_plate_names_per_suffix_style():
    assert plate_name(100) == "100号"
    assert plate_name(100, "之1") == "100号之1"
    assert plate_name(100, "附2") == "100号附2"
    assert plate_name(100, "-1") == "100-1号"
    assert plate_name(12, "A") == "12A号"


def test_local_address_joins_the_elements():
    assert local_address(street="文一西路", plate="100号", building="3幢", unit="2单元", room="301室") \
        == "文一西路100号3幢2单元301室"
    assert local_address(compound="阳光小区", building="3幢", unit="2单元", room="301室") == "阳光小区3幢2单元301室"


def _first_village(connection, county, kind=None):
    return connection.execute(text(
        "SELECT code FROM divisions WHERE level = 5 AND valid_to IS NULL AND code LIKE :c || '%' "
        "AND (CAST(:k AS text) IS NULL OR kind = :k) ORDER BY code LIMIT 1"), {"c": county, "k": kind}).scalar_one()


def test_municipality_is_written_once_without_its_placeholder(connection):
    names = division_chain_names(connection, _first_village(connection, "110101"))
    assert names.prefix.startswith("北京市东城区")
    assert names.prefix.count("北京市") == 1
    assert "市辖区" not in names.prefix
    assert names.city == "北京市" and names.city_code == "110100"


def test_placeholder_levels_are_skipped(connection):
    dongguan = division_chain_names(connection, _first_village(connection, "441900"))
    assert dongguan.prefix.startswith("广东省东莞市") and dongguan.prefix.count("东莞市") == 1
    assert dongguan.county == "" and dongguan.county_code == "441900"
    xiantao = division_chain_names(connection, _first_village(connection, "429004"))
    assert xiantao.prefix.startswith("湖北省仙桃市")
    assert "省直辖县级行政区划" not in xiantao.prefix and xiantao.city == ""


def test_village_name_is_written_for_rural_villages_only(connection):
    urban = division_chain_names(connection, _first_village(connection, COUNTY, "居委会"))
    rural = division_chain_names(connection, _first_village(connection, COUNTY, "村委会"))
    assert full_address(urban, "文一西路1号") == urban.prefix + "文一西路1号"
    assert full_address(rural, "白沙路1号") == rural.prefix + rural.village_written + "白沙路1号"
    assert rural.village.endswith("委会") and rural.village_written.endswith("村")
    assert not rural.village_written.endswith("村村")
    assert full_address(rural, "S102省道5号", village_road=False) == rural.prefix + "S102省道5号"


def test_unknown_village_code_is_not_found(connection):
    with pytest.raises(NotFound):
        division_chain_names(connection, "330106999999")


def test_prefix_writes_each_name_once():
    names = DivisionNames("上海市", "310000", "上海市", "310100", "黄浦区", "310101", "南京东路街道",
                          "310101002", "某社区", "310101002001", "居委会")
    assert names.prefix == "上海市黄浦区南京东路街道"


# ------------------------------------------------------------------ generator


def test_count_levels_dataset_and_audit(connection):
    report = _generate(connection)
    rows = _rows(connection, report.dataset)
    assert abs(len(rows) - 2_000) <= 20 and report.rows == len(rows)
    assert sum(report.per_level.values()) == report.rows
    assert {r.level for r in rows} == {"street", "compound", "plate", "building", "unit", "room"}
    assert report.dataset == dataset_name(COUNTY, 2_000, 1)
    assert connection.execute(text("SELECT row_count FROM datasets WHERE name = :n"),
                              {"n": report.dataset}).scalar_one() == report.rows
    audits = connection.execute(text("SELECT count(*) FROM audit_log WHERE entity_id = :n"),
                                {"n": report.dataset}).scalar_one()
    assert audits == 1


def test_same_seed_same_library_other_seed_other_library(connection):
    first = connection.begin_nested()
    report = _generate(connection, seed=7)
    once = _codes_and_points(connection, report.dataset)
    first.rollback()
    second = connection.begin_nested()
    again = _codes_and_points(connection, _generate(connection, seed=7).dataset)
    second.rollback()
    other = _codes_and_points(connection, _generate(connection, seed=8).dataset)
    assert once == again
    assert once != other
    assert {p for _, _, p in once}.isdisjoint({p for _, _, p in other})


def test_rerun_with_the_same_name_is_refused(connection):
    _generate(connection, count=300)
    with pytest.raises(Conflict, match="loaded already"):
        _generate(connection, count=300)


def test_every_point_lies_in_its_county_polygon(connection):
    report = _generate(connection)
    outside = connection.execute(text(
        "SELECT count(*) FROM addresses a JOIN divisions d ON d.code = a.county_code AND d.level = 3 "
        "AND d.valid_to IS NULL WHERE a.source = :s AND NOT ST_Covers(d.geom, a.point)"),
        {"s": report.dataset}).scalar_one()
    assert outside == 0


def test_codes_are_well_formed_under_their_parents(connection):
    report = _generate(connection)
    rows = _rows(connection, report.dataset, """
        SELECT a.level, a.code, a.village_code, p.code AS parent_code, p.level AS parent_level,
               v.level AS village_level
        FROM addresses a LEFT JOIN addresses p ON p.address_id = a.parent_id
        LEFT JOIN divisions v ON v.code = a.village_code AND v.valid_to IS NULL
        WHERE a.source = :s""")
    for row in rows:
        assert len(row.code) == CODE_LENGTH[row.level] and row.code.isdigit()
        assert row.code.startswith(row.village_code) and row.village_code.startswith(COUNTY)
        assert row.village_level == 5
        if row.level in ("street", "compound"):
            assert row.parent_code is None
            assert (int(row.code[12:]) >= 80_000) == (row.level == "compound")
        else:
            expected = row.parent_code + ("0000" if row.parent_level == "compound" else "")
            assert row.code.startswith(expected)


def test_streets_and_compounds_carry_their_standard_names(connection):
    report = _generate(connection)
    rows = _rows(connection, report.dataset, """
        SELECT a.level, a.name, a.village_code, n.name AS standard, n.category, n.division_code, n.status
        FROM addresses a LEFT JOIN place_names n ON n.name_id = a.place_name_id AND n.valid_to IS NULL
        WHERE a.source = :s AND a.level IN ('street', 'compound')""")
    assert rows
    for row in rows:
        assert row.standard == row.name and row.status == "standard"
        assert row.category == ("0801" if row.level == "street" else "0703")
        assert row.division_code == row.village_code[:9]
    streets = [r.name for r in rows if r.level == "street"]
    assert len(streets) == len(set(streets))  # unique within the county
    plates_without_street = connection.execute(text(
        "SELECT count(*) FROM addresses p LEFT JOIN addresses s ON s.address_id = p.street_id "
        "WHERE p.source = :s AND p.level = 'plate' AND (s.level IS DISTINCT FROM 'street' "
        "OR s.place_name_id IS NULL)"), {"s": report.dataset}).scalar_one()
    assert plates_without_street == 0


def test_plates_follow_beijing_parity_and_run_without_gaps(connection):
    report = _generate(connection, count=5_000)
    plates = _rows(connection, report.dataset, """
        SELECT p.street_id, s.direction, p.side, p.number, p.suffix, p.reserved, ST_X(p.point) AS x,
               ST_Y(p.point) AS y, ST_X(s.point) AS sx, ST_Y(s.point) AS sy
        FROM addresses p JOIN addresses s ON s.address_id = p.street_id
        WHERE p.source = :s AND p.level = 'plate'""")
    odd_side = {"EW": "N", "NS": "W"}
    sides: dict[tuple, set[int]] = {}
    for p in plates:
        assert p.side == (odd_side[p.direction] if p.number % 2 else {"EW": "S", "NS": "E"}[p.direction])
        if p.side == "N":
            assert p.y > p.sy
        elif p.side == "S":
            assert p.y < p.sy
        elif p.side == "W":
            assert p.x < p.sx
        else:
            assert p.x > p.sx
        sides.setdefault((p.street_id, p.side), set()).add(p.number)
    for numbers in sides.values():
        start = min(numbers)
        assert start in (1, 2) and numbers == set(range(start, start + 2 * len(numbers), 2))
    assert any(p.reserved for p in plates) and any(p.suffix == "之1" for p in plates)
    assert all(not p.reserved for p in plates if p.suffix)


def test_buildings_units_and_rooms_are_numbered_without_skipping(connection):
    report = _generate(connection, count=5_000)
    children = _rows(connection, report.dataset, "SELECT parent_id, level, number FROM addresses "
                                                 "WHERE source = :s AND level IN ('building', 'unit', 'room')")
    by_parent: dict[tuple, list[int]] = {}
    for row in children:
        by_parent.setdefault((row.parent_id, row.level), []).append(row.number)
    assert any(level == "room" for _, level in by_parent)
    for (_, level), numbers in by_parent.items():
        if level != "room":
            assert sorted(numbers) == list(range(1, len(numbers) + 1))
            continue
        floors: dict[int, list[int]] = {}
        for number in numbers:
            floors.setdefault(number // 100, []).append(number % 100)
        assert sorted(floors) == list(range(1, len(floors) + 1))
        assert 6 <= len(floors) <= 18
        per_floor = {len(rooms) for rooms in floors.values()}
        assert len(per_floor) == 1 and 2 <= per_floor.pop() <= 4
        assert all(sorted(rooms) == list(range(1, len(rooms) + 1)) for rooms in floors.values())


def test_full_addresses_start_with_the_province_and_end_with_the_local_part(connection):
    report = _generate(connection)
    rows = _rows(connection, report.dataset, """
        SELECT a.full_address, a.local_address, a.level, v.name AS village, v.kind
        FROM addresses a JOIN divisions v ON v.code = a.village_code AND v.valid_to IS NULL AND v.level = 5
        WHERE a.source = :s""")
    for row in rows:
        assert row.full_address.startswith("浙江省杭州市西湖区")
        assert row.full_address.endswith(row.local_address)
        written = row.village.removesuffix("委会")  # 龙井村委会 is written 龙井村
        assert (written + row.local_address in row.full_address) == (row.kind == "村委会")
    rooms = [r.local_address for r in rows if r.level == "room"]
    assert rooms and all(r.endswith("室") and "幢" in r and "单元" in r for r in rooms)


def test_small_counts_spread_over_counties_and_a_township_stays_inside(connection):
    spread = generate_demo(connection, count=200, seed=3, division="330100")
    counties = {r.county_code for r in _rows(connection, spread.dataset)}
    assert spread.villages == 5 and len(counties) > 1
    township = connection.execute(text(
        "SELECT parent_code FROM divisions WHERE level = 5 AND valid_to IS NULL AND code LIKE '330106%' "
        "ORDER BY code LIMIT 1")).scalar_one()
    inside = generate_demo(connection, count=500, seed=3, division=township)
    assert inside.rows == 500
    assert all(r.village_code.startswith(township) for r in _rows(connection, inside.dataset))


def test_counties_without_polygons_are_reported(connection):
    report = generate_demo(connection, count=400, seed=2, division="330100")
    missing = connection.execute(text(
        "SELECT code FROM divisions WHERE level = 3 AND parent_code = '330100' AND valid_to IS NULL "
        "AND geom IS NULL ORDER BY code")).scalars().all()
    assert report.counties_without_polygon == missing
    assert not set(report.counties) & set(missing)


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"count": 0}, "count"), ({"division": "33"}, "division"), ({"division": "330000"}, "division"),
    ({"seed": -1}, "seed"),
])
def test_bad_arguments_are_refused(connection, kwargs, field):
    arguments = {"count": 100, "seed": 1, "division": COUNTY, **kwargs}
    with pytest.raises(InvalidInput) as caught:
        generate_demo(connection, **arguments)
    assert caught.value.errors[0]["field"] == field


def test_unknown_division_is_not_found(connection):
    with pytest.raises(NotFound):
        generate_demo(connection, count=100, seed=1, division="339999")


def test_remove_demo_deletes_rows_names_and_dataset(connection):
    report = _generate(connection, count=300)
    assert remove_demo(connection, report.dataset) == report.rows
    assert not _rows(connection, report.dataset)
    assert connection.execute(text("SELECT count(*) FROM place_names WHERE source = :s"),
                              {"s": report.dataset}).scalar_one() == 0
    assert connection.execute(text("SELECT count(*) FROM datasets WHERE name = :s"),
                              {"s": report.dataset}).scalar_one() == 0
    with pytest.raises(NotFound):
        remove_demo(connection, report.dataset)
