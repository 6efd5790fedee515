"""Place-name latencies: search (Chinese, pinyin, initials), romanize, check, over the seeded registry.

Run with `make bench` (or `.venv/bin/python bench/names.py [--names N]`). Query names are
drawn reproducibly (seed 0.42) from the registry; every query runs through the domain function on
one connection; p50/p99 are reported and written to bench/results/placenames.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session

from data.db import make_engine
from data.settings import get_settings
from placenames import checks, registry
from placenames.categories import get_category
from placenames.romanize import romanize
from placenames.rules import Proposal

RESULTS = Path(__file__).resolve().parent / "results"


def sample(session: Session, n: int) -> list[tuple[str, str, str, str, str]]:
    """N random registry names: (name, category, division code, pinyin key, initials)."""
    session.execute(text("SELECT setseed(0.42)"))
    return [tuple(r) for r in session.execute(text(
        "SELECT name, category, division_code, pinyin_key, initials FROM place_names "
        "WHERE valid_to IS NULL AND romanization IS NOT NULL ORDER BY random() LIMIT :n"), {"n": n})]


def timed(calls) -> dict[str, float]:
    """p50/p99/mean in milliseconds of running each callable once."""
    times = []
    for call in calls:
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {"n": len(times), "p50_ms": round(statistics.median(times), 2),
            "p99_ms": round(times[int(len(times) * 0.99) - 1], 2), "mean_ms": round(statistics.mean(times), 2)}


def main() -> None:
    """Measure and report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--names", type=int, default=500)
    args = parser.parse_args()
    engine = make_engine(get_settings())
    with Session(engine) as session:
        names = sample(session, args.names)

        def search(**kwargs):
            return lambda: registry.search(session, registry.SearchQuery(**kwargs))

        def check(name, category, code):
            proposal = Proposal(name=name, category=get_category(category), division_code=code)
            return lambda: checks.check_proposal(session, proposal)

        report = {
            "search_chinese": timed([search(q=n[0]) for n in names]),
            "search_pinyin_prefix": timed([search(q=n[3][:6]) for n in names]),
            "search_initials": timed([search(q=n[4]) for n in names]),
            "romanize": timed([lambda n=n: romanize(n[0], n[1], division_code=n[2]) for n in names]),
            "check_with_duplicates": timed([check(*n[:3]) for n in names]),
        }
    engine.dispose()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "placenames.json").write_text(json.dumps(report, indent=2))
    for key, value in report.items():
        print(f"{key:24s} p50 {value['p50_ms']:7.2f} ms   p99 {value['p99_ms']:7.2f} ms   (n={value['n']})")


if __name__ == "__main__":
    main()
