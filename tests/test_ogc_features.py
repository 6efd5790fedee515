"""OGC API Features Part 1 (and the Part 3 declarations): landing page, conformance, the OpenAPI
document, collections, keyset paging, proxies, parameters and errors (ETS assertions ported)."""

from __future__ import annotations

import datetime as dt

import jsonschema_rs
import pytest
from schemathesis.specs.openapi.definitions import OPENAPI_30
from sqlalchemy import text

from maps.registry import COLLECTIONS
from tests.ogc_builders import (
    CRS84,
    EPSG,
    GEOJSON,
    PROBLEM,
    ids,
    items,
    next_href,
    query_pairs,
    relative,
    sql_ids,
    walk,
)

OPENAPI_TYPE = "application/vnd.oai.openapi+json;version=3.0"
HANGZHOU = "330100"


def links(doc: dict) -> dict[str, dict]:
    return {link["rel"]: link for link in doc["links"]}


def township_polygons(session) -> bool:
    return session.execute(text("SELECT EXISTS (SELECT 1 FROM divisions WHERE level = 4 AND geom IS NOT NULL "
                                "AND NOT placeholder AND valid_to IS NULL)")).scalar()


def test_landing_page_links_the_description_conformance_and_data(client):
    response = client.get("/")
    assert response.status_code == 200
    rels = links(response.json())
    assert rels["service-desc"]["type"].replace(" ", "") == OPENAPI_TYPE
    assert rels["service-desc"]["href"].endswith("/api")
    assert rels["conformance"]["href"].endswith("/conformance")
    assert rels["data"]["href"].endswith("/collections") and rels["data"]["type"] == "application/json"
    assert {"service-doc", "status", "example-map"} <= rels.keys()     # the service's own links are kept
    for link in response.json()["links"]:
        assert client.get(relative(link["href"])).status_code == 200, link


def test_conformance_declares_what_gdal_and_qgis_need(client):
    classes = set(client.get("/conformance").json()["conformsTo"])
    features = "http://www.opengis.net/spec/ogcapi-features-{}/1.0/conf/{}"
    cql2 = "http://www.opengis.net/spec/cql2/1.0/conf/{}"
    assert {features.format(1, c) for c in ("core", "oas30", "geojson")} <= classes
    assert features.format(2, "crs") in classes
    assert {features.format(3, c) for c in ("filter", "features-filter", "queryables",
                                            "queryables-query-parameters")} <= classes
    assert {cql2.format(c) for c in ("cql2-text", "cql2-json", "basic-cql2", "advanced-comparison-operators",
                                     "case-insensitive-comparison", "basic-spatial-functions",
                                     "basic-spatial-operators")} <= classes
    assert cql2.format("accent-insensitive-comparison") not in classes       # ACCENTI is only CASEI here


def _refs(node, found: list[str]) -> list[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                found.append(value)
            _refs(value, found)
    elif isinstance(node, list):
        for value in node:
            _refs(value, found)
    return found


def _resolve(doc: dict, ref: str):
    node = doc
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def test_api_is_a_valid_self_contained_openapi_30_document(client):
    doc = client.get("/api").json()
    assert doc["openapi"].startswith("3.0")
    errors = [str(e)[:200] for e in jsonschema_rs.Draft4Validator(OPENAPI_30).iter_errors(doc)]
    assert errors == []
    refs = _refs(doc, [])
    assert refs and all(r.startswith("#/") for r in refs)       # no remote $ref
    for ref in set(refs):
        _resolve(doc, ref)                                       # every local $ref resolves


def test_api_lists_each_collections_property_filters_and_limit(client):
    paths = client.get("/api").json()["paths"]
    for collection in COLLECTIONS.values():
        params = {p["name"]: p for p in paths[f"/collections/{collection.id}/items"]["get"]["parameters"]}
        assert {p.name for p in collection.properties} <= params.keys()
        assert {"bbox", "bbox-crs", "crs", "datetime", "filter", "filter-lang", "filter-crs", "after"} <= params.keys()
        limit = params["limit"]["schema"]
        assert (limit["default"], limit["maximum"], limit["minimum"]) == (10, 10000, 1)
        assert all(p["in"] == "query" for p in params.values())


def test_collections_describe_extent_crs_and_links(client, session):
    body = client.get("/collections").json()
    listed = {c["id"]: c for c in body["collections"]}
    assert {"provinces", "prefectures", "counties", "placenames", "addresses", "boundary-lines", "markers",
            "facilities"} <= listed.keys()
    assert ("townships" in listed) == township_polygons(session)
    counties = listed["counties"]
    assert counties["storageCrs"] == EPSG.format(4490) and counties["storageCrs"] in counties["crs"]
    assert CRS84 in counties["crs"] and EPSG.format(3857) in counties["crs"]
    assert {EPSG.format(z) for z in range(4534, 4555)} <= set(counties["crs"])
    minx, miny, maxx, maxy = counties["extent"]["spatial"]["bbox"][0]
    assert 70 < minx < maxx < 136 and 15 < miny < maxy < 55                 # China, lon/lat
    assert counties["extent"]["temporal"]["interval"][0][1] is None        # still current
    rels = links(counties)
    assert rels["items"]["type"] == GEOJSON and rels["items"]["href"].endswith("/collections/counties/items")
    assert rels["http://www.opengis.net/def/rel/ogc/1.0/queryables"]["type"] == "application/schema+json"
    assert rels["tiles"]["href"].endswith("/collections/counties/tiles")
    one = client.get("/collections/counties")
    assert one.status_code == 200 and one.json()["id"] == "counties"


def test_townships_answer_404_without_polygons(client, session):
    if township_polygons(session):
        pytest.skip("this cluster has township polygons, so the townships collection is served")
    assert client.get("/collections/townships").status_code == 404
    assert client.get("/collections/townships/items").status_code == 404


def test_walking_next_gives_every_feature_once_and_number_matched_is_that_total(client, session):
    expected = sql_ids(session, "counties", "t.parent_code = :p", {"p": HANGZHOU})
    assert len(expected) > 3
    features, pages = walk(client, "counties", parent_code=HANGZHOU, limit=3)
    assert len(ids(features)) == len(set(ids(features))) == len(expected)
    assert set(ids(features)) == expected
    assert pages[0]["numberMatched"] == len(expected)
    assert len(pages) == -(-len(expected) // 3)
    for page in pages:
        assert page["numberReturned"] == len(page["features"]) <= 3
        assert page["type"] == "FeatureCollection"
        assert {f["properties"]["parent_code"] for f in page["features"]} == {HANGZHOU}
    assert next_href(pages[-1]) is None


def test_time_stamp_is_between_request_and_response(client):
    before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    page = items(client, "provinces", limit=1)
    after = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    assert before <= dt.datetime.fromisoformat(page["timeStamp"].replace("Z", "+00:00")) <= after


def test_next_repeats_every_query_parameter(client):
    params = {"parent_code": HANGZHOU, "limit": "2", "crs": EPSG.format(4490), "bbox": "29,118,31,121",
              "bbox-crs": EPSG.format(4490), "datetime": "2024-01-01/..", "filter": "name LIKE '%区'",
              "filter-lang": "cql2-text", "properties": "code,name"}
    page = items(client, "counties", **params)
    href = next_href(page)
    assert href is not None and href.startswith("http://testserver/collections/counties/items?")
    pairs = query_pairs(href)
    assert dict(pairs) == {**params, "after": dict(pairs)["after"]}
    second = client.get(relative(href)).json()
    assert set(ids(second["features"])).isdisjoint(ids(page["features"]))
    assert set(second["features"][0]["properties"]) == {"code", "name"}


def test_links_honour_forwarded_headers(client):
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "maps.example.org", "X-Forwarded-Port": "8443",
               "X-Forwarded-Prefix": "/gazetteer"}
    base = "https://maps.example.org:8443/gazetteer"
    page = client.get("/collections/provinces/items", params={"limit": 2}, headers=headers).json()
    assert all(link["href"].startswith(f"{base}/collections/provinces/items?") for link in page["links"])
    assert links(client.get("/", headers=headers).json())["data"]["href"] == f"{base}/collections"
    collection = client.get("/collections/markers", headers=headers).json()
    assert links(collection)["self"]["href"] == f"{base}/collections/markers"
    forwarded = client.get("/", headers={"Forwarded": 'for=10.0.0.1;proto=https;host="gz.example.cn"'}).json()
    assert links(forwarded)["conformance"]["href"] == "https://gz.example.cn/conformance"
    default_port = client.get("/", headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "a.cn",
                                            "X-Forwarded-Port": "443"}).json()
    assert links(default_port)["data"]["href"] == "https://a.cn/collections"


@pytest.mark.parametrize("query", [
    {"foo": "1"}, {"limit": "0"}, {"limit": "10001"}, {"limit": "ten"}, {"limit": "-1"},
    {"limit": ["1", "2"]}, {"bbox": "1,2,3"}, {"bbox": "a,b,c,d"}, {"bbox": "120,31,121,30"},
    {"bbox": "0,-91,1,0"}, {"bbox-crs": CRS84}, {"datetime": "yesterday"}, {"datetime": "2020-13-01"},
    {"datetime": "../.."}, {"datetime": "2021-01-01/2020-01-01"}, {"datetime": "2020-01-01T00:00:00"},
    {"after": "x"}, {"after": str(2**64)}, {"f": "xml"}, {"properties": "nope"}, {"geom_approximate": "maybe"},
    {"crs": "EPSG:999999"}, {"filter-lang": "cql2-text"},
])
def test_invalid_parameters_are_400_problems(client, query):
    response = client.get("/collections/counties/items", params=query)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["status"] == 400 and response.json()["errors"][0]["field"]


def test_a_property_parameter_is_really_applied(client, session):
    code = sorted(sql_ids(session, "counties", "t.parent_code = :p", {"p": HANGZHOU}))[0]
    page = items(client, "counties", code=code)
    assert ids(page["features"]) == [code] and page["numberMatched"] == 1
    assert items(client, "counties", code=code, parent_code="110100")["features"] == []
    only_true = items(client, "counties", parent_code=HANGZHOU, geom_approximate="true", limit=100)
    assert all(f["properties"]["geom_approximate"] is True for f in only_true["features"])


def test_one_item_by_id_and_404s(client, session):
    code = sorted(sql_ids(session, "counties", "t.parent_code = :p", {"p": HANGZHOU}))[0]
    response = client.get(f"/collections/counties/items/{code}")
    assert response.status_code == 200 and response.headers["content-type"].startswith(GEOJSON)
    assert response.headers["content-crs"] == f"<{CRS84}>"
    feature = response.json()
    assert feature["type"] == "Feature" and feature["id"] == code
    assert feature["geometry"]["type"] == "MultiPolygon" and feature["properties"]["code"] == code
    assert {link["rel"] for link in feature["links"]} == {"self", "collection"}
    assert client.get("/collections/counties/items/999999").status_code == 404
    assert client.get("/collections/placenames/items/not-a-number").status_code == 404
    assert client.get("/collections/nowhere/items").status_code == 404
    assert client.get("/collections/nowhere").status_code == 404
    assert client.get(f"/collections/counties/items/{code}", params={"limit": 1}).status_code == 400


def test_queryables_are_a_json_schema_of_the_properties(client):
    response = client.get("/collections/addresses/queryables")
    assert response.status_code == 200 and response.headers["content-type"] == "application/schema+json"
    schema = response.json()
    assert set(schema["properties"]) == {p.name for p in COLLECTIONS["addresses"].properties} | {"geometry"}
    assert schema["properties"]["level"]["enum"][0] == "street"
    assert schema["$id"].endswith("/collections/addresses/queryables")


def _historical_version(session) -> tuple[int, str, str]:
    """Give a current place name an older version named differently; return (name_id, old, current)."""
    name_id, current = session.execute(text(
        "SELECT name_id, name FROM place_names WHERE geom IS NOT NULL AND valid_to IS NULL "
        "AND valid_from > '2011-01-01' ORDER BY name_id LIMIT 1")).one()
    old = "测试旧名" + current[:10]
    session.execute(text(
        "INSERT INTO place_names (name_id, name, specific, generic, category, romanization, geom, division_code,"
        " status, source, pinyin_key, initials, valid_from, valid_to, created_by) "
        "SELECT name_id, :old, specific, generic, category, romanization, geom, division_code, 'historical',"
        " source, pinyin_key, initials, DATE '2010-01-01', valid_from, 'test' FROM place_names"
        " WHERE name_id = :n AND valid_to IS NULL"), {"old": old, "n": name_id})
    session.flush()
    return name_id, old, current


def test_datetime_selects_the_version_valid_then(client, session):
    name_id, old, current = _historical_version(session)
    now = items(client, "placenames", name_id=str(name_id))
    assert [f["properties"]["name"] for f in now["features"]] == [current]
    then = items(client, "placenames", name_id=str(name_id), datetime="2010-06-01")
    assert [f["properties"]["name"] for f in then["features"]] == [old]
    assert then["features"][0]["properties"]["valid_to"] is not None
    moment = items(client, "placenames", name_id=str(name_id), datetime="2010-06-01T12:00:00Z")
    assert [f["properties"]["name"] for f in moment["features"]] == [old]
    both = items(client, "placenames", name_id=str(name_id), datetime="2009-01-01/..")
    assert sorted(f["properties"]["name"] for f in both["features"]) == sorted([old, current])
    before = items(client, "placenames", name_id=str(name_id), datetime="../2009-12-31")
    assert before["features"] == [] and before["numberMatched"] == 0
