"""Geocode, reverse, suggest and the library reads, at the domain seam and over HTTP, on a small
library built in the test's transaction (甘肃省兰州市城关区, outside every demo library)."""

from __future__ import annotations

import pytest

from addresses.admin import admin_index
from addresses.geocode import GeocodeRequest, geocode
from addresses.reverse import confidence, direction_word, reverse
from addresses.suggest import suggest
from data.errors import InvalidInput
from tests.address_builders import add_building, add_compound, add_plate, add_room, add_street, add_unit

PREFIX = "甘肃省兰州市城关区酒泉路街道"


@pytest.fixture
def lib(connection):
    """文一路 (EW) with plates 1–12, 100号 → 3幢 → 2单元 → 301室; 阳光小区 → 5幢; all in 畅家巷社区."""
    street = add_street(connection, name="文一路")
    plates = {n: add_plate(connection, street, n) for n in (*range(1, 13), 100)}
    building = add_building(connection, plates[100], 3)
    unit = add_unit(connection, building, 2)
    room = add_room(connection, unit, 301)
    compound = add_compound(connection, name="阳光小区")
    in_compound = add_building(connection, compound, 5)
    return {"street": street, "plates": plates, "building": building, "unit": unit, "room": room,
            "compound": compound, "compound_building": in_compound}


def one(connection, text: str, division: str | None = None):
    return geocode(connection, admin_index(connection), [GeocodeRequest(text, division)])[0]


def test_full_address_reaches_the_room(connection, lib):
    result = one(connection, "甘肃省兰州市城关区文一路100号3幢2单元301室")
    assert result.code == lib["room"].code
    assert result.match_level == "户室" and result.match_type == "exact"
    assert result.standard_address == lib["room"].full_address
    assert result.standard_address.startswith(PREFIX)
    assert result.admin_codes["village_code"] == "620102001001"
    assert result.score >= 0.95
    assert not result.unmatched


def test_each_level_falls_back_to_what_exists(connection, lib):
    plate_only = one(connection, "兰州市城关区文一路100号9幢")
    assert plate_only.code == lib["plates"][100].code and plate_only.match_level == "门牌号"
    assert [u["component"] for u in plate_only.unmatched] == ["houseno"]
    assert plate_only.score < 1.0
    street_only = one(connection, "兰州城关文一路777号")
    assert street_only.code == lib["street"].code and street_only.match_level == "道路"


def test_compound_buildings_and_spans(connection, lib):
    result = one(connection, "兰州市城关区阳光小区5幢")
    assert result.code == lib["compound_building"].code and result.match_level == "楼栋"
    assert {m["component"] for m in result.matched} >= {"county", "poi", "houseno"}


def test_messy_input_normalises_before_matching(connection, lib):
    result = one(connection, "甘肅省 蘭州市城關區 文一路一百號３幢")
    assert result.code == lib["building"].code


def test_fuzzy_match_on_a_misspelt_street(connection, lib):
    result = one(connection, "兰州市城关区文一街100号")
    assert result.match_type == "fuzzy" and result.code is not None
    assert result.code.startswith(lib["street"].code[:17])
    assert result.score < 0.95


def test_division_only_answers_with_the_division(connection, lib):
    result = one(connection, "甘肃省兰州市城关区")
    assert result.match_level == "区县" and result.code == "620102" and result.accuracy == "centroid"
    assert result.lon is not None and 103 < result.lon < 104.5


def test_nothing_recognised_scores_zero(connection, lib):
    result = one(connection, "@@@ ###")
    assert result.match_level is None and result.score == 0.0
    assert any(w["kind"] == "缺失" for w in result.warnings)


def test_division_filter_conflict_is_warned(connection, lib):
    result = one(connection, "兰州市城关区文一路100号", division="330106")
    assert any(w["kind"] == "冲突" for w in result.warnings)
    assert result.code is None or not result.code.startswith("620102")


def test_batch_of_many_keeps_order(connection, lib):
    texts = ["兰州市城关区文一路5号", "", "兰州城关区阳光小区", "兰州市城关区文一路100号3幢"] * 50
    results = geocode(connection, admin_index(connection), [GeocodeRequest(t) for t in texts])
    assert len(results) == len(texts)
    assert [r.code for r in results[:4]] == [lib["plates"][5].code, None, lib["compound"].code,
                                             lib["building"].code]


def test_reverse_finds_the_nearest_plate_with_chain(connection, lib):
    plate = lib["plates"][7]
    lon, lat = (float(v) for v in plate.point_wkt[6:-1].split())
    result = reverse(connection, lon + 0.00003, lat, radius=100)
    assert result.address["code"] == plate.code
    assert 1 < result.address["distance"] < 10 and result.address["direction"] == "西"
    assert [d["code"] for d in result.divisions] == ["620000", "620100", "620102", "620102001", "620102001001"]


def test_reverse_without_address_gives_the_county(connection, lib):
    result = reverse(connection, 103.70, 36.10, radius=50)
    assert result.address is None and any(w["kind"] == "缺失" for w in result.warnings)
    body = result.as_dict()
    assert body["admin_codes"]["county_code"] is not None


def test_reverse_rejects_bad_input(connection):
    with pytest.raises(InvalidInput):
        reverse(connection, 200, 30)
    with pytest.raises(InvalidInput):
        reverse(connection, 120, 30, radius=99999)


def test_confidence_and_direction_words():
    assert [confidence(d) for d in (0.5, 5, 50, 200, 900, 2000)] == [1.0, 0.9, 0.8, 0.7, 0.6, 0.5]
    assert [direction_word(b) for b in (0, 44, 90, 181, 270, 338)] == ["北", "东北", "东", "南", "西", "北"]


def test_suggest_by_prefix_pinyin_initials_and_number(connection, lib):
    assert suggest(connection, "文一", scope="620102")[0].code == lib["street"].code
    assert suggest(connection, "wenyi", scope="620102")[0].code == lib["street"].code
    assert suggest(connection, "wyl", scope="620102")[0].code == lib["street"].code
    plates = [s.name for s in suggest(connection, "文一路1", scope="620102")]
    assert plates[:4] == ["1号", "10号", "11号", "12号"] and "100号" in plates
    assert suggest(connection, "文一", scope="620103") == []
    with pytest.raises(InvalidInput):
        suggest(connection, "x" * 51)


# ---- HTTP -------------------------------------------------------------------------------------------

def test_http_geocode_free_text_and_structured(client, lib):
    body = client.get("/v1/addresses/geocode", params={"q": "兰州市城关区文一路100号3幢2单元301室"}).json()
    assert body["results"][0]["code"] == lib["room"].code
    structured = client.get("/v1/addresses/geocode", params={
        "city": "兰州市", "county": "城关区", "road": "文一路", "roadno": "100号", "houseno": "3幢"}).json()
    assert structured["results"][0]["code"] == lib["building"].code


def test_http_coordinate_systems_differ_as_expected(client, lib):
    q = {"q": "兰州市城关区文一路5号"}
    base = client.get("/v1/addresses/geocode", params=q).json()["results"][0]["point"]["coordinates"]
    gcj = client.get("/v1/addresses/geocode", params={**q, "coordsys": "gcj02"}).json()["results"][0]
    bd = client.get("/v1/addresses/geocode", params={**q, "coordsys": "bd09"}).json()["results"][0]
    shift_gcj = abs(gcj["point"]["coordinates"][0] - base[0]) + abs(gcj["point"]["coordinates"][1] - base[1])
    shift_bd = abs(bd["point"]["coordinates"][0] - base[0]) + abs(bd["point"]["coordinates"][1] - base[1])
    assert 0.001 < shift_gcj < 0.02 and shift_bd > shift_gcj
    assert client.get("/v1/addresses/geocode", params={**q, "coordsys": "utm"}).status_code == 422


def test_http_reverse_accepts_gcj02_input(client, lib):
    plate = lib["plates"][3]
    lon, lat = (float(v) for v in plate.point_wkt[6:-1].split())
    gcj = client.get("/v1/addresses/geocode", params={"q": "兰州市城关区文一路3号", "coordsys": "gcj02"}
                     ).json()["results"][0]["point"]["coordinates"]
    body = client.get("/v1/addresses/reverse", params={"lon": gcj[0], "lat": gcj[1], "input_coordsys": "gcj02",
                                                       "radius": 20}).json()
    assert body["address"]["code"] == plate.code and body["address"]["distance"] < 1


@pytest.mark.parametrize("params", [{}, {"q": ""}, {"q": "x" * 2001}, {"q": "文一路", "division": "12"},
                                    {"q": "文一路", "division": "abc"}])
def test_http_geocode_bad_input_is_a_clear_4xx(client, params):
    response = client.get("/v1/addresses/geocode", params=params)
    assert response.status_code in (400, 422), response.text
    assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize("params", [{"lon": 200, "lat": 30}, {"lon": 120, "lat": "nan"},
                                    {"lon": 120, "lat": 30, "radius": 0}, {"lat": 30}])
def test_http_reverse_bad_input(client, params):
    response = client.get("/v1/addresses/reverse", params=params)
    assert response.status_code == 422, response.text


def test_http_parse_keeps_order_and_limits(client):
    texts = ["浙江省杭州市西湖区文三路90号", "", "上海市徐汇区虹漕路461号58号楼5楼"]
    body = client.post("/v1/addresses/parse", json={"addresses": texts}).json()
    assert [r["text"] for r in body["results"]] == texts
    assert body["results"][0]["county_code"] == "330106" and body["results"][2]["county_code"] == "310104"
    assert client.post("/v1/addresses/parse", json={"addresses": ["x"] * 1001}).status_code == 422
    assert client.post("/v1/addresses/parse", json={"addresses": []}).status_code == 422
    assert client.post("/v1/addresses/parse", json={"address": ["x"]}).status_code == 422


def test_http_address_record_history_children(client, lib):
    street = lib["street"]
    record = client.get(f"/v1/addresses/{street.code}").json()
    assert record["level"] == "street" and record["divisions"][-1]["code"] == "620102001001"
    kids = client.get(f"/v1/addresses/{street.code}/children", params={"limit": 5}).json()
    assert len(kids["items"]) == 5 and kids["next_after"] == kids["items"][-1]["code"]
    history = client.get(f"/v1/addresses/{lib['room'].code}/history").json()
    assert len(history["items"]) == 1
    assert client.get("/v1/addresses/123").status_code == 422
    assert client.get("/v1/addresses/" + "6" * 21).status_code == 404


def test_http_suggest(client, lib):
    body = client.get("/v1/addresses/suggest", params={"q": "wyl", "division": "620102"}).json()
    assert body["results"][0]["code"] == lib["street"].code
    assert client.get("/v1/addresses/suggest", params={"q": ""}).status_code == 422
