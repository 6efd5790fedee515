"""Field-upload reliability: 50 concurrent surveyors upload batches with photos while the server is
killed with SIGKILL twice and restarted; every client retries until it is done.

Afterwards every record and photo must be stored exactly once, every photo's bytes must hash to its
name, no partial upload may be left behind, and replaying every batch must return a receipt equal to
the first one its client was given. Run with `make bench` or
`.venv/bin/python bench/survey_reliability.py [--clients 50] [--batches 4] [--records 5]`; it uses the
configured database (the `make run` cluster), a surveyor account and line assignments created for the
run, and deletes the rows it wrote when it is done (`--keep` leaves them). Every run stops by itself.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table
from server import Server
from sqlalchemy import text
from sqlalchemy.orm import Session

from data.accounts import add_user
from data.db import make_engine
from data.settings import get_settings

RESULTS = Path(__file__).resolve().parent / "results"
CHUNK = 2 * 1024 * 1024
BIG_PHOTO = 9 * 1024 * 1024      # above the 8 MiB resumable threshold: sent in parts
DEADLINE_S = 900                 # the whole run gives up after this (it never hangs)
console = Console()


@dataclass
class Tally:
    """What the clients saw, summed over threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    retries: int = 0
    connection_errors: int = 0
    server_errors: int = 0
    resumed_parts: int = 0
    batches_done: int = 0
    first_receipts: dict[str, str] = field(default_factory=dict)

    def add(self, **counts: int) -> None:
        with self.lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)


@dataclass(frozen=True)
class Photo:
    """A photo's bytes and name."""

    data: bytes
    sha256: str
    filename: str


def make_photo(rng: random.Random, size: int, name: str) -> Photo:
    """Random bytes behind a JPEG header: unique content, so every photo has its own hash."""
    data = b"\xff\xd8\xff\xe0" + rng.randbytes(size - 4)
    return Photo(data, hashlib.sha256(data).hexdigest(), name)


def setup(engine, run: str) -> tuple[str, str, list]:
    """A surveyor assigned to every line with markers; returns (username, password, markers)."""
    username, password = f"bench-{run}", secrets.token_urlsafe(12)
    with Session(engine) as session, session.begin():
        add_user(session, username, password, "surveyor", actor="bench")
        lines = session.execute(text("SELECT DISTINCT line_id FROM markers")).scalars().all()
        if not lines:
            raise SystemExit("no markers: run `gazetteer setup` first (it loads the demo markers)")
        session.execute(text("INSERT INTO line_assignments (line_id, username, assigned_by) "
                             "SELECT unnest(CAST(:lines AS text[])), :u, 'bench'"), {"lines": lines, "u": username})
        markers = session.execute(text(
            "SELECT number, version, ST_X(geom) AS lon, ST_Y(geom) AS lat FROM markers ORDER BY number"
        )).all()
    return username, password, markers


def token(url: str, username: str, password: str) -> str:
    """A bearer token (the server may be down: retried)."""
    while True:
        try:
            answer = httpx.post(url + "/v1/auth/token", data={"username": username, "password": password},
                                timeout=10)
            if answer.status_code == 200:
                return answer.json()["access_token"]
        except httpx.HTTPError:
            pass
        time.sleep(0.3)


def retrying(tally: Tally, deadline: float, send) -> httpx.Response:
    """Call SEND until it answers below 500; connection failures and 5xx are retried with back-off."""
    delay = 0.1
    while time.monotonic() < deadline:
        try:
            answer = send()
            if answer.status_code < 500:
                return answer
            tally.add(server_errors=1, retries=1)
        except httpx.HTTPError:
            tally.add(connection_errors=1, retries=1)
        time.sleep(delay + random.random() * delay)
        delay = min(delay * 2, 2.0)
    raise TimeoutError("gave up: deadline passed")


def upload_photo(client: httpx.Client, url: str, photo: Photo, tally: Tally, deadline: float) -> None:
    """Send PHOTO unless the server has it; above 8 MiB in parts, resuming where the server says."""
    target = f"{url}/v1/attachments/{photo.sha256}"
    while True:
        head = retrying(tally, deadline, lambda: client.head(target))
        if head.status_code == 200:
            return
        if len(photo.data) < BIG_PHOTO:
            answer = retrying(tally, deadline, lambda: client.put(target, content=photo.data))
            if answer.status_code in (200, 201):
                return
            raise RuntimeError(f"photo refused: {answer.status_code} {answer.text[:200]}")
        offset = int(head.headers.get("Upload-Offset", "0"))
        tally.add(resumed_parts=int(offset > 0))
        if _send_parts(client, target, photo, offset, tally, deadline):
            return


def _send_parts(client, target, photo: Photo, offset: int, tally: Tally, deadline: float) -> bool:
    """Send parts from OFFSET; True when the server has the whole file, False to ask HEAD again."""
    total = len(photo.data)
    while offset < total:
        end = min(offset + CHUNK, total) - 1
        part = photo.data[offset:end + 1]
        headers = {"Content-Range": f"bytes {offset}-{end}/{total}"}
        try:
            answer = client.put(target, content=part, headers=headers)
        except httpx.HTTPError:
            tally.add(connection_errors=1, retries=1)
            time.sleep(0.3)
            return False
        if answer.status_code in (200, 201):
            return True
        if answer.status_code == 416 or answer.status_code >= 500:
            tally.add(retries=1, server_errors=int(answer.status_code >= 500))
            return False
        if answer.status_code != 202:
            raise RuntimeError(f"part refused: {answer.status_code} {answer.text[:200]}")
        offset = end + 1
    return True


def batch_body(rng: random.Random, markers: list, photos: list[Photo], records: int) -> dict:
    """A batch of marker checks (intact, measured a few centimetres off), one photo per record."""
    chosen = rng.sample(markers, records)
    return {"device": "bench-device", "surveyor": "bench", "captured_at": "2026-11-20T09:30:00+08:00",
            "records": [{
                "uuid": str(uuid.UUID(int=rng.getrandbits(128), version=4)), "kind": "marker_check",
                "marker": m.number, "base_version": m.version, "status": "完好",
                "reference_objects_complete": True,
                "position": {"type": "Point", "coordinates": [m.lon + 2e-7, m.lat - 2e-7]},
                "accuracy_m": 0.3, "datum": "CGCS2000", "observed_at": "2026-11-20T10:00:00+08:00",
                "notes": "bench", "attachments": [{"sha256": p.sha256, "filename": p.filename,
                                                   "size": len(p.data), "media_type": "image/jpeg"}]}
                for m, p in zip(chosen, photos, strict=True)]}


@dataclass
class Plan:
    """One client's batches: (batch uuid, body, photos)."""

    batches: list[tuple[str, dict, list[Photo]]]


def plan_client(seed: int, markers: list, batches: int, records: int, big: bool) -> Plan:
    """The batches one client will send; client 0..4 also carry one 9 MiB photo each."""
    rng = random.Random(seed)
    out = []
    for b in range(batches):
        photos = [make_photo(rng, rng.randint(60_000, 240_000), f"IMG_{seed:03d}_{b}_{i}.jpg")
                  for i in range(records)]
        if big and b == 0:
            photos[0] = make_photo(rng, BIG_PHOTO, f"IMG_{seed:03d}_big.jpg")
        out.append((str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    batch_body(rng, markers, photos, records), photos))
    return Plan(out)


def run_client(url: str, auth: str, plan: Plan, photos_first: bool, tally: Tally, deadline: float) -> None:
    """Send every batch and its photos, retrying through server deaths, and keep the first receipt."""
    with httpx.Client(headers={"Authorization": f"Bearer {auth}"}, timeout=30) as client:
        for batch_uuid, body, photos in plan.batches:
            if photos_first:
                for photo in photos:
                    upload_photo(client, url, photo, tally, deadline)
            answer = retrying(tally, deadline,
                              lambda u=batch_uuid, b=body: client.put(f"{url}/v1/surveys/batches/{u}", json=b))
            if answer.status_code not in (200, 201):
                raise RuntimeError(f"batch refused: {answer.status_code} {answer.text[:300]}")
            with tally.lock:
                tally.first_receipts.setdefault(batch_uuid, answer.text)
            if not photos_first:
                for photo in photos:
                    upload_photo(client, url, photo, tally, deadline)
            tally.add(batches_done=1)


def killer(server: Server, tally: Tally, total: int, at: tuple[float, ...], kills: list, stop: threading.Event):
    """SIGKILL the server when the share of finished batches passes each mark in AT; restart it."""
    for mark in at:
        while tally.batches_done < mark * total and not stop.is_set():
            time.sleep(0.05)
        if stop.is_set():
            return
        server.kill()
        kills.append({"after_batches": tally.batches_done, "at": time.time()})
        time.sleep(1.0)
        server.start()


def verify(engine, url: str, auth: str, plans: list[Plan], tally: Tally) -> dict:
    """Replay every batch and read the database: exactly-once records and photos, equal receipts."""
    batch_ids = [b for plan in plans for b, _, _ in plan.batches]
    photos = {p.sha256: p for plan in plans for _, _, ps in plan.batches for p in ps}
    records = sum(len(body["records"]) for plan in plans for _, body, _ in plan.batches)
    mismatched, missing = 0, 0
    with httpx.Client(headers={"Authorization": f"Bearer {auth}"}, timeout=30) as client:
        for plan in plans:
            for batch_uuid, body, _ in plan.batches:
                replay = client.put(f"{url}/v1/surveys/batches/{batch_uuid}", json=body)
                mismatched += replay.status_code != 200 or json.loads(replay.text) != json.loads(
                    tally.first_receipts[batch_uuid])
                status = client.get(f"{url}/v1/surveys/batches/{batch_uuid}").json()
                missing += len(status.get("attachments_missing", []))
    with engine.connect() as conn:
        stored = conn.execute(text(
            "SELECT count(*), count(DISTINCT uuid) FROM survey_records WHERE batch_uuid = ANY(CAST(:b AS uuid[]))"
        ), {"b": batch_ids}).one()
        batches = conn.execute(text("SELECT count(*) FROM survey_batches WHERE uuid = ANY(CAST(:b AS uuid[]))"),
                               {"b": batch_ids}).scalar_one()
        blobs = conn.execute(text(
            "SELECT count(*), count(*) FILTER (WHERE encode(sha256(content), 'hex') = sha256 "
            "AND octet_length(content) = size) FROM attachments WHERE sha256 = ANY(:s)"
        ), {"s": list(photos)}).one()
        leftovers = conn.execute(text("SELECT count(*) FROM attachment_uploads WHERE sha256 = ANY(:s)"),
                                 {"s": list(photos)}).scalar_one()
    return {"batches_sent": len(batch_ids), "batches_stored": batches, "records_sent": records,
            "records_stored": stored[0], "records_distinct": stored[1], "photos_sent": len(photos),
            "photos_stored": blobs[0], "photos_hash_ok": blobs[1], "partial_uploads_left": leftovers,
            "receipts_differing": mismatched, "attachments_missing": missing}


def cleanup(engine, username: str, plans: list[Plan]) -> None:
    """Delete what the run wrote (records, batches, photos, assignments; the account is disabled)."""
    batch_ids = [b for plan in plans for b, _, _ in plan.batches]
    photos = [p.sha256 for plan in plans for _, _, ps in plan.batches for p in ps]
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM survey_record_attachments WHERE record_uuid IN (SELECT uuid FROM "
                          "survey_records WHERE batch_uuid = ANY(CAST(:b AS uuid[])))"), {"b": batch_ids})
        conn.execute(text("DELETE FROM survey_conflicts WHERE record_uuid IN (SELECT uuid FROM "
                          "survey_records WHERE batch_uuid = ANY(CAST(:b AS uuid[])))"), {"b": batch_ids})
        conn.execute(text("DELETE FROM survey_records WHERE batch_uuid = ANY(CAST(:b AS uuid[]))"), {"b": batch_ids})
        conn.execute(text("DELETE FROM survey_batches WHERE uuid = ANY(CAST(:b AS uuid[]))"), {"b": batch_ids})
        conn.execute(text("DELETE FROM attachment_uploads WHERE sha256 = ANY(:s)"), {"s": photos})
        conn.execute(text("DELETE FROM attachments WHERE sha256 = ANY(:s)"), {"s": photos})
        conn.execute(text("DELETE FROM line_assignments WHERE username = :u"), {"u": username})
        conn.execute(text("UPDATE users SET active = false WHERE username = :u"), {"u": username})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--batches", type=int, default=4, help="batches per client")
    parser.add_argument("--records", type=int, default=5, help="records (and photos) per batch")
    parser.add_argument("--keep", action="store_true", help="keep the rows the run wrote")
    args = parser.parse_args()
    engine = make_engine(get_settings())
    run = time.strftime("%Y%m%d%H%M%S")
    username, password, markers = setup(engine, run)
    plans = [plan_client(i, markers, args.batches, args.records, big=i < 5) for i in range(args.clients)]
    total = args.clients * args.batches
    tally, kills, stop = Tally(), [], threading.Event()
    deadline = time.monotonic() + DEADLINE_S
    console.print(f"{args.clients} clients × {args.batches} batches × {args.records} records, "
                  f"{sum(len(p) for pl in plans for _, _, p in pl.batches)} photos (5 of 9 MiB in parts)")
    try:
        with Server() as server:
            auth = token(server.url, username, password)
            started = time.perf_counter()
            kill_thread = threading.Thread(target=killer, args=(server, tally, total, (0.25, 0.6), kills, stop))
            kill_thread.start()
            clients = [threading.Thread(target=run_client,
                                        args=(server.url, auth, plan, i % 2 == 1, tally, deadline))
                       for i, plan in enumerate(plans)]
            for thread in clients:
                thread.start()
            for thread in clients:
                thread.join()
            stop.set()
            kill_thread.join()
            elapsed = time.perf_counter() - started
            result = verify(engine, server.url, auth, plans, tally)
    finally:
        if not args.keep:
            cleanup(engine, username, plans)
    result |= {"clients": args.clients, "kills": len(kills), "kill_points": [k["after_batches"] for k in kills],
               "retries": tally.retries, "connection_errors": tally.connection_errors,
               "server_errors": tally.server_errors, "resumed_uploads": tally.resumed_parts,
               "seconds": round(elapsed, 1)}
    report(result)


def report(result: dict) -> None:
    """Print the table, write bench/results/survey_reliability.json, exit 1 on any loss or duplicate."""
    ok = (result["batches_stored"] == result["batches_sent"] and result["records_stored"] == result["records_sent"]
          == result["records_distinct"] and result["photos_stored"] == result["photos_sent"]
          == result["photos_hash_ok"] and result["partial_uploads_left"] == 0 and result["receipts_differing"] == 0
          and result["attachments_missing"] == 0 and result["kills"] == 2)
    table = Table(title="field upload under SIGKILL" + ("" if ok else " — FAILED"))
    table.add_column("measure")
    table.add_column("value", justify="right")
    for name, value in result.items():
        table.add_row(name, str(value))
    console.print(table)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "survey_reliability.json").write_text(json.dumps(result | {"ok": ok}, indent=2) + "\n")
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
