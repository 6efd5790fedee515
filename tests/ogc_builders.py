"""Helpers for the OGC API tests: fetch and walk item pages, compare with SQL, drive GDAL."""

from __future__ import annotations

import json
import subprocess
import sys
from urllib.parse import parse_qsl, urlsplit

from sqlalchemy import text

from maps.registry import COLLECTIONS

GEOJSON = "application/geo+json"
PROBLEM = "application/problem+json"
EPSG = "http://www.opengis.net/def/crs/EPSG/0/{}"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"


def items(client, cid: str, **params) -> dict:
    """One items page (asserting 200 and GeoJSON)."""
    response = client.get(f"/collections/{cid}/items", params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(GEOJSON)
    return response.json()


def relative(href: str) -> str:
    """HREF without scheme and host (the TestClient's base)."""
    parts = urlsplit(href)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def next_href(page: dict) -> str | None:
    return next((link["href"] for link in page["links"] if link["rel"] == "next"), None)


def walk(client, cid: str, **params) -> tuple[list[dict], list[dict]]:
    """Every feature reached from the first page by following `next`, and the pages."""
    pages = [items(client, cid, **params)]
    while (href := next_href(pages[-1])) is not None:
        response = client.get(relative(href))
        assert response.status_code == 200, response.text
        pages.append(response.json())
    return [f for page in pages for f in page["features"]], pages


def query_pairs(href: str) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(href).query, keep_blank_values=True)


def sql_ids(session, cid: str, condition: str = "true", params: dict | None = None) -> set[str]:
    """The current feature ids of collection CID matching a SQL CONDITION over `t`."""
    c = COLLECTIONS[cid]
    sql = f"SELECT {c.id_sql} FROM {c.source} WHERE ({c.where}) AND ({c.current}) AND ({condition})"
    return {str(v) for v in session.execute(text(sql), params or {}).scalars()}


def ids(features: list[dict]) -> list[str]:
    return [f["id"] for f in features]


_GDAL = """
import json, sys
import pyogrio
out = []
for job in json.loads(sys.stdin.read()):
    if job.get("list"):
        out.append({"layers": pyogrio.list_layers("OAPIF:" + job["url"]).tolist()})
        continue
    df = pyogrio.read_dataframe("OAPIF:" + job["url"], layer=job["layer"], where=job.get("where"),
                                bbox=tuple(job["bbox"]) if job.get("bbox") else None, **job.get("options", {}))
    out.append({"crs": df.crs.to_string() if df.crs else None, "columns": list(df.columns),
                "rows": json.loads(df.drop(columns="geometry").to_json(orient="records", date_format="iso")),
                "coords": [list(g.representative_point().coords[0]) if g is not None else None
                           for g in df.geometry]})
print(json.dumps(out))
"""


def gdal(jobs: list[dict]) -> list[dict]:
    """Run pyogrio (GDAL's OAPIF driver) on JOBS in a child process.

    A child, because pyogrio holds the GIL while GDAL waits for HTTP: in this process it would
    block the uvicorn thread serving the requests.
    """
    done = subprocess.run([sys.executable, "-c", _GDAL], input=json.dumps(jobs), capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)
