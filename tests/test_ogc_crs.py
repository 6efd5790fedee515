"""OGC API Features Part 2: output CRSs against pyproj in each CRS's axis order, Content-Crs, bbox-crs,
antimeridian boxes and invalid CRSs."""

from __future__ import annotations

import pytest
from pyproj import CRS, Transformer
from sqlalchemy import text

from maps.crs import GAUSS_KRUGER_ZONES
from tests.ogc_builders import CRS84, EPSG, PROBLEM, ids, items, sql_ids

COUNTY = "330106"  # 西湖区, in the demo data of every cluster
SRIDS = (4490, 4326, 3857, *GAUSS_KRUGER_ZONES)


@pytest.fixture
def village(session) -> str:
    """A village of the county with a few addresses (a selective filter keeps these tests quick)."""
    return session.execute(text("SELECT village_code FROM addresses WHERE valid_to IS NULL AND NOT reserved "
                                "AND county_code = :c GROUP BY 1 HAVING count(*) >= 5 ORDER BY count(*), 1 LIMIT 1"),
                           {"c": COUNTY}).scalar_one()


@pytest.fixture
def reference(client, village) -> list[dict]:
    """A few address points of one village, in CRS84."""
    page = items(client, "addresses", village_code=village, limit=5)
    assert len(page["features"]) == 5
    return page["features"]


def test_axis_orders_follow_the_epsg_registry():
    assert [a.direction for a in CRS.from_epsg(4490).axis_info] == ["north", "east"]
    assert [a.direction for a in CRS.from_epsg(4549).axis_info] == ["north", "east"]   # GK zones: N, E
    assert [a.direction for a in CRS.from_epsg(3857).axis_info] == ["east", "north"]


def test_coordinates_are_pyprojs_transform_in_the_crs_axis_order(client, village, reference):
    for srid in SRIDS:      # one test for the 24 CRSs: an app per CRS would make this file slow
        response = client.get("/collections/addresses/items",
                              params={"village_code": village, "limit": 5, "crs": EPSG.format(srid)})
        assert response.status_code == 200
        assert response.headers["content-crs"] == f"<{EPSG.format(srid)}>"
        got = response.json()["features"]
        assert ids(got) == ids(reference)
        # authority axis order out (always_xy=False): lat,lon for 4490/4326, northing,easting for the GK zones
        transformer = Transformer.from_crs("OGC:CRS84", f"EPSG:{srid}")
        tolerance = 1e-6 if CRS.from_epsg(srid).is_geographic else 0.01
        for feature, ref in zip(got, reference, strict=True):
            lon, lat = ref["geometry"]["coordinates"]
            expected = transformer.transform(lon, lat)
            assert feature["geometry"]["coordinates"] == pytest.approx(list(expected), abs=tolerance), srid


def test_crs84_is_the_default_and_is_lon_lat(client, village, reference):
    response = client.get("/collections/addresses/items", params={"village_code": village, "limit": 5, "crs": CRS84})
    assert response.headers["content-crs"] == f"<{CRS84}>"
    assert response.json()["features"] == reference
    lon, lat = reference[0]["geometry"]["coordinates"]
    assert 119 < lon < 121 and 29 < lat < 31


def test_urn_forms_are_accepted(client, village, reference):
    page = items(client, "addresses", village_code=village, limit=5, crs="urn:ogc:def:crs:EPSG::4490")
    lon, lat = reference[0]["geometry"]["coordinates"]
    assert page["features"][0]["geometry"]["coordinates"] == pytest.approx([lat, lon], abs=1e-7)
    crs84 = items(client, "addresses", village_code=village, limit=5, crs="urn:ogc:def:crs:OGC:1.3:CRS84")
    assert crs84["features"] == reference


def test_one_item_in_another_crs(client):
    response = client.get(f"/collections/counties/items/{COUNTY}", params={"crs": EPSG.format(4490)})
    assert response.status_code == 200 and response.headers["content-crs"] == f"<{EPSG.format(4490)}>"
    lat, lon = response.json()["geometry"]["coordinates"][0][0][0]
    assert 29 < lat < 31 and 119 < lon < 121


def test_bbox_crs_4490_is_lat_lon_and_selects_what_the_crs84_box_does(client, session):
    crs84 = items(client, "counties", bbox="120.0,30.1,120.3,30.4", limit=100)
    latlon = items(client, "counties", bbox="30.1,120.0,30.4,120.3", limit=100, **{"bbox-crs": EPSG.format(4490)})
    assert ids(crs84["features"]) and ids(crs84["features"]) == ids(latlon["features"])
    expected = sql_ids(session, "counties", "ST_Intersects(t.geom, ST_MakeEnvelope(120.0, 30.1, 120.3, 30.4, 4490))")
    assert set(ids(crs84["features"])) == expected and COUNTY in expected
    # the same numbers read as CRS84 lon/lat put a latitude of 120°: refused
    swapped = client.get("/collections/counties/items", params={"bbox": "30.1,120.0,30.4,120.3"})
    assert swapped.status_code == 400


def test_a_projected_bbox_selects_a_point_inside_it(client, village, reference):
    lon, lat = reference[0]["geometry"]["coordinates"]
    northing, easting = Transformer.from_crs("OGC:CRS84", "EPSG:4549").transform(lon, lat)   # CM 120E
    box = f"{northing - 5},{easting - 5},{northing + 5},{easting + 5}"
    page = items(client, "addresses", village_code=village, bbox=box, limit=100, **{"bbox-crs": EPSG.format(4549)})
    assert reference[0]["id"] in ids(page["features"])
    x, y = Transformer.from_crs("OGC:CRS84", "EPSG:3857").transform(lon, lat)
    mercator = items(client, "addresses", village_code=village, bbox=f"{x - 5},{y - 5},{x + 5},{y + 5}", limit=100,
                     **{"bbox-crs": EPSG.format(3857)})
    assert reference[0]["id"] in ids(mercator["features"])


def test_an_antimeridian_bbox_covers_both_sides(client, session):
    expected = sql_ids(session, "counties", "t.parent_code = '330100'")
    wrapped = items(client, "counties", parent_code="330100", bbox="100,20,-170,40", limit=100)
    assert set(ids(wrapped["features"])) == expected and wrapped["numberMatched"] == len(expected)
    west_only = items(client, "counties", parent_code="330100", bbox="170,20,-100,40", limit=100)
    assert west_only["features"] == []                                   # 170°E … 100°W misses China
    six = items(client, "counties", parent_code="330100", bbox="100,20,0,-170,40,0", limit=100)
    assert set(ids(six["features"])) == expected


@pytest.mark.parametrize("param, value", [
    ("crs", "http://www.opengis.net/def/crs/EPSG/0/4547x"), ("crs", "http://www.opengis.net/def/crs/EPSG/0/2000"),
    ("crs", "EPSG:4533"), ("crs", "urn:ogc:def:crs:EPSG::4555"), ("crs", "wgs84"), ("crs", ""),
    ("bbox-crs", "http://www.opengis.net/def/crs/EPSG/0/32650"),
])
def test_invalid_crs_is_400(client, param, value):
    params = {param: value, **({"bbox": "1,2,3,4"} if param == "bbox-crs" else {})}
    response = client.get("/collections/counties/items", params=params)
    assert response.status_code == 400 and response.headers["content-type"] == PROBLEM
    assert response.json()["errors"][0]["field"] == param
    assert client.get(f"/collections/counties/items/{COUNTY}", params={"crs": "EPSG:1"}).status_code == 400


def test_a_bbox_outside_a_projected_crs_is_400(client):
    response = client.get("/collections/counties/items",
                          params={"bbox": "1e300,1e300,2e300,2e300", "bbox-crs": EPSG.format(4549)})
    assert response.status_code == 400
