"""Schemathesis fuzzes the public place-name, address, boundary and field-upload endpoints: whatever it
sends, no 5xx, and every error is problem+json. Writes need a token, so unauthenticated fuzzing of them
only ever gets 401/422; the lookup limits are lifted so the fuzzer reaches the handlers instead of a 429.

Runs are derandomized so CI is repeatable; FUZZ_RANDOM=1 FUZZ_EXAMPLES=500 explores further."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from sqlalchemy import Connection

from api import quota
from api.app import create_app
from data.db import make_engine
from data.settings import get_settings

PATHS = (r"^/v1/(placenames|romanize|announcements|signs|protected-names|applications|divisions|auth"
         r"|addresses|jobs|usage|boundaries|markers|inspections|repair-tasks|surveys|attachments)|^/(collections|conformance)")
SETTINGS = get_settings().model_copy(update={"anon_daily_quota": 10**9, "anon_per_second": 10**6})
ENGINE = make_engine(SETTINGS, pool_size=2, max_overflow=2)
app = create_app(SETTINGS, ENGINE)


@contextmanager
def _discarded() -> Iterator[Connection]:
    """Usage counters go to a transaction that is rolled back: fuzzing leaves no usage behind."""
    with ENGINE.connect() as conn:
        yield conn


quota.install(app, connect=_discarded)
schema = schemathesis.openapi.from_asgi("/api", app).include(path_regex=PATHS)


@pytest.mark.filterwarnings("ignore")
@schema.parametrize()
@settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "40")), deadline=None,
          derandomize=not os.environ.get("FUZZ_RANDOM"), suppress_health_check=list(HealthCheck))
def test_no_server_errors(case):
    response = case.call()
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.text[:300]}"
    if response.status_code >= 400 and case.method != "HEAD":    # a HEAD answer has no body to describe
        media_type = response.headers["content-type"]
        media_type = media_type[0] if isinstance(media_type, list) else media_type
        assert media_type.startswith("application/problem+json"), response.text[:200]
