"""Field-upload attachments (photos, sketches) stored once by SHA-256, whole or in resumable parts.

A client PUTs a file under its own SHA-256: a second PUT of the same file changes nothing, so a
retry on a bad network is always safe. Files above `RESUMABLE_THRESHOLD` should be sent in parts
(`Content-Range: bytes START-END/TOTAL`); the parts collect in `attachment_parts` and the last one
joins them, checks the hash and stores the attachment in the same transaction. A part must start
where the received bytes end, so a client that lost an answer asks (or is told) where to resume.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from data import audit
from data.errors import GazetteerError, InvalidInput, NotFound

SHA256 = re.compile(r"^[0-9a-f]{64}$")
RESUMABLE_THRESHOLD = 8 * 1024 * 1024   # clients should send larger files in parts; whole PUTs still work
UPLOAD_EXPIRY_HOURS = 24                # an unfinished upload is purged 24 h after its last part
CONTENT_RANGE = re.compile(r"^bytes (\d{1,19})-(\d{1,19})/(\d{1,19})$")
DEFAULT_MEDIA_TYPE = "application/octet-stream"


class TooLarge(GazetteerError):
    """The file (or the total announced in Content-Range) is over the configured limit."""

    status = 413
    code = "too-large"
    title = "Payload too large"


class WrongOffset(GazetteerError):
    """A part does not start where the received bytes end; `received` says where to resume."""

    status = 416
    code = "range-not-satisfiable"
    title = "Range not satisfiable"

    def __init__(self, received: int, start: int) -> None:
        super().__init__(f"this part starts at byte {start} but {received} bytes have been received; "
                         f"resume with the part that starts at byte {received}",
                         extra={"received": received})
        self.received = received


def check_sha256(value: str) -> str:
    """VALUE if it is 64 lower-case hex digits, else a 422."""
    if not SHA256.match(value or ""):
        raise InvalidInput("an attachment is named by its SHA-256: 64 lower-case hex digits",
                           errors=[{"field": "sha256", "message": "not 64 lower-case hex digits"}])
    return value


def too_large(limit: int) -> TooLarge:
    """The 413 for a file over LIMIT bytes, naming the limit."""
    return TooLarge(f"the file is over the limit of {limit} bytes ({limit / 2**20:g} MiB) per attachment; "
                    "nothing was stored", extra={"limit_bytes": limit})


def parse_content_range(value: str) -> tuple[int, int, int]:
    """(start, end, total) of `bytes START-END/TOTAL` (END inclusive), or a 422."""
    match = CONTENT_RANGE.match(value.strip())
    if not match:
        raise InvalidInput("Content-Range must read `bytes START-END/TOTAL` (END inclusive)",
                           errors=[{"field": "Content-Range", "message": "malformed"}])
    start, end, total = (int(g) for g in match.groups())
    if not start <= end < total:
        raise InvalidInput(f"Content-Range {value!r} needs START ≤ END < TOTAL",
                           errors=[{"field": "Content-Range", "message": "impossible range"}])
    return start, end, total


@dataclass(frozen=True, slots=True)
class Upload:
    """Where an upload stands: stored (complete), in progress (received of total), or discarded."""

    sha256: str
    received: int
    total: int
    media_type: str
    complete: bool
    created: bool = False        # this request stored the attachment
    discarded: bool = False      # the joined parts did not match the hash; the upload is gone

    def as_dict(self) -> dict:
        """The JSON answer."""
        return {"sha256": self.sha256, "received": self.received, "total": self.total,
                "media_type": self.media_type, "complete": self.complete}


def purge_expired_uploads(session: Session, *, actor: str = audit.SYSTEM) -> int:
    """Delete unfinished uploads past their expiry (their parts go with them); returns how many."""
    gone = session.execute(text(
        "DELETE FROM attachment_uploads WHERE expires_at < now() RETURNING sha256, total_size")).all()
    if gone:
        audit.record(session, actor=actor, action="purge", entity_type="attachment_upload",
                     entity_id=f"{len(gone)} expired",
                     before={"uploads": [{"sha256": r.sha256, "total": r.total_size} for r in gone]})
    return len(gone)


def _stored(session: Session, sha256: str) -> tuple[int, str] | None:
    row = session.execute(text("SELECT size, media_type FROM attachments WHERE sha256 = :s"),
                          {"s": sha256}).first()
    return (row.size, row.media_type) if row else None


def store_whole(session: Session, sha256: str, content: bytes, media_type: str | None, *,
                actor: str, limit: int) -> Upload:
    """Store CONTENT as the attachment SHA256 (422 on a hash mismatch, 413 over LIMIT); idempotent."""
    check_sha256(sha256)
    purge_expired_uploads(session)
    if len(content) > limit:
        raise too_large(limit)
    if not content:
        raise InvalidInput("an attachment cannot be empty", errors=[{"field": "body", "message": "empty"}])
    if hashlib.sha256(content).hexdigest() != sha256:
        raise InvalidInput("hash mismatch: the body's SHA-256 is not the one in the URL; nothing was stored",
                           errors=[{"field": "sha256", "message": "hash mismatch"}])
    media = media_type or DEFAULT_MEDIA_TYPE
    created = session.execute(text(
        "INSERT INTO attachments (sha256, size, media_type, content, uploaded_by) "
        "VALUES (:s, :n, :m, :c, :u) ON CONFLICT (sha256) DO NOTHING RETURNING sha256"
    ), {"s": sha256, "n": len(content), "m": media, "c": content, "u": actor}).first() is not None
    if created:
        session.execute(text("DELETE FROM attachment_uploads WHERE sha256 = :s"), {"s": sha256})
        audit.record(session, actor=actor, action="create", entity_type="attachment", entity_id=sha256,
                     after={"size": len(content), "media_type": media, "resumable": False})
    size, media = _stored(session, sha256)
    return Upload(sha256, size, size, media, complete=True, created=created)


def store_part(session: Session, sha256: str, content_range: str, content: bytes, media_type: str | None,
               *, actor: str, limit: int) -> Upload:
    """Add one part of a resumable upload; the last part joins, checks and stores the file.

    416 (`WrongOffset`) when the part does not start at the received offset; a mismatching hash
    discards the upload and returns `discarded=True` (the caller commits that, then answers 422).
    """
    check_sha256(sha256)
    start, end, total = parse_content_range(content_range)
    if total > limit:
        raise too_large(limit)
    if len(content) != end - start + 1:
        raise InvalidInput(f"the part has {len(content)} bytes but Content-Range announces {end - start + 1}; "
                           "nothing was stored", errors=[{"field": "body", "message": "truncated part"}])
    purge_expired_uploads(session)
    stored = _stored(session, sha256)
    if stored is not None:
        return _already_stored(sha256, stored, total)
    upload = _open_upload(session, sha256, total, media_type or DEFAULT_MEDIA_TYPE, start, actor=actor)
    received = _received(session, sha256)
    if start != received:
        raise WrongOffset(received, start)
    session.execute(text(
        "INSERT INTO attachment_parts (sha256, start_byte, content) VALUES (:s, :b, :c)"),
        {"s": sha256, "b": start, "c": content})
    session.execute(text(
        f"UPDATE attachment_uploads SET expires_at = now() + interval '{UPLOAD_EXPIRY_HOURS} hours' "
        "WHERE sha256 = :s"), {"s": sha256})
    received += len(content)
    if received < total:
        return Upload(sha256, received, total, upload, complete=False)
    return _assemble(session, sha256, total, upload, actor=actor)


def _already_stored(sha256: str, stored: tuple[int, str], total: int) -> Upload:
    size, media = stored
    if size != total:
        raise InvalidInput(f"attachment {sha256} is stored with {size} bytes, not {total}",
                           errors=[{"field": "Content-Range", "message": "total differs from the stored size"}])
    return Upload(sha256, size, size, media, complete=True)


def _open_upload(session: Session, sha256: str, total: int, media_type: str, start: int, *, actor: str) -> str:
    """The upload row (locked), created on the first part; returns its media type."""
    row = session.execute(text(
        "SELECT total_size, media_type FROM attachment_uploads WHERE sha256 = :s FOR UPDATE"),
        {"s": sha256}).first()
    if row is None:
        if start != 0:
            raise WrongOffset(0, start)
        started = session.execute(text(
            "INSERT INTO attachment_uploads (sha256, total_size, media_type, started_by, expires_at) "
            f"VALUES (:s, :t, :m, :u, now() + interval '{UPLOAD_EXPIRY_HOURS} hours') "
            "ON CONFLICT (sha256) DO NOTHING RETURNING sha256"),
            {"s": sha256, "t": total, "m": media_type, "u": actor}).first()
        if started is not None:
            audit.record(session, actor=actor, action="start", entity_type="attachment_upload", entity_id=sha256,
                         after={"total": total, "media_type": media_type})
        row = session.execute(text(
            "SELECT total_size, media_type FROM attachment_uploads WHERE sha256 = :s FOR UPDATE"),
            {"s": sha256}).one()
    if row.total_size != total:
        raise InvalidInput(f"the upload of {sha256} was started with a total of {row.total_size} bytes, "
                           f"not {total}", errors=[{"field": "Content-Range", "message": "total changed"}])
    return row.media_type


def _received(session: Session, sha256: str) -> int:
    return int(session.execute(text(
        "SELECT coalesce(sum(length(content)), 0) FROM attachment_parts WHERE sha256 = :s"),
        {"s": sha256}).scalar_one())


def _assemble(session: Session, sha256: str, total: int, media_type: str, *, actor: str) -> Upload:
    """Join the parts in the database (ordered by start byte), check the hash, store, drop the parts."""
    digest = session.execute(text(
        "SELECT encode(sha256(string_agg(content, ''::bytea ORDER BY start_byte)), 'hex') "
        "FROM attachment_parts WHERE sha256 = :s"), {"s": sha256}).scalar_one()
    if digest != sha256:
        session.execute(text("DELETE FROM attachment_uploads WHERE sha256 = :s"), {"s": sha256})
        audit.record(session, actor=actor, action="discard", entity_type="attachment_upload", entity_id=sha256,
                     before={"total": total}, after={"reason": "hash mismatch", "joined_sha256": digest})
        return Upload(sha256, 0, total, media_type, complete=False, discarded=True)
    session.execute(text(
        "INSERT INTO attachments (sha256, size, media_type, content, uploaded_by) "
        "SELECT :s, :t, :m, string_agg(content, ''::bytea ORDER BY start_byte), :u "
        "FROM attachment_parts WHERE sha256 = :s"), {"s": sha256, "t": total, "m": media_type, "u": actor})
    session.execute(text("DELETE FROM attachment_uploads WHERE sha256 = :s"), {"s": sha256})
    audit.record(session, actor=actor, action="create", entity_type="attachment", entity_id=sha256,
                 after={"size": total, "media_type": media_type, "resumable": True})
    return Upload(sha256, total, total, media_type, complete=True, created=True)


@dataclass(frozen=True, slots=True)
class AttachmentState:
    """What HEAD reports: stored (size, media type), partly received, or unknown."""

    stored: bool
    size: int | None
    media_type: str | None
    received: int | None    # bytes of an unfinished upload


def attachment_state(session: Session, sha256: str) -> AttachmentState:
    """Whether SHA256 is stored, and if not, how much of an unexpired upload has arrived."""
    stored = _stored(session, sha256)
    if stored is not None:
        return AttachmentState(True, stored[0], stored[1], None)
    started = session.execute(text(
        "SELECT 1 FROM attachment_uploads WHERE sha256 = :s AND expires_at >= now()"), {"s": sha256}).first()
    return AttachmentState(False, None, None, _received(session, sha256) if started else None)


def read_attachment(session: Session, sha256: str) -> tuple[bytes, str]:
    """The stored bytes and media type; 404 if the file is not (yet) stored."""
    row = session.execute(text("SELECT content, media_type FROM attachments WHERE sha256 = :s"),
                          {"s": check_sha256(sha256)}).first()
    if row is None:
        raise NotFound(f"attachment {sha256} is not stored")
    return bytes(row.content), row.media_type


def stored_sizes(session: Session, hashes: list[str]) -> dict[str, int]:
    """Sizes of the stored attachments among HASHES."""
    if not hashes:
        return {}
    rows = session.execute(text("SELECT sha256, size FROM attachments WHERE sha256 = ANY(:h)"),
                           {"h": list(hashes)}).all()
    return {row.sha256: row.size for row in rows}
