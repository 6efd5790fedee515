"""Coverage analysis on a hand-built county: exact counts, shares, population weighting, gaps, network."""

from __future__ import annotations

import pytest
import shapely
from sqlalchemy import text

from data.errors import InvalidInput, NotFound
from facilities.coverage import coverage_report, uncovered_points
from facilities.network import load_network, pgrouting_installed
from tests.facility_builders import (
    COMMUNITY,
    COMMUNITY_2,
    COUNTY,
    EMPTY_VILLAGE,
    ORIGIN,
    STREET_TOWN,
    TOWN,
    VILLAGE,
    add_facility,
    add_homes,
    add_population,
    add_test_county,
    offset,
)

EAST = [offset(d, 90) for d in (250, 450, 900, 1200)]


@pytest.fixture
def county(session):
    """The test county: a meal point at ORIGIN, homes east (250/450/900/1,200 m), north (2 km) and south (3 km)."""
    add_test_county(session)
    add_homes(session, COMMUNITY, EAST)
    add_homes(session, COMMUNITY_2, [offset(2000, 0), offset(2100, 0)])
    add_homes(session, VILLAGE, [offset(3000, 180), offset(3050, 180), offset(3100, 180)])
    add_facility(session, at=ORIGIN, division_code=COMMUNITY)
    add_facility(session, type_code="SOCIAL_WORK", at=offset(5000, 270), division_code=COMMUNITY_2)
    return session


def _row(report, code):
    return next(r for r in [*report.rows, report.total] if r.code == code)


def test_straight_line_counts_are_exact(county):
    report = coverage_report(county, COUNTY, ["MEAL_POINT"], 500)
    assert report.radii_m == (300, 500, 1000)
    assert [r.code for r in report.rows] == [STREET_TOWN, TOWN]
    street_town = _row(report, STREET_TOWN)
    assert street_town.addresses == 6
    assert street_town.covered == {300: 1, 500: 2, 1000: 3}
    assert street_town.share(500) == pytest.approx(2 / 6)
    assert _row(report, TOWN).covered == {300: 0, 500: 0, 1000: 0}
    assert report.total.addresses == 9 and report.total.covered == {300: 1, 500: 2, 1000: 3}
    assert report.facilities == 1


def test_asked_radius_is_added_and_planned_facilities_do_not_count(county):
    add_facility(county, at=offset(3000, 180), division_code=VILLAGE, status="planned")
    report = coverage_report(county, COUNTY, ["MEAL_POINT"], 1250)
    assert report.radii_m == (300, 500, 1000, 1250)
    assert report.total.covered == {300: 1, 500: 2, 1000: 3, 1250: 4}


def test_population_is_weighted_by_covered_addresses(county):
    add_population(county, COMMUNITY, 1000)
    add_population(county, COMMUNITY_2, 800)
    report = coverage_report(county, COUNTY, ["MEAL_POINT"], 500)
    street_town = _row(report, STREET_TOWN)
    assert street_town.population == 1800
    assert street_town.population_covered == {300: 250, 500: 500, 1000: 750}
    assert _row(report, TOWN).population is None
    assert not any("no population" in n for n in report.notes)


def test_gaps(county):
    add_population(county, VILLAGE, 4000)
    report = coverage_report(county, COUNTY, ["MEAL_POINT"], 1000)
    by_rule = {}
    for gap in report.gaps:
        by_rule.setdefault(gap.rule, []).append(gap.code)
    # the community's addresses centre ≈ 700 m east: within 1,000 m, so no gap; the others are
    assert sorted(by_rule["no_facility_in_radius"]) == [COMMUNITY_2, VILLAGE, EMPTY_VILLAGE]
    assert by_rule["no_social_work_station"] == [TOWN]
    assert by_rule["large_village_without_meal_point"] == [VILLAGE]
    north = next(g for g in report.gaps if g.code == COMMUNITY_2)
    assert north.kind == "community" and north.nearest_m == pytest.approx(2050, abs=2)
    empty = next(g for g in report.gaps if g.code == EMPTY_VILLAGE)
    assert empty.lon is None and "no residential addresses" in empty.message
    tighter = coverage_report(county, COUNTY, ["MEAL_POINT"], 500)
    assert COMMUNITY in {g.code for g in tighter.gaps if g.rule == "no_facility_in_radius"}


def test_uncovered_points_are_the_addresses_outside_the_radius(county):
    points = uncovered_points(county, COUNTY, ["MEAL_POINT"], 500)
    assert len(points) == 7
    assert all(p != pytest.approx(EAST[0]) for p in points)
    assert len(uncovered_points(county, COUNTY, ["MEAL_POINT"], 500, limit=3)) == 3


def test_validation(county):
    with pytest.raises(InvalidInput) as unknown:
        coverage_report(county, COUNTY, ["NO_SUCH_TYPE"], 500)
    assert unknown.value.errors[0]["field"] == "type"
    with pytest.raises(InvalidInput):
        coverage_report(county, COUNTY, ["MEAL_POINT"], 10)
    with pytest.raises(NotFound):
        coverage_report(county, "339999", ["MEAL_POINT"], 500)


def test_network_distance_replaces_straight_line(county, connection):
    if not pgrouting_installed(connection):
        pytest.skip("pgRouting is not installed in this database (postgresql-15-pgrouting)")
    # A home 250 m east is reached only by a detour: 400 m north, 250 m east, 400 m south (1,050 m).
    north = offset(400, 0)
    north_east = offset(250, 90, north)
    home = offset(0, 0, EAST[0])
    near = offset(150, 0)  # a second home 150 m up the first street: its nearest vertex is the facility's
    add_homes(county, COMMUNITY_2, [near])
    lines = [shapely.LineString([ORIGIN, north]), shapely.LineString([north, north_east]),
             shapely.LineString([north_east, home])]
    report = load_network(connection, lines, dataset="test-network", actor="test")
    assert (report.edges, report.vertices) == (3, 4)
    result = coverage_report(county, STREET_TOWN, ["MEAL_POINT"], 500)
    assert result.network
    community = _row(result, COMMUNITY)
    # 250 m straight, 1,050 m walking (450 / 900 / 1,200 m homes snap to the far end too: ≥ 1,050 m)
    assert community.covered == {300: 1, 500: 2, 1000: 3}
    assert community.network_covered == {300: 0, 500: 0, 1000: 0}
    assert _row(result, COMMUNITY_2).network_covered == {300: 1, 500: 1, 1000: 1}


def test_network_is_noded_where_lines_cross(connection):
    cross = [shapely.LineString([offset(500, 270), offset(500, 90)]),
             shapely.LineString([offset(500, 180), offset(500, 0)])]
    report = load_network(connection, cross, dataset="test-cross", actor="test")
    assert (report.edges, report.vertices) == (4, 5)
    costs = connection.execute(text("SELECT cost FROM network_edges ORDER BY cost")).scalars().all()
    assert costs == pytest.approx([500] * 4, abs=0.5)


def test_no_network_gives_null_network_shares_and_a_note(county, connection):
    connection.execute(text("DELETE FROM network_edges WHERE geom && ST_MakeEnvelope(99, 29, 101, 31, 4490)"))
    report = coverage_report(county, COUNTY, ["MEAL_POINT"], 500)
    assert not report.network and report.total.network_covered is None
    assert any("no walking network" in note for note in report.notes)
