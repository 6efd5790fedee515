"""Quick tile timings on the configured database: ~200 multi-layer tiles around 杭州 at z8–14, cold then warm.

Cold: the tiles' cache rows are deleted first (committed), so each is rendered and stored; warm: the
same tiles again, served from the cache. Times are per request through the app (TestClient, in-process).
"""

from __future__ import annotations

import math
import statistics
import time

from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from data.db import make_engine
from data.settings import get_settings

CENTRE = (120.155, 30.274)  # 杭州 西湖


def tiles() -> list[tuple[int, int, int]]:
    out = []
    for z, radius in ((8, 1), (9, 1), (10, 2), (11, 2), (12, 2), (13, 3), (14, 3)):
        n = 2 ** z
        cx = int((CENTRE[0] + 180) / 360 * n)
        cy = int((1 - math.asinh(math.tan(math.radians(CENTRE[1]))) / math.pi) / 2 * n)
        out += [(z, x, y) for x in range(cx - radius, cx + radius + 1) for y in range(cy - radius, cy + radius + 1)]
    return out


def run(client: TestClient, path: str, batch: list[tuple[int, int, int]]) -> tuple[list[float], dict]:
    times, statuses = [], {}
    for z, x, y in batch:
        started = time.perf_counter()
        response = client.get(path.format(z=z, x=x, y=y))
        times.append((time.perf_counter() - started) * 1000)
        key = f"{response.status_code} {response.headers.get('x-cache')}"
        statuses[key] = statuses.get(key, 0) + 1
    return times, statuses


def summary(label: str, times: list[float], statuses: dict) -> None:
    p95 = statistics.quantiles(times, n=20)[18]
    print(f"{label}: n={len(times)} p50={statistics.median(times):.1f} ms p95={p95:.1f} ms "
          f"max={max(times):.1f} ms {statuses}")


def main() -> None:
    settings = get_settings()
    batch = tiles()
    engine = make_engine(settings)
    with engine.begin() as conn:
        for z, x, y in batch:
            conn.execute(text("DELETE FROM tile_cache WHERE tileset IN ('gazetteer', 'counties') "
                              "AND z = :z AND x = :x AND y = :y"), {"z": z, "x": x, "y": y})
    with TestClient(create_app(settings)) as client:
        client.get("/tiles/0/0/0.mvt")  # connection and PROJ set-up out of the numbers
        summary("multi-layer cold", *run(client, "/tiles/{z}/{x}/{y}.mvt", batch))
        summary("multi-layer warm", *run(client, "/tiles/{z}/{x}/{y}.mvt", batch))
        summary("counties cold", *run(client, "/collections/counties/tiles/WebMercatorQuad/{z}/{y}/{x}", batch))
        summary("counties warm", *run(client, "/collections/counties/tiles/WebMercatorQuad/{z}/{y}/{x}", batch))
    engine.dispose()


if __name__ == "__main__":
    main()
