"""GDAL's OAPIF driver (through pyogrio) as a real client of the OGC API, on uvicorn (read-only)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text

from api.app import create_app
from api.background import serving
from maps.registry import COLLECTIONS
from tests.ogc_builders import EPSG, gdal, sql_ids

SMALL = ("provinces", "prefectures", "markers", "facilities")  # read whole; the others through a filter
HANGZHOU_BOX = (119.9, 30.0, 120.4, 30.5)


@pytest.fixture(scope="module")
def server(settings, engine) -> Iterator[tuple[str, list[str]]]:
    """The app on a loopback port, recording the URL of every request it answers."""
    app = create_app(settings, engine)
    seen: list[str] = []

    @app.middleware("http")
    async def record(request, call_next):
        seen.append(str(request.url))
        return await call_next(request)

    with serving(app) as url:
        yield url, seen


def _listed(session) -> list[str]:
    township = session.execute(text("SELECT EXISTS (SELECT 1 FROM divisions WHERE level = 4 AND geom IS NOT NULL "
                                    "AND NOT placeholder AND valid_to IS NULL)")).scalar()
    return [c for c in COLLECTIONS if c != "townships" or township]


def _item_requests(seen: list[str], cid: str) -> list[str]:
    return [u for u in seen if f"/collections/{cid}/items?" in u]


def test_gdal_lists_every_collection(server, session):
    url, _ = server
    [listing] = gdal([{"list": True, "url": url}])
    layers = dict(listing["layers"])
    assert sorted(layers) == sorted(_listed(session))
    assert layers["counties"] == "MultiPolygon" and layers["addresses"] == "Point"


def test_gdal_reads_every_collection_page_by_page(server, session):
    url, seen = server
    village = session.execute(text("SELECT village_code FROM addresses WHERE valid_to IS NULL AND NOT reserved "
                                   "AND county_code = '330106' GROUP BY 1 HAVING count(*) BETWEEN 5 AND 300 "
                                   "ORDER BY 1 LIMIT 1")).scalar_one()
    jobs = [{"url": url, "layer": cid, "options": {"PAGE_SIZE": "200"}} for cid in SMALL]
    jobs += [{"url": url, "layer": "addresses", "where": f"village_code = '{village}'", "options": {"PAGE_SIZE": "50"}},
             {"url": url, "layer": "placenames", "bbox": [120.10, 30.20, 120.15, 30.25],
              "options": {"PAGE_SIZE": "50"}},
             {"url": url, "layer": "counties", "where": "parent_code = '330100'", "options": {"PAGE_SIZE": "4"}},
             {"url": url, "layer": "boundary-lines", "bbox": list(HANGZHOU_BOX), "options": {"PAGE_SIZE": "20"}}]
    seen.clear()
    results = gdal(jobs)
    expected = [sql_ids(session, cid) for cid in SMALL]
    expected.append(sql_ids(session, "addresses", "t.village_code = :v", {"v": village}))
    expected.append(sql_ids(session, "placenames",
                            "ST_Intersects(t.geom, ST_MakeEnvelope(120.10, 30.20, 120.15, 30.25, 4490))"))
    expected.append(sql_ids(session, "counties", "t.parent_code = '330100'"))
    expected.append(sql_ids(session, "boundary-lines", "ST_Intersects(t.geom, ST_MakeEnvelope(:a, :b, :c, :d, 4490))",
                            dict(zip("abcd", HANGZHOU_BOX, strict=True))))
    id_column = {"provinces": "code", "prefectures": "code", "counties": "code", "boundary-lines": "line_id",
                 "markers": "number", "facilities": "facility_id", "addresses": "code", "placenames": "name_id"}
    for job, result, want in zip(jobs, results, expected, strict=True):
        got = [str(row[id_column[job["layer"]]]) for row in result["rows"]]
        assert sorted(got) == sorted(want), job["layer"]
        assert len(got) == len(set(got))
        if len(want) > int(job["options"]["PAGE_SIZE"]):           # several pages, all walked through `next`
            assert any("after=" in u for u in _item_requests(seen, job["layer"])), job["layer"]
    assert any(f"village_code={village}" in u for u in _item_requests(seen, "addresses"))   # pushed down


def test_gdal_pushes_a_property_filter_down_and_keeps_the_crs_on_every_page(server, session):
    url, seen = server
    seen.clear()
    [result] = gdal([{"url": url, "layer": "counties", "where": "parent_code = '330100'",
                      "options": {"PAGE_SIZE": "3"}}])
    assert sorted(r["code"] for r in result["rows"]) == sorted(sql_ids(session, "counties", "t.parent_code = '330100'"))
    requests = [u for u in _item_requests(seen, "counties") if "parent_code=330100" in u]
    assert len(requests) >= 3                                        # the filter went to the server on each page
    assert all("crs=" in u for u in requests)


def test_gdal_reads_4490_as_lat_lon_and_gives_the_crs84_positions(server):
    url, seen = server
    seen.clear()
    crs84, cgcs = gdal([
        {"url": url, "layer": "counties", "where": "parent_code = '330100'", "options": {"CRS": "OGC:CRS84"}},
        {"url": url, "layer": "counties", "where": "parent_code = '330100'", "options": {"CRS": "EPSG:4490"}},
    ])
    assert "4490" in cgcs["crs"]
    assert any(f"crs={EPSG.format(4490)}" in u for u in _item_requests(seen, "counties"))
    by_code = dict(zip((r["code"] for r in crs84["rows"]), crs84["coords"], strict=True))
    for row, (x, y) in zip(cgcs["rows"], cgcs["coords"], strict=True):
        # the server sends lat,lon for EPSG:4490; GDAL swaps it back to GIS order (x = lon), matching CRS84
        assert 118 < x < 121 and 29 < y < 31
        assert (x, y) == pytest.approx(tuple(by_code[row["code"]]), abs=1e-6)
