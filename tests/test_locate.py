import math

import pytest

from boundaries.divisions import locate
from data.errors import InvalidInput, NotFound
from tests.builders import add_division

# Points well inside their county (the demo polygons are only ~100 m precise).
KNOWN = [
    ((120.09, 30.87), "330502", "吴兴区"),   # central Huzhou
    ((116.416, 39.929), "110101", "东城区"),
    ((121.486, 31.230), "310101", "黄浦区"),
    ((113.75, 23.02), "441900", "东莞市"),   # townships directly under the city
    ((104.07, 30.66), "510104", "锦江区"),
]


@pytest.mark.parametrize(("point", "code", "name"), KNOWN)
def test_locate_known_points(connection, point, code, name):
    found = locate(connection, *point)
    deepest = found.chain[-1]
    assert (deepest.code, deepest.name) == (code, name)
    assert found.chain[0].level == 1
    assert [ref.level for ref in found.chain] == sorted(ref.level for ref in found.chain)


def test_locate_gives_province_prefecture_county(connection):
    found = locate(connection, 120.09, 30.87)
    assert [(r.code, r.name) for r in found.chain] == [
        ("330000", "浙江省"), ("330500", "湖州市"), ("330502", "吴兴区")]


@pytest.mark.parametrize("point", [(0.0, 0.0), (-74.0, 40.7), (139.69, 35.69), (150.0, -30.0)])
def test_locate_outside_china_is_not_found(connection, point):
    with pytest.raises(NotFound):
        locate(connection, *point)


@pytest.mark.parametrize("point", [(181, 30), (120, 91), (math.nan, 30), (120, -math.inf)])
def test_locate_rejects_impossible_coordinates(connection, point):
    with pytest.raises(InvalidInput):
        locate(connection, *point)


def test_locate_prefers_the_deepest_polygon(session):
    square = "POLYGON((0 0, 1 0, 1 1, 0 1, 0 0))"
    add_division(session, code="990000", level=1, name="测试省", parent_code=None, kind="省",
                 wkt="POLYGON((-1 -1, 2 -1, 2 2, -1 2, -1 -1))")
    add_division(session, code="990100", level=2, name="测试市", parent_code="990000",
                 kind="地级市")
    add_division(session, code="990101", level=3, name="测试区", parent_code="990100", wkt=square)
    found = locate(session, 0.5, 0.5)
    assert [r.code for r in found.chain] == ["990000", "990100", "990101"]
    assert [r.code for r in locate(session, 1.5, 1.5).chain] == ["990000"]
