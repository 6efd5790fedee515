"""Address-lookup benchmarks on a 1,000,000-row library: reverse req/s and p99 over HTTP at 16
connections beside the same server's /health, geocode p50/p95, and a 1 M-row batch.

Run with `make bench` or `.venv/bin/python bench/lookup.py [--count N] [--batch-rows N]`.
The library is generated once (reproducibly, seed 7, 宁波市 330200) and kept; its generation time is
reported the first time. HTTP load comes from `wrk` (Debian package, installed when missing) against a
`gazetteer serve --workers 2` process on 127.0.0.1 that this script starts and stops, with an API key
created for the run and revoked after it (so quota accounting is part of what is measured); every
run stops by itself after the given duration.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import re
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.table import Table
from server import Server
from sqlalchemy import text

from addresses.admin import admin_index
from addresses.batch import geocode_csv
from addresses.generate import generate_demo
from addresses.geocode import GeocodeRequest, geocode
from data.apikeys import create_key, revoke_key
from data.db import make_engine
from data.settings import get_settings
from data.system import ensure_debian_package

RESULTS = Path(__file__).resolve().parent / "results"
DIVISION, SEED = "330200", 7
console = Console()


def ensure_library(engine, count: int) -> float | None:
    """Generate the benchmark library once; the seconds it took, or None when it existed."""
    name = f"demo-addresses-{DIVISION}-{count}-{SEED}"
    with engine.connect() as conn:
        if conn.execute(text("SELECT 1 FROM datasets WHERE name = :n"), {"n": name}).first():
            return None
    console.print(f"generating {count:,} addresses in {DIVISION} (once)…")
    started = time.perf_counter()
    with engine.begin() as conn:
        generate_demo(conn, count=count, seed=SEED, division=DIVISION)
    return time.perf_counter() - started


def sample_rows(engine, n: int, seed: float = 0.7) -> list:
    """N random current plates/buildings/rooms of the benchmark library (code, text, point)."""
    with engine.connect() as conn:
        conn.execute(text("SELECT setseed(:s)"), {"s": seed})
        return conn.execute(text("""
            SELECT code, level, full_address, ST_X(point) AS lon, ST_Y(point) AS lat
            FROM addresses TABLESAMPLE SYSTEM (2) REPEATABLE (7)
            WHERE valid_to IS NULL AND county_code LIKE :p AND level IN ('plate', 'building', 'room')
            LIMIT :n"""), {"p": DIVISION[:4] + "%", "n": n}).all()


def messy(full: str, rng: random.Random) -> str:
    """The way people write it: province or city dropped, 区/市 suffixes dropped, spaces."""
    out = full
    if rng.random() < 0.4:
        out = re.sub(r"^浙江省", "", out)
    if rng.random() < 0.3:
        out = out.replace("宁波市", "宁波", 1)
    if rng.random() < 0.2:
        out = out.replace("号", "号 ", 1)
    return out


_LUA = """
wrk.headers["X-API-Key"] = %s
local paths = {%s}
local i = 0
request = function()
  i = i %% #paths + 1
  return wrk.format("GET", paths[i])
end
"""


def wrk(url: str, paths: list[str], seconds: int, key: str, connections: int = 16) -> dict:
    """req/s and latency percentiles from wrk (2 threads, CONNECTIONS connections, SECONDS long)."""
    binary = ensure_debian_package("wrk", "wrk")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(_LUA % (json.dumps(key), ",".join(json.dumps(p) for p in paths)))
        script.write("""
done = function(summary, latency, requests)
  io.write(string.format("JSON {\\"rps\\": %f, \\"p50\\": %f, \\"p99\\": %f, \\"errors\\": %d, \\"non2xx\\": %d}\\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
end
""")
    out = subprocess.run([binary, "-t2", f"-c{connections}", f"-d{seconds}s", "-s", script.name, url],
                         capture_output=True, text=True, check=True).stdout
    os.unlink(script.name)
    return json.loads(out.split("JSON ", 1)[1].splitlines()[0])


@contextmanager
def bench_key(engine) -> Iterator[str]:
    """An API key with room for the run (the server counts real usage), revoked afterwards."""
    with engine.begin() as conn:
        record, key = create_key(conn, name="bench/lookup.py", daily_quota=2**31 - 1, per_second=10**6,
                                 actor="bench")
    try:
        yield key
    finally:
        with engine.begin() as conn:
            revoke_key(conn, record.id, "bench")


def percentiles(ms: list[float]) -> dict:
    """p50 and p95 in milliseconds."""
    q = statistics.quantiles(ms, n=100, method="inclusive")
    return {"p50": round(q[49], 2), "p95": round(q[94], 2), "n": len(ms)}


def bench_geocode(engine, rows, rng) -> tuple[dict, float]:
    """Sequential single-query geocode latency (domain, one connection) and the share found exactly."""
    times, exact = [], 0
    with engine.connect() as conn:
        index = admin_index(conn)
        for row in rows:
            start = time.perf_counter()
            result = geocode(conn, index, [GeocodeRequest(messy(row.full_address, rng))])[0]
            times.append((time.perf_counter() - start) * 1000)
            exact += result.code == row.code
    return percentiles(times), exact / len(rows)


def bench_batch(engine, rows, n: int, rng) -> dict:
    """Geocode an N-row CSV (sampled addresses repeated with messy variants) in one process."""
    buffer = io.StringIO()
    buffer.write("id,地址\n")
    for i in range(n):
        buffer.write(f"{i},{messy(rows[i % len(rows)].full_address, rng)}\n")
    data = buffer.getvalue().encode("utf-8")
    out = io.StringIO()
    started = time.perf_counter()
    with engine.connect() as conn:
        written = geocode_csv(conn, admin_index(conn), data, out)
    seconds = time.perf_counter() - started
    return {"rows": n, "written": written, "seconds": round(seconds, 1), "rows_per_s": round(n / seconds)}


def main() -> None:
    """Run every benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--batch-rows", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=int, default=15)
    args = parser.parse_args()
    engine = make_engine(get_settings())
    rng = random.Random(7)
    generated = ensure_library(engine, args.count)
    rows = sample_rows(engine, 2000)
    results: dict = {"library_rows": args.count, "generate_seconds": generated and round(generated, 1)}
    results["geocode"], results["geocode_exact_share"] = bench_geocode(engine, rows[:500], rng)
    with Server() as server, bench_key(engine) as key:
        points = [f"/v1/addresses/reverse?lon={r.lon + rng.uniform(-3e-4, 3e-4):.6f}"
                  f"&lat={r.lat + rng.uniform(-3e-4, 3e-4):.6f}&radius=300" for r in rows]
        wrk(server.url, points[:200], 3, key)  # warm-up
        results["reverse_http"] = wrk(server.url, points, args.seconds, key)
        wrk(server.url, ["/health"], 3, key)  # warm-up: each process reads its counts once
        results["health_http"] = wrk(server.url, ["/health"], args.seconds, key)
    results["batch"] = bench_batch(engine, rows, args.batch_rows, rng)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "lookup.json").write_text(json.dumps(results, indent=2, ensure_ascii=False))
    report(results)
    engine.dispose()


def report(r: dict) -> None:
    """Print the results table with the goals of issue 5."""
    table = Table(title=f"address lookup on {r['library_rows']:,} addresses (2 cores)")
    for column in ("measure", "result", "goal"):
        table.add_column(column)
    rev, health = r["reverse_http"], r["health_http"]
    if r["generate_seconds"]:
        table.add_row("generate + load library", f"{r['generate_seconds']} s", "≤ 300 s")
    table.add_row("reverse, HTTP, 16 connections", f"{rev['rps']:,.0f} req/s, p50 {rev['p50']:.1f} ms, "
                  f"p99 {rev['p99']:.1f} ms, errors {rev['errors'] + rev['non2xx']}", "≥ 1,000 req/s, p99 ≤ 20 ms")
    table.add_row("/health, same server", f"{health['rps']:,.0f} req/s, p99 {health['p99']:.1f} ms", "baseline")
    table.add_row("reverse / health", f"{rev['rps'] / health['rps']:.2f}×", "")
    g = r["geocode"]
    table.add_row("geocode (domain, sequential)", f"p50 {g['p50']} ms, p95 {g['p95']} ms, "
                  f"exact code {r['geocode_exact_share']:.1%}", "")
    b = r["batch"]
    table.add_row("batch CSV", f"{b['rows']:,} rows in {b['seconds']} s ({b['rows_per_s']:,}/s), "
                  f"{b['written']:,} written", "1 M ≤ 600 s")
    console.print(table)


if __name__ == "__main__":
    main()
