"""OGC API Features Part 3: CQL2 text and JSON filters give what the equivalent SQL gives; every
declared operator class is exercised; literals are parameters; invalid filters are 400."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from tests.ogc_builders import EPSG, PROBLEM, ids, sql_ids, walk

HANGZHOU = "t.parent_code = '330100'"
IN_XIHU = (120.10, 30.25)  # a point inside 西湖区 330106


def filtered(client, cid: str, value, lang: str = "cql2-text", **params) -> set[str]:
    if lang == "cql2-json":
        value = json.dumps(value)
    features, _ = walk(client, cid, filter=value, **{"filter-lang": lang, "limit": 10000, **params})
    return set(ids(features))


CASES = [  # (text, JSON, SQL over counties)
    ("parent_code = '330100'", {"op": "=", "args": [{"property": "parent_code"}, "330100"]}, HANGZHOU),
    ("parent_code = '330100' AND name LIKE '%区'",
     {"op": "and", "args": [{"op": "=", "args": [{"property": "parent_code"}, "330100"]},
                            {"op": "like", "args": [{"property": "name"}, "%区"]}]},
     HANGZHOU + " AND t.name LIKE '%区'"),
    ("parent_code = '330100' AND NOT (name LIKE '%区')",
     {"op": "and", "args": [{"op": "=", "args": [{"property": "parent_code"}, "330100"]},
                            {"op": "not", "args": [{"op": "like", "args": [{"property": "name"}, "%区"]}]}]},
     HANGZHOU + " AND t.name NOT LIKE '%区'"),
    ("code = '330106' OR code = '330102'",
     {"op": "or", "args": [{"op": "=", "args": [{"property": "code"}, "330106"]},
                           {"op": "=", "args": [{"property": "code"}, "330102"]}]},
     "t.code IN ('330106', '330102')"),
    ("code IN ('330106', '330110', '110101')",
     {"op": "in", "args": [{"property": "code"}, ["330106", "330110", "110101"]]},
     "t.code IN ('330106', '330110', '110101')"),
    ("code BETWEEN '330100' AND '330199'",
     {"op": "between", "args": [{"property": "code"}, "330100", "330199"]},
     "t.code BETWEEN '330100' AND '330199'"),
    ("parent_code = '330100' AND code <> '330106' AND code >= '330105'",
     {"op": "and", "args": [{"op": "=", "args": [{"property": "parent_code"}, "330100"]},
                            {"op": "<>", "args": [{"property": "code"}, "330106"]},
                            {"op": ">=", "args": [{"property": "code"}, "330105"]}]},
     HANGZHOU + " AND t.code <> '330106' AND t.code >= '330105'"),
    ("parent_code = '330100' AND valid_to IS NULL AND valid_from < DATE('2100-01-01')",
     {"op": "and", "args": [{"op": "=", "args": [{"property": "parent_code"}, "330100"]},
                            {"op": "isNull", "args": [{"property": "valid_to"}]},
                            {"op": "<", "args": [{"property": "valid_from"}, {"date": "2100-01-01"}]}]},
     HANGZHOU),
    ("parent_code = '330100' AND geom_approximate = true",
     {"op": "and", "args": [{"op": "=", "args": [{"property": "parent_code"}, "330100"]},
                            {"op": "=", "args": [{"property": "geom_approximate"}, True]}]},
     HANGZHOU + " AND t.geom_approximate"),
    (f"S_INTERSECTS(geometry, POINT({IN_XIHU[0]} {IN_XIHU[1]}))",
     {"op": "s_intersects", "args": [{"property": "geometry"}, {"type": "Point", "coordinates": list(IN_XIHU)}]},
     f"ST_Intersects(t.geom, ST_SetSRID(ST_MakePoint({IN_XIHU[0]}, {IN_XIHU[1]}), 4490))"),
    ("S_INTERSECTS(geometry, BBOX(120.0, 30.1, 120.3, 30.4))",
     {"op": "s_intersects", "args": [{"property": "geometry"}, {"bbox": [120.0, 30.1, 120.3, 30.4]}]},
     "ST_Intersects(t.geom, ST_MakeEnvelope(120.0, 30.1, 120.3, 30.4, 4490))"),
    ("S_WITHIN(geometry, POLYGON((119 29, 121 29, 121 31, 119 31, 119 29)))",
     {"op": "s_within", "args": [{"property": "geometry"}, {"type": "Polygon", "coordinates": [
         [[119, 29], [121, 29], [121, 31], [119, 31], [119, 29]]]}]},
     "ST_Within(t.geom, ST_MakeEnvelope(119, 29, 121, 31, 4490))"),
    (f"S_CONTAINS(geometry, POINT({IN_XIHU[0]} {IN_XIHU[1]}))",
     {"op": "s_contains", "args": [{"property": "geometry"}, {"type": "Point", "coordinates": list(IN_XIHU)}]},
     f"ST_Contains(t.geom, ST_SetSRID(ST_MakePoint({IN_XIHU[0]}, {IN_XIHU[1]}), 4490))"),
    ("parent_code = '330100' AND S_DISJOINT(geometry, BBOX(120.0, 30.1, 120.3, 30.4))",
     {"op": "and", "args": [{"op": "=", "args": [{"property": "parent_code"}, "330100"]},
                            {"op": "s_disjoint", "args": [{"property": "geometry"},
                                                          {"bbox": [120.0, 30.1, 120.3, 30.4]}]}]},
     HANGZHOU + " AND NOT ST_Intersects(t.geom, ST_MakeEnvelope(120.0, 30.1, 120.3, 30.4, 4490))"),
]


@pytest.mark.parametrize("cql_text, cql_json, sql", CASES, ids=[c[0][:50] for c in CASES])
def test_text_and_json_give_what_the_sql_gives(client, session, cql_text, cql_json, sql):
    expected = sql_ids(session, "counties", sql)
    assert expected, "the case must select something to mean anything"
    assert filtered(client, "counties", cql_text) == expected
    assert filtered(client, "counties", cql_json, "cql2-json") == expected


def test_case_insensitive_comparison(client, session):
    roman = session.execute(text("SELECT romanization FROM place_names WHERE valid_to IS NULL AND geom IS NOT NULL "
                                 "AND romanization ~ '[A-Za-z]' ORDER BY name_id LIMIT 1")).scalar_one()
    shouted = roman.upper() if roman != roman.upper() else roman.lower()
    expected = sql_ids(session, "placenames", "lower(t.romanization) = lower(:r)", {"r": roman})
    assert filtered(client, "placenames", f"CASEI(romanization) = casei('{shouted}')") == expected
    assert filtered(client, "placenames", {"op": "=", "args": [{"op": "casei", "args": [{"property": "romanization"}]},
                                                              {"op": "casei", "args": [shouted]}]},
                    "cql2-json") == expected
    assert filtered(client, "placenames", f"romanization = '{shouted}'") == set()   # case matters without CASEI
    assert filtered(client, "placenames", f"ACCENTI(romanization) = accenti('{shouted}')") == expected


def test_filter_crs_reads_the_literal_in_that_crs(client, session):
    lon, lat = IN_XIHU
    latlon = filtered(client, "counties", f"S_INTERSECTS(geometry, POINT({lat} {lon}))",
                      **{"filter-crs": EPSG.format(4490)})
    assert latlon == {"330106"}
    assert filtered(client, "counties", f"S_INTERSECTS(geometry, POINT({lon} {lat}))") == {"330106"}


def test_filters_combine_with_property_parameters_and_bbox(client, session):
    expected = sql_ids(session, "counties", HANGZHOU + " AND t.name LIKE '%区' AND "
                       "ST_Intersects(t.geom, ST_MakeEnvelope(120.0, 30.1, 120.3, 30.4, 4490))")
    got = filtered(client, "counties", "name LIKE '%区'", parent_code="330100", bbox="120.0,30.1,120.3,30.4")
    assert got == expected and expected


@pytest.mark.parametrize("value, lang", [
    ("name = '1; DROP TABLE divisions; --'", "cql2-text"),
    ("name = 'x'' OR ''1''=''1'", "cql2-text"),
    (json.dumps({"op": "=", "args": [{"property": "name"}, "x' OR '1'='1"]}), "cql2-json"),
    (json.dumps({"op": "like", "args": [{"property": "name"}, "%') OR true OR (name LIKE '"]}), "cql2-json"),
])
def test_injection_attempts_are_parameters(client, session, value, lang):
    response = client.get("/collections/counties/items", params={"filter": value, "filter-lang": lang})
    if response.status_code == 400:        # the text parser may refuse the doubled quotes outright
        assert response.headers["content-type"] == PROBLEM
    else:
        assert response.status_code == 200 and response.json()["features"] == []
    assert session.execute(text("SELECT count(*) FROM divisions")).scalar() > 0


@pytest.mark.parametrize("value, lang", [
    ("name = ", "cql2-text"),
    ("nosuch = 'x'", "cql2-text"),
    ("code = 5", "cql2-text"),
    ("geom_approximate = 'yes'", "cql2-text"),
    ("valid_from > DATE('2020-13-45')", "cql2-text"),
    ("name = code + 1", "cql2-text"),
    ("upper(name) = 'X'", "cql2-text"),
    ("S_INTERSECTS(name, POINT(1 2))", "cql2-text"),
    ("S_INTERSECTS(geometry, POINT(1e400 2))", "cql2-text"),
    (json.dumps({"op": "=", "args": [{"property": "name) OR (1=1"}, "x"]}), "cql2-json"),
    (json.dumps({"op": "t_intersects", "args": [{"property": "valid_from"}, {"interval": ["2020-01-01", ".."]}]}),
     "cql2-json"),
    (json.dumps({"op": "s_intersects", "args": [{"property": "geometry"}, {"type": "Polygon", "coordinates": [[1]]}]}),
     "cql2-json"),
    (json.dumps({"op": "s_intersects", "args": [{"property": "geometry"}, {"bbox": [1, 2]}]}), "cql2-json"),
    ("{not json", "cql2-json"),
    (json.dumps({"op": "nope", "args": []}), "cql2-json"),
    ("name = 'x'", "cql-text"),
])
def test_invalid_filters_are_400(client, value, lang):
    response = client.get("/collections/counties/items", params={"filter": value, "filter-lang": lang})
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["errors"][0]["field"] in ("filter", "filter-lang")


def test_queryables_name_what_filters_accept(client):
    queryables = client.get("/collections/counties/queryables").json()["properties"]
    for name in queryables:
        if name == "geometry":
            continue
        response = client.get("/collections/counties/items", params={"filter": f"{name} IS NULL", "limit": 1})
        assert response.status_code == 200, (name, response.text)
