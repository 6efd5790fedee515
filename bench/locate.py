"""Locate latency: p50/p99 over 1,000 random points inside county polygons.

Run with `make bench` (or `.venv/bin/python bench/locate.py [--points N] [--http]`). Points are
drawn reproducibly (seed 42) inside random county polygons with ST_GeneratePoints, then located
one at a time: through the domain function on one connection, and over HTTP against a uvicorn
server this script starts on 127.0.0.1 (one client, sequential requests; it stops by itself).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import httpx
from sqlalchemy import text

from api.app import create_app
from api.background import serving
from boundaries.divisions import locate
from data.db import make_engine
from data.settings import get_settings

RESULTS = Path(__file__).resolve().parent / "results"


def sample_points(conn, n: int, seed: float = 0.42) -> list[tuple[float, float, str]]:
    """N reproducible points, each inside a random county polygon, with that county's code."""
    conn.execute(text("SELECT setseed(:s)"), {"s": seed})
    rows = conn.execute(text("""
        SELECT code, ST_X(p) AS lon, ST_Y(p) AS lat FROM (
            SELECT code, (ST_Dump(ST_GeneratePoints(geom, 1, 42))).geom AS p
            FROM (SELECT code, geom FROM divisions WHERE level = 3 AND geom IS NOT NULL
                  AND valid_to IS NULL ORDER BY random() LIMIT :n) c
        ) s
    """), {"n": n + n // 10}).all()  # a few sliver polygons yield no point
    return [(r.lon, r.lat, r.code) for r in rows][:n]


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    """p50, p90, p99 and max in milliseconds."""
    q = statistics.quantiles(samples_ms, n=100, method="inclusive")
    return {"p50": round(q[49], 3), "p90": round(q[89], 3), "p99": round(q[98], 3),
            "max": round(max(samples_ms), 3), "n": len(samples_ms)}


def bench_domain(engine, points) -> tuple[dict, int]:
    """Time locate() on one connection; also count how often it found the sampled county."""
    times, hits = [], 0
    with engine.connect() as conn:
        for lon, lat, code in points:
            start = time.perf_counter()
            found = locate(conn, lon, lat)
            times.append((time.perf_counter() - start) * 1000)
            hits += found.chain[-1].code == code
    return percentiles(times), hits


def bench_http(settings, engine, points) -> dict:
    """Time GET /v1/divisions/locate through uvicorn on 127.0.0.1."""
    times = []
    with serving(create_app(settings, engine)) as base, httpx.Client(base_url=base, timeout=10) as client:
        for lon, lat, _ in points:
            start = time.perf_counter()
            client.get("/v1/divisions/locate", params={"lon": lon, "lat": lat}).raise_for_status()
            times.append((time.perf_counter() - start) * 1000)
    return percentiles(times)


def main() -> None:
    """Run the benchmark and print (and save) the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1000)
    parser.add_argument("--no-http", action="store_true")
    args = parser.parse_args()
    settings = get_settings()
    engine = make_engine(settings)
    with engine.connect() as conn:
        points = sample_points(conn, args.points)
    domain, hits = bench_domain(engine, points)
    report = {"points": len(points), "found_sampled_county": hits, "domain_ms": domain}
    if not args.no_http:
        report["http_ms"] = bench_http(settings, engine, points)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "locate.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
