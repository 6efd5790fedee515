"""Who calls the address-lookup API, and may they: `X-API-Key`, a per-second rate, a daily quota.

A caller is an API key (`X-API-Key` header) or, without the header, the client address with the
`anon_*` limits from the settings. Each caller has a token bucket (refilled at its per-second rate,
holding at most that many tokens) and a count of today's requests (days in Asia/Shanghai).

All of it lives in this process's memory, so a lookup costs no database round trip:

- a caller's count is read from `api_usage` the first time it is seen each day, and the counts are
  written back (added) once per second by a flusher thread, and on shutdown (`shutdown(app)`); each
  write also brings back the totals other processes added (with an injected connection, as in the
  tests, the request that finds a write due does it instead);
- a key lookup (hash → key) is cached for 30 s, unknown keys included: a key revoked with
  `gazetteer apikeys revoke` (another process) is refused within 30 s; `Limiter.forget_keys()`
  makes a revoke in this process take effect at once;
- with several worker processes each enforces the rate on its own (so a caller may get up to
  workers × per_second), and the daily quota is shared through `api_usage` with about a second's lag.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Annotated, cast

from fastapi import Depends, FastAPI, Header, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

from data.apikeys import (
    ApiKey,
    Usage,
    add_usage,
    anonymous_caller,
    find_key,
    hash_key,
    key_shaped,
    next_reset,
    usage_day,
    usage_on,
)
from data.errors import NotAuthenticated, TooManyRequests
from data.settings import Settings

KEY_HEADER = "X-API-Key"
KEY_CACHE_SECONDS = 30.0
FLUSH_SECONDS = 1.0
MAX_CACHED_KEYS = 10_000
MAX_BUCKETS = 100_000
log = logging.getLogger("gazetteer.quota")

Connect = Callable[[], AbstractContextManager[Connection]]
_PROBLEM = {"application/problem+json": {}}
# For the `responses=` of routes that use lookup_caller, so the OpenAPI document lists the refusals.
RESPONSES: dict[int | str, dict] = {
    401: {"description": "Unknown or revoked API key", "content": _PROBLEM},
    429: {"description": "Over the per-second rate or the daily quota (members limit, remaining, reset)",
          "content": _PROBLEM,
          "headers": {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}}},
}


@dataclass(frozen=True, slots=True)
class Caller:
    """An admitted caller: who, its limits, and its requests today including this one."""

    id: str
    key: ApiKey | None
    daily_quota: int
    per_second: int
    requests_today: int
    day: dt.date
    resets_at: dt.datetime
    reset_seconds: int
    address: str | None = None  # anonymous callers: the client address they are counted by

    @property
    def remaining(self) -> int:
        """Requests left today."""
        return max(0, self.daily_quota - self.requests_today)


@dataclass(slots=True)
class _Bucket:
    day: dt.date
    requests: int
    tokens: float
    stamp: float


class Limiter:
    """Per-caller rate and daily quota, in memory, with counters flushed to `api_usage`."""

    def __init__(self, settings: Settings, connect: Connect, *,
                 clock: Callable[[], float] = time.monotonic,
                 now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> None:
        self._flusher: threading.Thread | None = None
        self._stop = threading.Event()
        self.anon_daily_quota = settings.anon_daily_quota
        self.anon_per_second = settings.anon_per_second
        self._connect = connect
        self._clock = clock
        self._now = now
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._keys: dict[str, tuple[float, ApiKey | None]] = {}
        self._buckets: dict[str, _Bucket] = {}
        self._pending: dict[tuple[str, dt.date], list[int]] = {}  # [requests, refused] not yet written
        self._flushed_at = clock()

    def admit(self, plain_key: str | None, address: str | None) -> Caller:
        """Count one request of the caller with PLAIN_KEY (or anonymous at ADDRESS); 401 or 429 if not."""
        return cast(Caller, self._admit(plain_key, address, load=True))  # loading, it never misses

    def try_admit(self, plain_key: str | None, address: str | None) -> Caller | None:
        """Like admit, without touching the database: None when the key or today's count is not loaded."""
        return self._admit(plain_key, address, load=False)

    def _admit(self, plain_key: str | None, address: str | None, *, load: bool) -> Caller | None:
        key = None if plain_key is None else self._key(plain_key, load=load)
        if plain_key is not None and key is None:
            return None
        caller = key.caller if key else anonymous_caller(address)
        quota = key.daily_quota if key else self.anon_daily_quota
        rate = key.per_second if key else self.anon_per_second
        now = self._now()
        bucket = self._bucket(caller, usage_day(now), rate, load=load)
        if bucket is None:
            return None
        with self._lock:
            refused, wait = self._take(bucket, caller, quota, rate)
            requests, day = bucket.requests, bucket.day
        resets_at = next_reset(now)
        reset = max(1, math.ceil((resets_at - now).total_seconds()))
        if refused == "daily":
            raise _over_quota(quota, resets_at, reset, anonymous=key is None)
        if refused == "rate":
            raise _over_rate(rate, wait, anonymous=key is None)
        return Caller(caller, key, quota, rate, requests, day, resets_at, reset, None if key else address)

    def _key(self, plain: str, *, load: bool) -> ApiKey | None:
        if not key_shaped(plain):
            raise _unknown_key()
        digest = hash_key(plain)
        t = self._clock()
        hit = self._keys.get(digest)
        if hit is not None and hit[0] > t:
            key = hit[1]
        elif not load:
            return None
        else:
            key = self._find(plain)
            with self._lock:
                if len(self._keys) >= MAX_CACHED_KEYS:
                    self._keys = {d: e for d, e in self._keys.items() if e[0] > t}
                    if len(self._keys) >= MAX_CACHED_KEYS:
                        self._keys.clear()  # a flood of made-up keys: start over
                self._keys[digest] = (t + KEY_CACHE_SECONDS, key)
        if key is None:
            raise _unknown_key()
        return key

    def _find(self, plain: str) -> ApiKey | None:
        with self._connect() as db:
            return find_key(db, plain)

    def forget_keys(self) -> None:
        """Drop the cached key lookups, so a revoke in this process takes effect at once."""
        with self._lock:
            self._keys.clear()

    def _bucket(self, caller: str, day: dt.date, rate: int, *, load: bool) -> _Bucket | None:
        bucket = self._buckets.get(caller)
        if bucket is not None and bucket.day >= day:
            return bucket
        if not load:
            return None
        seeded = self._seed(caller, day)
        with self._lock:
            seeded += self._pending.get((caller, day), (0, 0))[0]
            bucket = self._buckets.get(caller)
            if bucket is None:
                bucket = self._buckets[caller] = _Bucket(day, seeded, float(rate), self._clock())
            elif bucket.day < day:
                bucket.day, bucket.requests = day, seeded
            return bucket

    def _seed(self, caller: str, day: dt.date) -> int:
        try:
            with self._connect() as db:
                return usage_on(db, caller, day).requests
        except SQLAlchemyError:
            # Serve the caller from zero rather than fail; the next flush brings the true total back.
            log.warning("could not read today's usage of %s; counting from 0", caller, exc_info=True)
            return 0

    def _take(self, bucket: _Bucket, caller: str, quota: int, rate: int) -> tuple[str | None, int]:
        counts = self._pending.setdefault((caller, bucket.day), [0, 0])
        if bucket.requests >= quota:
            counts[1] += 1
            return "daily", 0
        t = self._clock()
        tokens = min(float(rate), bucket.tokens + (t - bucket.stamp) * rate)
        bucket.stamp = t
        if tokens < 1:
            bucket.tokens = tokens
            counts[1] += 1
            return "rate", max(1, math.ceil((1 - tokens) / rate))
        bucket.tokens = tokens - 1
        bucket.requests += 1
        counts[0] += 1
        return None, 0

    def flush_due(self) -> bool:
        """True when counts are waiting and the last write was a second or more ago."""
        return bool(self._pending) and self._clock() - self._flushed_at >= FLUSH_SECONDS

    @property
    def background(self) -> bool:
        """True while a flusher thread writes the counters (requests then never wait for a write)."""
        return self._flusher is not None

    def start_flusher(self) -> None:
        """Write the counters every FLUSH_SECONDS on a thread of its own (each write takes its own
        pooled connection); a request that triggered the write itself would wait for it, and the
        threads it woke would compete with the event loop for the GIL."""
        self._flusher = threading.Thread(target=self._flush_loop, name="usage-flush", daemon=True)
        self._flusher.start()

    def stop_flusher(self) -> None:
        """Stop the flusher thread (the caller then flushes once more)."""
        if self._flusher is not None:
            self._stop.set()
            self._flusher.join(10)
            self._flusher = None

    def _flush_loop(self) -> None:
        while not self._stop.wait(FLUSH_SECONDS):
            self.flush()

    def flush_if_due(self) -> int:
        """Flush unless one ran within the second or runs now; returns the caller-days written."""
        if not self._flush_lock.acquire(blocking=False):
            return 0
        try:
            return self._flush() if self.flush_due() else 0
        finally:
            self._flush_lock.release()

    def flush(self) -> int:
        """Add the counts gathered since the last flush to `api_usage`; returns the caller-days written."""
        with self._flush_lock:
            return self._flush()

    def _flush(self) -> int:
        with self._lock:
            batch, self._pending = self._pending, {}
            self._flushed_at = self._clock()
        deltas = {k: Usage(*v) for k, v in batch.items() if v[0] or v[1]}
        if not deltas:
            return 0
        try:
            with self._connect() as db:
                totals = add_usage(db, deltas)
        except SQLAlchemyError:
            log.warning("could not write %d usage counters; keeping them for the next try",
                        len(deltas), exc_info=True)
            self._restore(batch)
            return 0
        with self._lock:
            self._absorb(totals)
            self._prune(usage_day(self._now()))
        return len(deltas)

    def _restore(self, batch: dict[tuple[str, dt.date], list[int]]) -> None:
        with self._lock:
            for k, (requests, refused) in batch.items():
                counts = self._pending.setdefault(k, [0, 0])
                counts[0] += requests
                counts[1] += refused

    def _absorb(self, totals: dict[tuple[str, dt.date], int]) -> None:
        # The stored total includes other processes' requests: take it where it is ahead of ours.
        for (caller, day), total in totals.items():
            bucket = self._buckets.get(caller)
            if bucket is not None and bucket.day == day:
                unwritten = self._pending.get((caller, day), (0, 0))[0]
                bucket.requests = max(bucket.requests, total + unwritten)

    def _prune(self, today: dt.date) -> None:
        t = self._clock()
        crowded = len(self._buckets) > MAX_BUCKETS
        # An old day's count is in api_usage now; a bucket idle for a second is full again anyway,
        # so either can be dropped and rebuilt from api_usage when the caller returns.
        self._buckets = {c: b for c, b in self._buckets.items()
                         if b.day >= today and not (crowded and t - b.stamp >= 1.0)}


_install_lock = threading.Lock()


def install(app: FastAPI, connect: Connect | None = None) -> Limiter:
    """Put a Limiter on APP with its settings; counters go through CONNECT (default: APP's engine)."""
    limiter = Limiter(app.state.settings, connect or (lambda: app.state.engine.begin()))
    if connect is None:
        limiter.start_flusher()
    app.state.limiter = limiter
    return limiter


def limiter_of(app: FastAPI) -> Limiter:
    """APP's limiter, installed on first use."""
    limiter = getattr(app.state, "limiter", None)
    if limiter is None:
        with _install_lock:
            limiter = getattr(app.state, "limiter", None) or install(app)
    return limiter


def shutdown(app: FastAPI) -> None:
    """Write APP's outstanding counters (call in the lifespan before the engine is disposed)."""
    limiter = getattr(app.state, "limiter", None)
    if limiter is not None:
        limiter.stop_flusher()
        limiter.flush()


async def lookup_caller(
    request: Request,
    response: Response,
    api_key: Annotated[str | None, Header(alias=KEY_HEADER, description=(
        "API key (`gazetteer apikeys add`); without it the caller is counted by address with "
        "smaller limits"))] = None,
) -> Caller:
    """Admit the caller or refuse it (401, 429); success adds X-RateLimit-Limit/-Remaining (daily)."""
    # Async, so that the usual request costs no thread hand-off; database work goes to a thread.
    limiter = limiter_of(request.app)
    address = request.client.host if request.client else None
    try:
        caller = limiter.try_admit(api_key, address) or await run_in_threadpool(limiter.admit, api_key, address)
    finally:
        if not limiter.background and limiter.flush_due():
            await run_in_threadpool(limiter.flush_if_due)
    response.headers["X-RateLimit-Limit"] = str(caller.daily_quota)
    response.headers["X-RateLimit-Remaining"] = str(caller.remaining)
    return caller


CallerDep = Annotated[Caller, Depends(lookup_caller)]


def _unknown_key() -> NotAuthenticated:
    return NotAuthenticated(f"the {KEY_HEADER} header holds an unknown or revoked API key; "
                            "leave the header out to call anonymously with smaller limits")


def _over_quota(quota: int, resets_at: dt.datetime, reset: int, *, anonymous: bool) -> TooManyRequests:
    hint = "; callers with an API key (X-API-Key) have their own quota" if anonymous else ""
    return TooManyRequests(
        f"daily quota of {quota} requests used up; it resets at midnight Asia/Shanghai "
        f"({resets_at.isoformat()}), in {reset} s{hint}",
        retry_after=reset,
        extra={"limit": quota, "remaining": 0, "reset": reset, "quota": "daily"},
    )


def _over_rate(rate: int, wait: int, *, anonymous: bool) -> TooManyRequests:
    hint = "; callers with an API key (X-API-Key) have their own rate" if anonymous else ""
    return TooManyRequests(
        f"rate limit of {rate} requests per second exceeded; retry in {wait} s{hint}",
        retry_after=wait,
        extra={"limit": rate, "remaining": 0, "reset": wait, "quota": "per_second"},
    )
