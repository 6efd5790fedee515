"""Attachments by SHA-256: whole and resumable uploads, limits, truncation, HEAD/GET (through the HTTP API)."""

from __future__ import annotations

import hashlib
import random

import pytest
from sqlalchemy import text

from api.deps import get_settings
from boundaries import attachments
from tests.builders import staff_headers

MiB = 1024 * 1024


def sha(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def blob(size: int, seed: int = 7) -> bytes:
    return random.Random(seed).randbytes(size)


def stored_count(session, digest: str) -> int:
    return session.execute(text("SELECT count(*) FROM attachments WHERE sha256 = :s"), {"s": digest}).scalar_one()


def upload_rows(session, digest: str) -> tuple[int, int]:
    uploads = session.execute(text("SELECT count(*) FROM attachment_uploads WHERE sha256 = :s"),
                              {"s": digest}).scalar_one()
    parts = session.execute(text("SELECT count(*) FROM attachment_parts WHERE sha256 = :s"),
                            {"s": digest}).scalar_one()
    return uploads, parts


@pytest.fixture
def surveyor(client, session):
    return staff_headers(client, session, "surveyor", "att-surveyor")


@pytest.fixture
def small_limit(client):
    """The app with a 4 KiB attachment limit."""
    client.app.dependency_overrides[get_settings] = lambda: client.app.state.settings.model_copy(
        update={"survey_max_attachment_bytes": 4096})
    yield 4096
    client.app.dependency_overrides.pop(get_settings)


def test_whole_upload_is_stored_once_and_served(client, session, surveyor):
    photo = b"\xff\xd8\xff\xe0" + blob(5000)
    url = f"/v1/attachments/{sha(photo)}"
    first = client.put(url, content=photo, headers=surveyor | {"Content-Type": "image/jpeg"})
    assert first.status_code == 201, first.text
    assert first.json() == {"sha256": sha(photo), "received": len(photo), "total": len(photo),
                            "media_type": "image/jpeg", "complete": True}
    before = session.execute(text("SELECT uploaded_at, uploaded_by, media_type FROM attachments WHERE sha256 = :s"),
                             {"s": sha(photo)}).one()

    other = staff_headers(client, session, "reviewer", "att-reviewer")
    again = client.put(url, content=photo, headers=other | {"Content-Type": "application/octet-stream"})
    assert again.status_code == 200 and again.json()["complete"] is True
    after = session.execute(text("SELECT uploaded_at, uploaded_by, media_type FROM attachments WHERE sha256 = :s"),
                            {"s": sha(photo)}).one()
    assert after == before and after.uploaded_by == "att-surveyor" and after.media_type == "image/jpeg"
    assert stored_count(session, sha(photo)) == 1

    got = client.get(url)
    assert got.status_code == 200 and got.content == photo
    assert got.headers["content-type"] == "image/jpeg" and got.headers["etag"] == f'"{sha(photo)}"'
    head = client.head(url)
    assert head.status_code == 200 and head.headers["content-length"] == str(len(photo))
    audits = session.execute(text("SELECT count(*) FROM audit_log WHERE entity_type = 'attachment' "
                                  "AND entity_id = :s"), {"s": sha(photo)}).scalar_one()
    assert audits == 1


@pytest.mark.parametrize("name", ["ABC", "A" * 64, "g" * 64, "0" * 63])
def test_malformed_hash_is_422(client, surveyor, name):
    response = client.put(f"/v1/attachments/{name}", content=b"x", headers=surveyor)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


def test_hash_mismatch_stores_nothing(client, session, surveyor):
    claimed = sha(b"the photo")
    response = client.put(f"/v1/attachments/{claimed}", content=b"another photo", headers=surveyor)
    assert response.status_code == 422 and "hash mismatch" in response.json()["detail"]
    assert stored_count(session, claimed) == 0


def test_truncated_body_is_refused(client, session, surveyor):
    photo = blob(3000)
    response = client.put(f"/v1/attachments/{sha(photo)}", content=photo[:1000],
                          headers=surveyor | {"Content-Length": str(len(photo))})
    assert response.status_code == 422 and "truncated" in response.text
    assert stored_count(session, sha(photo)) == 0


def test_oversize_is_413_naming_the_limit_and_stores_nothing(client, session, surveyor, small_limit):
    big = blob(small_limit + 1)
    response = client.put(f"/v1/attachments/{sha(big)}", content=big, headers=surveyor)
    assert response.status_code == 413
    assert response.json()["limit_bytes"] == small_limit and str(small_limit) in response.json()["detail"]
    assert stored_count(session, sha(big)) == 0

    def stream():   # no Content-Length: refused while reading
        for _ in range(8):
            yield blob(1024)

    streamed = client.put(f"/v1/attachments/{sha(big)}", content=stream(), headers=surveyor)
    assert streamed.status_code == 413 and stored_count(session, sha(big)) == 0

    announced = client.put(f"/v1/attachments/{sha(big)}", content=big[:100],
                           headers=surveyor | {"Content-Range": f"bytes 0-99/{small_limit + 1}"})
    assert announced.status_code == 413 and upload_rows(session, sha(big)) == (0, 0)

    fits = blob(small_limit)
    assert client.put(f"/v1/attachments/{sha(fits)}", content=fits, headers=surveyor).status_code == 201


def test_the_limit_is_announced(client, settings):
    limits = client.get("/v1/surveys/limits").json()
    assert limits["max_attachment_bytes"] == settings.survey_max_attachment_bytes
    assert limits["resumable_threshold_bytes"] == attachments.RESUMABLE_THRESHOLD == 8 * MiB
    description = client.get("/api").json()["paths"]["/v1/attachments/{sha256}"]["put"]["description"]
    assert "413" in description and "GAZETTEER_SURVEY_MAX_ATTACHMENT_BYTES" in description


def test_resumable_upload_with_a_lost_answer(client, session, surveyor):
    content = blob(9 * MiB, seed=11)
    digest, total, part = sha(content), 9 * MiB, 3 * MiB
    url = f"/v1/attachments/{digest}"

    def send(start: int):
        end = start + part - 1
        return client.put(url, content=content[start:end + 1],
                          headers=surveyor | {"Content-Range": f"bytes {start}-{end}/{total}",
                                              "Content-Type": "image/tiff"})

    first = send(0)
    assert first.status_code == 202, first.text
    assert first.json() | {} == {"sha256": digest, "received": part, "total": total, "media_type": "image/tiff",
                                 "complete": False}
    assert first.headers["upload-offset"] == str(part)
    assert send(part).status_code == 202          # the answer to this one is "lost" on the way back
    resent = send(part)
    assert resent.status_code == 416
    assert resent.headers["upload-offset"] == str(2 * part) and resent.json()["received"] == 2 * part
    head = client.head(url)
    assert head.status_code == 404 and head.headers["upload-offset"] == str(2 * part)
    assert upload_rows(session, digest) == (1, 2)

    last = send(2 * part)
    assert last.status_code == 201, last.text
    assert last.json()["complete"] is True and last.json()["received"] == total
    assert upload_rows(session, digest) == (0, 0)
    got = client.get(url)
    assert got.content == content and got.headers["content-type"] == "image/tiff"
    assert send(2 * part).status_code == 200      # the last part again: stored already


def test_a_missing_part_is_refused_with_the_offset(client, session, surveyor):
    content = blob(3000)
    digest = sha(content)
    url = f"/v1/attachments/{digest}"
    ok = client.put(url, content=content[:1000], headers=surveyor | {"Content-Range": "bytes 0-999/3000"})
    assert ok.status_code == 202
    skipped = client.put(url, content=content[2000:], headers=surveyor | {"Content-Range": "bytes 2000-2999/3000"})
    assert skipped.status_code == 416 and skipped.json()["received"] == 1000
    assert stored_count(session, digest) == 0
    short = client.put(url, content=content[1000:1500], headers=surveyor | {"Content-Range": "bytes 1000-1999/3000"})
    assert short.status_code == 422 and upload_rows(session, digest) == (1, 1)
    late_start = client.put(f"/v1/attachments/{sha(b'z' * 10)}", content=b"z" * 5,
                            headers=surveyor | {"Content-Range": "bytes 5-9/10"})
    assert late_start.status_code == 416 and late_start.json()["received"] == 0


def test_joined_parts_with_another_hash_are_discarded(client, session, surveyor):
    content = blob(2000)
    digest = sha(b"something else")
    url = f"/v1/attachments/{digest}"
    assert client.put(url, content=content[:1000],
                      headers=surveyor | {"Content-Range": "bytes 0-999/2000"}).status_code == 202
    last = client.put(url, content=content[1000:], headers=surveyor | {"Content-Range": "bytes 1000-1999/2000"})
    assert last.status_code == 422 and "discarded" in last.json()["detail"]
    assert upload_rows(session, digest) == (0, 0) and stored_count(session, digest) == 0


def test_malformed_content_range_is_422(client, surveyor):
    url = f"/v1/attachments/{sha(b'abc')}"
    for value in ("bytes 0-2", "bytes 2-1/3", "bytes 0-3/3", "items 0-2/3"):
        assert client.put(url, content=b"abc", headers=surveyor | {"Content-Range": value}).status_code == 422


def test_expired_uploads_are_purged_on_the_next_put_and_by_the_function(client, session, surveyor):
    stale = [sha(f"stale {i}".encode()) for i in range(2)]
    for digest in stale:
        session.execute(text("INSERT INTO attachment_uploads (sha256, total_size, media_type, started_by, "
                             "started_at, expires_at) VALUES (:s, 10, 'image/jpeg', 'x', now() - interval '2 days', "
                             "now() - interval '1 day')"), {"s": digest})
        session.execute(text("INSERT INTO attachment_parts (sha256, start_byte, content) VALUES (:s, 0, 'abc')"),
                        {"s": digest})
    photo = b"fresh"
    assert client.put(f"/v1/attachments/{sha(photo)}", content=photo, headers=surveyor).status_code == 201
    assert all(upload_rows(session, d) == (0, 0) for d in stale)

    session.execute(text("INSERT INTO attachment_uploads (sha256, total_size, media_type, started_by, expires_at) "
                         "VALUES (:s, 10, 'image/jpeg', 'x', now() - interval '1 hour')"), {"s": stale[0]})
    assert attachments.purge_expired_uploads(session) == 1
    assert attachments.purge_expired_uploads(session) == 0


def test_who_may_upload(client, session):
    photo = b"photo"
    url = f"/v1/attachments/{sha(photo)}"
    assert client.put(url, content=photo).status_code == 401
    applicant = staff_headers(client, session, "applicant", "att-applicant")
    assert client.put(url, content=photo, headers=applicant).status_code == 403
    assert stored_count(session, sha(photo)) == 0
    assert client.get(url).status_code == 404 and client.head(url).status_code == 404


def test_whole_put_above_the_resumable_threshold_is_accepted(client, session, surveyor):
    content = blob(attachments.RESUMABLE_THRESHOLD + 1, seed=3)
    response = client.put(f"/v1/attachments/{sha(content)}", content=content, headers=surveyor)
    assert response.status_code == 201 and stored_count(session, sha(content)) == 1
