"""API keys (domain), the lookup limiter and its dependency, `gazetteer apikeys`, GET /v1/usage.

Everything runs in the test's rolled-back transaction: the limiter and the CLI are handed the
test connection (inside a savepoint) instead of their own engine.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import re
import threading
from contextlib import contextmanager
from types import SimpleNamespace

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text
from typer.testing import CliRunner

from api import cli_apikeys, errors, quota
from api.cli import app as cli_app
from api.routers import apikeys as usage_router
from data import apikeys
from data.errors import Conflict, InvalidInput, NotAuthenticated, NotFound, TooManyRequests

SHANGHAI = apikeys.SHANGHAI
NOON = dt.datetime(2025, 3, 10, 12, 0, tzinfo=SHANGHAI)
KEY_RE = re.compile(r"^gz_[A-Za-z0-9_-]{40}$")


class Clock:
    """A monotonic clock and a wall clock that only move when told."""

    def __init__(self, wall: dt.datetime = NOON) -> None:
        self.t = 1000.0
        self.wall = wall

    def monotonic(self) -> float:
        return self.t

    def now(self) -> dt.datetime:
        return self.wall

    def advance(self, seconds: float) -> None:
        self.t += seconds
        self.wall += dt.timedelta(seconds=seconds)


@contextmanager
def within(connection):
    with connection.begin_nested():
        yield connection


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_limiter(settings, connection, clock: Clock, **limits) -> quota.Limiter:
    return quota.Limiter(settings.model_copy(update=limits), lambda: within(connection),
                         clock=clock.monotonic, now=clock.now)


def make_app(settings, connection, clock: Clock, **limits) -> tuple[TestClient, quota.Limiter]:
    app = FastAPI()
    errors.install(app)
    app.state.settings = settings.model_copy(update=limits)
    app.state.limiter = make_limiter(settings, connection, clock, **limits)

    @app.get("/lookup")
    def lookup(caller: quota.CallerDep) -> dict:
        return {"caller": caller.id, "requests_today": caller.requests_today}

    app.include_router(usage_router.router)
    return TestClient(app), app.state.limiter


def new_key(connection, *, name: str = "测试调用方", daily_quota: int = 1000, per_second: int = 10):
    return apikeys.create_key(connection, name=name, daily_quota=daily_quota, per_second=per_second,
                              actor="tester")


def usage_row(connection, caller: str, day: dt.date | None = None):
    return connection.execute(text(
        "SELECT requests, refused FROM api_usage WHERE caller = :c AND day = :d"
    ), {"c": caller, "d": day or NOON.date()}).one_or_none()


def seconds_to_midnight(now: dt.datetime) -> int:
    midnight = dt.datetime.combine(now.astimezone(SHANGHAI).date() + dt.timedelta(days=1), dt.time(0),
                                   tzinfo=SHANGHAI)
    return math.ceil((midnight - now).total_seconds())


# ---- domain ---------------------------------------------------------------------------------


def test_create_key_stores_only_the_hash_and_audits(connection):
    key, plain = new_key(connection, daily_quota=500, per_second=7)
    assert KEY_RE.match(plain)
    assert key.prefix == plain[:10] and key.active and key.caller == f"key:{key.id}"
    row = connection.execute(text("SELECT * FROM api_keys WHERE id = :id"), {"id": key.id}).mappings().one()
    assert row["key_hash"] == hashlib.sha256(plain.encode()).hexdigest()
    assert plain not in {str(v) for v in row.values()}
    assert (row["daily_quota"], row["per_second"], row["created_by"]) == (500, 7, "tester")
    entry = connection.execute(text(
        "SELECT actor, action, after FROM audit_log WHERE entity_type = 'api_key' AND entity_id = :id"
    ), {"id": str(key.id)}).one()
    assert (entry.actor, entry.action) == ("tester", "create")
    assert entry.after["prefix"] == key.prefix and entry.after["daily_quota"] == 500
    assert plain not in str(entry.after) and row["key_hash"] not in str(entry.after)


def test_two_keys_differ(connection):
    _, first = new_key(connection)
    _, second = new_key(connection)
    assert first != second and first[:10] != second[:10]


@pytest.mark.parametrize(("name", "daily_quota", "per_second", "field"), [
    ("  ", 10, 1, "name"), ("x" * 201, 10, 1, "name"),
    ("ok", 0, 1, "daily_quota"), ("ok", 10, 0, "per_second"), ("ok", 2**31, 1, "daily_quota"),
])
def test_create_key_rejects_bad_input_without_writing(connection, name, daily_quota, per_second, field):
    before = connection.execute(text("SELECT count(*) FROM api_keys")).scalar_one()
    with pytest.raises(InvalidInput) as caught:
        apikeys.create_key(connection, name=name, daily_quota=daily_quota, per_second=per_second,
                           actor="tester")
    assert [e["field"] for e in caught.value.errors] == [field]
    assert connection.execute(text("SELECT count(*) FROM api_keys")).scalar_one() == before


def test_find_key_only_active_and_exact(connection):
    key, plain = new_key(connection)
    assert apikeys.find_key(connection, plain) == key
    assert apikeys.find_key(connection, plain[:-1] + ("A" if plain[-1] != "A" else "B")) is None
    assert apikeys.find_key(connection, plain[:10]) is None
    assert apikeys.find_key(connection, "") is None
    apikeys.revoke_key(connection, key.prefix, "tester")
    assert apikeys.find_key(connection, plain) is None


@pytest.mark.parametrize("how", ["id", "prefix", "key"])
def test_revoke_by_id_prefix_or_key_and_audit(connection, how):
    key, plain = new_key(connection)
    identifier = {"id": str(key.id), "prefix": key.prefix, "key": plain}[how]
    revoked = apikeys.revoke_key(connection, identifier, "admin1")
    assert revoked.id == key.id and not revoked.active
    entry = connection.execute(text(
        "SELECT actor, before, after FROM audit_log WHERE entity_type = 'api_key' AND entity_id = :id "
        "AND action = 'revoke'"
    ), {"id": str(key.id)}).one()
    assert entry.actor == "admin1" and entry.before == {"revoked_at": None}
    assert entry.after["revoked_at"] is not None
    with pytest.raises(Conflict):
        apikeys.revoke_key(connection, key.prefix, "admin1")


def test_revoke_unknown_key(connection):
    with pytest.raises(NotFound):
        apikeys.revoke_key(connection, "gz_nothere", "tester")
    with pytest.raises(NotFound):
        apikeys.revoke_key(connection, "999999999999", "tester")


def test_list_keys_counts_today_only(connection):
    key, _ = new_key(connection, name="列表")
    other, _ = new_key(connection, name="无请求")
    today = apikeys.usage_day()
    apikeys.add_usage(connection, {(key.caller, today): apikeys.Usage(42, 3),
                                   (key.caller, today - dt.timedelta(days=1)): apikeys.Usage(1000, 0)})
    listed = {k.id: k for k in apikeys.list_keys(connection)}
    assert listed[key.id].requests_today == 42 and listed[key.id].name == "列表"
    assert listed[other.id].requests_today == 0
    assert list(listed) == sorted(listed)


def test_add_usage_adds_and_returns_totals(connection):
    day = NOON.date()
    first = apikeys.add_usage(connection, {("anon:192.0.2.1", day): apikeys.Usage(5, 1)})
    second = apikeys.add_usage(connection, {("anon:192.0.2.1", day): apikeys.Usage(2, 4),
                                            ("anon:192.0.2.2", day): apikeys.Usage(1, 0)})
    assert first == {("anon:192.0.2.1", day): 5}
    assert second == {("anon:192.0.2.1", day): 7, ("anon:192.0.2.2", day): 1}
    assert apikeys.usage_on(connection, "anon:192.0.2.1", day) == apikeys.Usage(7, 5)
    assert apikeys.usage_on(connection, "anon:192.0.2.9", day) == apikeys.Usage(0, 0)
    assert apikeys.add_usage(connection, {}) == {}


def test_day_is_the_calendar_day_in_shanghai():
    late_utc = dt.datetime(2024, 12, 31, 16, 30, tzinfo=dt.UTC)  # 00:30 on 1 January in Shanghai
    assert apikeys.usage_day(late_utc) == dt.date(2025, 1, 1)
    assert apikeys.usage_day(late_utc - dt.timedelta(hours=1)) == dt.date(2024, 12, 31)
    assert apikeys.next_reset(late_utc) == dt.datetime(2025, 1, 2, tzinfo=SHANGHAI)
    assert apikeys.next_reset(late_utc).utcoffset() == dt.timedelta(hours=8)


# ---- the dependency on a tiny app -------------------------------------------------------------


def test_anonymous_quota_exhausted_gives_429_with_retry_after(settings, connection, clock):
    client, _ = make_app(settings, connection, clock, anon_daily_quota=3, anon_per_second=100)
    for remaining in (2, 1, 0):
        ok = client.get("/lookup")
        assert ok.status_code == 200, ok.text
        assert ok.headers["X-RateLimit-Limit"] == "3"
        assert ok.headers["X-RateLimit-Remaining"] == str(remaining)
    refused = client.get("/lookup")
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    wait = seconds_to_midnight(NOON)
    assert refused.headers["Retry-After"] == str(wait) == str(12 * 3600)
    body = refused.json()
    assert body["title"] == "Too many requests" and body["status"] == 429
    assert body["type"].endswith("too-many-requests")
    assert (body["limit"], body["remaining"], body["reset"], body["quota"]) == (3, 0, wait, "daily")
    assert "daily quota of 3" in body["detail"] and "2025-03-11T00:00:00+08:00" in body["detail"]


def test_quota_starts_again_after_midnight_in_shanghai(settings, connection, clock):
    client, limiter = make_app(settings, connection, clock, anon_daily_quota=1, anon_per_second=100)
    assert client.get("/lookup").status_code == 200
    assert client.get("/lookup").status_code == 429
    clock.advance(12 * 3600)  # 00:00 next day in Shanghai (16:00 UTC)
    again = client.get("/lookup")
    assert again.status_code == 200 and again.headers["X-RateLimit-Remaining"] == "0"
    limiter.flush()
    assert tuple(usage_row(connection, "anon:testclient")) == (1, 1)
    assert tuple(usage_row(connection, "anon:testclient", NOON.date() + dt.timedelta(days=1))) == (1, 0)


def test_key_rate_limit_gives_429_then_refills(settings, connection, clock):
    key, plain = new_key(connection, daily_quota=1000, per_second=2)
    client, _ = make_app(settings, connection, clock)
    headers = {"X-API-Key": plain}
    assert [client.get("/lookup", headers=headers).status_code for _ in range(2)] == [200, 200]
    refused = client.get("/lookup", headers=headers)
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"
    body = refused.json()
    assert (body["limit"], body["remaining"], body["quota"], body["status"]) == (2, 0, "per_second", 429)
    assert "2 requests per second" in body["detail"]
    clock.advance(0.5)  # one token back at 2 per second
    assert client.get("/lookup", headers=headers).status_code == 200
    assert client.get("/lookup", headers=headers).status_code == 429
    clock.advance(10)  # the bucket holds at most per_second tokens
    assert [client.get("/lookup", headers=headers).status_code for _ in range(3)] == [200, 200, 429]
    assert client.get("/lookup", headers=headers).headers["content-type"] == "application/problem+json"


def test_keys_and_anonymous_callers_are_counted_apart(settings, connection, clock):
    key, plain = new_key(connection, daily_quota=5, per_second=100)
    client, _ = make_app(settings, connection, clock, anon_daily_quota=1, anon_per_second=100)
    assert client.get("/lookup").json()["caller"] == "anon:testclient"
    assert client.get("/lookup").status_code == 429
    with_key = client.get("/lookup", headers={"X-API-Key": plain})
    assert with_key.status_code == 200 and with_key.json()["caller"] == f"key:{key.id}"
    assert with_key.headers["X-RateLimit-Limit"] == "5" and with_key.headers["X-RateLimit-Remaining"] == "4"


@pytest.mark.parametrize("value", ["gz_" + "x" * 40, "gz_short", "not a key", ""])
def test_unknown_key_gives_401(settings, connection, clock, value):
    client, _ = make_app(settings, connection, clock)
    refused = client.get("/lookup", headers={"X-API-Key": value})
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"
    body = refused.json()
    assert {"type", "title", "status", "detail"} <= set(body) and body["status"] == 401
    assert "X-API-Key" in body["detail"]


def test_revoked_key_gives_401(settings, connection, clock):
    key, plain = new_key(connection)
    apikeys.revoke_key(connection, key.prefix, "tester")
    client, _ = make_app(settings, connection, clock)
    assert client.get("/lookup", headers={"X-API-Key": plain}).status_code == 401


def test_revoke_takes_effect_when_the_cached_lookup_expires(settings, connection, clock):
    key, plain = new_key(connection)
    client, limiter = make_app(settings, connection, clock)
    headers = {"X-API-Key": plain}
    assert client.get("/lookup", headers=headers).status_code == 200
    apikeys.revoke_key(connection, key.prefix, "tester")  # as the CLI would, from another process
    assert client.get("/lookup", headers=headers).status_code == 200  # still cached
    clock.advance(quota.KEY_CACHE_SECONDS + 0.1)
    assert client.get("/lookup", headers=headers).status_code == 401


def test_forget_keys_makes_a_revoke_immediate(settings, connection, clock):
    key, plain = new_key(connection)
    client, limiter = make_app(settings, connection, clock)
    assert client.get("/lookup", headers={"X-API-Key": plain}).status_code == 200
    apikeys.revoke_key(connection, key.id, "tester")
    limiter.forget_keys()
    assert client.get("/lookup", headers={"X-API-Key": plain}).status_code == 401


def test_unknown_key_is_not_looked_up_again_within_the_cache_time(settings, connection, clock):
    client, limiter = make_app(settings, connection, clock)
    _, plain = new_key(connection)
    apikeys.revoke_key(connection, plain, "tester")
    assert client.get("/lookup", headers={"X-API-Key": plain}).status_code == 401
    calls = []
    real_find = limiter._find
    limiter._find = lambda p: calls.append(p) or real_find(p)
    assert client.get("/lookup", headers={"X-API-Key": plain}).status_code == 401
    assert calls == []


# ---- counters ------------------------------------------------------------------------------------


def test_flush_writes_counters_and_adds_deltas(settings, connection, clock):
    key, plain = new_key(connection, daily_quota=2, per_second=100)
    client, limiter = make_app(settings, connection, clock)
    statuses = [client.get("/lookup", headers={"X-API-Key": plain}).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert usage_row(connection, key.caller) is None  # nothing written within the second
    assert limiter.flush() == 1
    assert tuple(usage_row(connection, key.caller)) == (2, 1)
    assert client.get("/lookup", headers={"X-API-Key": plain}).status_code == 429
    assert limiter.flush() == 1
    assert tuple(usage_row(connection, key.caller)) == (2, 2)
    assert limiter.flush() == 0  # nothing new
    assert {k.id: k.requests_today for k in apikeys.list_keys(connection, day=NOON.date())}[key.id] == 2


def test_requests_flush_at_most_once_a_second(settings, connection, clock):
    client, _ = make_app(settings, connection, clock, anon_per_second=100)
    for _ in range(5):
        client.get("/lookup")
    assert usage_row(connection, "anon:testclient") is None
    clock.advance(quota.FLUSH_SECONDS)
    client.get("/lookup")  # the first request after the second writes everything so far
    assert tuple(usage_row(connection, "anon:testclient")) == (6, 0)
    client.get("/lookup")
    assert tuple(usage_row(connection, "anon:testclient")) == (6, 0)


def test_a_refused_request_also_flushes(settings, connection, clock):
    client, _ = make_app(settings, connection, clock, anon_daily_quota=1, anon_per_second=100)
    assert [client.get("/lookup").status_code for _ in range(3)] == [200, 429, 429]
    clock.advance(quota.FLUSH_SECONDS)
    assert client.get("/lookup").status_code == 429
    assert tuple(usage_row(connection, "anon:testclient")) == (1, 3)


def test_try_admit_never_touches_the_database(settings, connection, clock):
    key, plain = new_key(connection, per_second=100)
    limiter = make_limiter(settings, connection, clock, anon_per_second=100)
    connect, limiter._connect = limiter._connect, None  # any database access would raise TypeError
    assert limiter.try_admit(None, "192.0.2.5") is None
    assert limiter.try_admit(plain, "192.0.2.5") is None
    limiter._connect = connect
    limiter.admit(None, "192.0.2.5")
    limiter.admit(plain, "192.0.2.5")
    limiter._connect = None
    assert limiter.try_admit(None, "192.0.2.5").requests_today == 2
    assert limiter.try_admit(plain, "192.0.2.5").requests_today == 2
    assert limiter.flush_due() is False
    clock.advance(quota.FLUSH_SECONDS)
    assert limiter.flush_due() is True


def test_count_is_seeded_from_api_usage(settings, connection, clock):
    apikeys.add_usage(connection, {("anon:testclient", NOON.date()): apikeys.Usage(9, 0)})
    client, _ = make_app(settings, connection, clock, anon_daily_quota=10, anon_per_second=100)
    first = client.get("/lookup")
    assert first.status_code == 200 and first.headers["X-RateLimit-Remaining"] == "0"
    assert client.get("/lookup").status_code == 429


def test_flush_brings_back_other_processes_counts(settings, connection, clock):
    client, limiter = make_app(settings, connection, clock, anon_daily_quota=100, anon_per_second=100)
    assert client.get("/lookup").headers["X-RateLimit-Remaining"] == "99"
    apikeys.add_usage(connection, {("anon:testclient", NOON.date()): apikeys.Usage(50, 0)})  # another worker
    limiter.flush()
    assert client.get("/lookup").headers["X-RateLimit-Remaining"] == "48"


def test_counts_survive_a_failed_flush(settings, connection, clock):
    client, limiter = make_app(settings, connection, clock, anon_per_second=100)
    client.get("/lookup")
    client.get("/lookup")
    real_connect = limiter._connect

    @contextmanager
    def broken():
        with within(connection) as conn:
            conn.execute(text("SELECT * FROM no_such_table_here"))
            yield conn

    limiter._connect = broken
    assert limiter.flush() == 0
    limiter._connect = real_connect
    assert limiter.flush() == 1
    assert tuple(usage_row(connection, "anon:testclient")) == (2, 0)


def test_concurrent_callers_never_get_more_than_the_quota(settings, connection, clock):
    limiter = make_limiter(settings, connection, clock, anon_daily_quota=1000, anon_per_second=10_000)
    limiter.admit(None, "198.51.100.7")  # seeds the count before the threads start
    admitted, refused = [], []

    def hammer():
        for _ in range(300):
            try:
                admitted.append(limiter.admit(None, "198.51.100.7").requests_today)
            except TooManyRequests:
                refused.append(1)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(admitted) == 999 and len(refused) == 8 * 300 - 999
    assert sorted(admitted) == list(range(2, 1001))
    limiter.flush()
    assert tuple(usage_row(connection, "anon:198.51.100.7")) == (1000, 8 * 300 - 999)


def test_limiter_refuses_unknown_key_without_a_query(settings, connection, clock):
    limiter = make_limiter(settings, connection, clock)
    limiter._connect = None  # any database access would fail with TypeError
    with pytest.raises(NotAuthenticated):
        limiter.admit("short", "192.0.2.1")


def test_limiter_is_installed_on_first_use_with_the_apps_settings_and_engine(settings, connection):
    app = FastAPI()
    errors.install(app)
    app.state.settings = settings.model_copy(update={"anon_daily_quota": 1})
    app.state.engine = SimpleNamespace(begin=lambda: within(connection))  # as engine.begin(), rolled back

    @app.get("/lookup")
    def lookup(caller: quota.CallerDep) -> dict:
        return {"caller": caller.id}

    client = TestClient(app)
    assert [client.get("/lookup").status_code for _ in range(2)] == [200, 429]
    limiter = app.state.limiter
    assert quota.limiter_of(app) is limiter and limiter.anon_daily_quota == 1
    quota.shutdown(app)  # what the lifespan calls before the engine is disposed
    assert tuple(usage_row(connection, "anon:testclient", apikeys.usage_day())) == (1, 1)


def test_settings_defaults():
    from data.settings import Settings

    defaults = Settings(_env_file=None)
    assert (defaults.anon_daily_quota, defaults.anon_per_second) == (1000, 5)
    assert (defaults.key_daily_quota, defaults.key_per_second) == (100_000, 50)


# ---- GET /v1/usage -------------------------------------------------------------------------------


def test_usage_shows_the_key_callers_own_limits(settings, connection, clock):
    key, plain = new_key(connection, name="自查", daily_quota=20, per_second=3)
    client, _ = make_app(settings, connection, clock)
    client.get("/lookup", headers={"X-API-Key": plain})
    response = client.get("/v1/usage", headers={"X-API-Key": plain})
    assert response.status_code == 200
    body = response.json()
    assert body["caller"] == "key" and body["key_prefix"] == key.prefix and body["key_name"] == "自查"
    assert (body["daily_quota"], body["per_second"]) == (20, 3)
    assert (body["requests_today"], body["remaining_today"]) == (2, 18)
    assert body["day"] == "2025-03-10" and body["address"] is None
    assert dt.datetime.fromisoformat(body["resets_at"]) == dt.datetime(2025, 3, 11, tzinfo=SHANGHAI)
    assert body["reset_seconds"] == seconds_to_midnight(NOON)
    assert response.headers["X-RateLimit-Remaining"] == "18"


def test_usage_anonymous(settings, connection, clock):
    client, _ = make_app(settings, connection, clock, anon_daily_quota=7, anon_per_second=4)
    body = client.get("/v1/usage").json()
    assert body["caller"] == "anonymous" and body["address"] == "testclient"
    assert (body["daily_quota"], body["per_second"], body["requests_today"]) == (7, 4, 1)
    assert body["key_prefix"] is None


def test_usage_refuses_a_revoked_key(settings, connection, clock):
    key, plain = new_key(connection)
    apikeys.revoke_key(connection, key.prefix, "tester")
    client, _ = make_app(settings, connection, clock)
    assert client.get("/v1/usage", headers={"X-API-Key": plain}).status_code == 401


# ---- gazetteer apikeys ------------------------------------------------------------------------


@pytest.fixture
def cli(connection, monkeypatch):
    monkeypatch.setattr(cli_apikeys, "unit", lambda: within(connection))
    runner = CliRunner()
    return lambda *args: runner.invoke(cli_app, ["apikeys", *args])


def test_cli_add_list_revoke(cli, connection):
    added = cli("add", "命令行测试", "--daily-quota", "1234", "--per-second", "9", "--as", "ops")
    assert added.exit_code == 0, added.output
    plain = added.stdout.strip().splitlines()[-1]
    assert KEY_RE.match(plain)
    assert plain not in added.stderr and "1,234" in added.stderr
    key = apikeys.find_key(connection, plain)
    assert (key.name, key.daily_quota, key.per_second, key.created_by) == ("命令行测试", 1234, 9, "ops")

    listed = cli("list")
    assert listed.exit_code == 0, listed.output
    assert key.prefix in listed.stdout and plain not in listed.stdout

    revoked = cli("revoke", key.prefix)
    assert revoked.exit_code == 0, revoked.output
    assert apikeys.find_key(connection, plain) is None
    again = cli("revoke", key.prefix)
    assert again.exit_code == 1
    assert again.stderr.strip().count("\n") == 0 and "revoked already" in again.stderr


def test_cli_add_uses_the_settings_defaults(cli, connection, settings):
    added = cli("add", "默认限额")
    assert added.exit_code == 0, added.output
    key = apikeys.find_key(connection, added.stdout.strip().splitlines()[-1])
    assert (key.daily_quota, key.per_second) == (settings.key_daily_quota, settings.key_per_second)


def test_cli_errors_are_one_line(cli, connection):
    before = connection.execute(text("SELECT count(*) FROM api_keys")).scalar_one()
    bad = cli("add", "零", "--daily-quota", "0")
    assert bad.exit_code == 1 and bad.stdout == ""
    assert bad.stderr.strip().startswith("error:") and "daily_quota" in bad.stderr
    assert connection.execute(text("SELECT count(*) FROM api_keys")).scalar_one() == before
    missing = cli("revoke", "gz_missing")
    assert missing.exit_code == 1 and "no API key" in missing.stderr
