"""Changes to single addresses: a new version (moved point, reserved flag) or retirement of an element
and everything below it. The old version is closed, never overwritten; a retired code is never given
again (废码不用); every change is audited in the caller's transaction."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from addresses.model import level_of_code
from boundaries.divisions import check_point
from data import audit
from data.errors import InvalidInput, NotFound
from placenames.inputs import today
from placenames.registry import inside_china

DB = Session | Connection
# Carried over unchanged into a new version (point, reserved and the validity are set anew).
COPY_COLUMNS = ("address_id", "code", "level", "parent_id", "street_id", "compound_id", "village_code", "name",
                "number", "suffix", "side", "direction", "place_name_id", "local_address",
                "full_address", "pinyin_key", "initials", "geom", "source")


@dataclass(frozen=True, slots=True)
class Change:
    """What to change in a new version; None keeps the current value."""

    lon: float | None = None
    lat: float | None = None
    reserved: bool | None = None
    reason: str = ""


def _current(db: DB, code: str):
    level_of_code(code)
    row = db.execute(text("SELECT version_id, address_id, valid_from, reserved, ST_X(point) AS lon, "
                          "ST_Y(point) AS lat FROM addresses WHERE code = :c AND valid_to IS NULL FOR UPDATE"),
                     {"c": code}).first()
    if row is None:
        raise NotFound(f"no current address has code {code}")
    return row


def _check(change: Change, on: dt.date, since: dt.date) -> None:
    if (change.lon is None) != (change.lat is None):
        raise InvalidInput("give both lon and lat to move an address",
                           errors=[{"field": "lon" if change.lon is None else "lat", "message": "missing"}])
    if change.lon is not None:
        check_point(change.lon, change.lat)
        if not inside_china(change.lon, change.lat, change.lon, change.lat):
            raise InvalidInput("the point is outside China", errors=[{"field": "lon", "message": "outside China"}])
    if on < since:
        raise InvalidInput(f"a new version cannot start before the current one ({since})",
                           errors=[{"field": "valid_from", "message": "before the current version"}])
    if not change.reason.strip():
        raise InvalidInput("say why the address changes", errors=[{"field": "reason", "message": "required"}])


def revise(db: DB, code: str, change: Change, *, actor: str, on: dt.date | None = None) -> int:
    """Close the current version of CODE and open a new one with CHANGE; returns the new version id."""
    on = on or today()
    row = _current(db, code)
    _check(change, on, row.valid_from)
    lon, lat = (change.lon, change.lat) if change.lon is not None else (row.lon, row.lat)
    reserved = row.reserved if change.reserved is None else change.reserved
    db.execute(text("UPDATE addresses SET valid_to = :on WHERE version_id = :v"), {"on": on, "v": row.version_id})
    cols = ", ".join(COPY_COLUMNS)
    new_id = db.execute(text(f"""
        INSERT INTO addresses ({cols}, reserved, point, valid_from, created_by)
        SELECT {cols}, :reserved, ST_SetSRID(ST_MakePoint(:lon, :lat), 4490), :on, :actor
        FROM addresses WHERE version_id = :v RETURNING version_id"""),
        {"reserved": reserved, "lon": lon, "lat": lat, "on": on, "actor": actor, "v": row.version_id}).scalar_one()
    audit.record(db, actor=actor, action="revise", entity_type="address", entity_id=code,
                 before={"lon": row.lon, "lat": row.lat, "reserved": row.reserved, "valid_from": row.valid_from},
                 after={"lon": lon, "lat": lat, "reserved": reserved, "valid_from": on, "reason": change.reason})
    return new_id


_DESCENDANTS = text("""
WITH RECURSIVE below AS (
    SELECT address_id FROM addresses WHERE address_id = :id AND valid_to IS NULL
    UNION
    SELECT a.address_id FROM addresses a JOIN below b ON a.parent_id = b.address_id WHERE a.valid_to IS NULL
)
UPDATE addresses SET valid_to = :on
WHERE valid_to IS NULL AND address_id IN (SELECT address_id FROM below)
RETURNING code
""")


def retire(db: DB, code: str, *, actor: str, reason: str, on: dt.date | None = None) -> list[str]:
    """Retire CODE and every current element below it (a demolished building takes its units and
    rooms along); returns the retired codes. They stay in the history and are never reused."""
    on = on or today()
    row = _current(db, code)
    _check(Change(reason=reason), on, row.valid_from)
    codes = sorted(db.execute(_DESCENDANTS, {"id": row.address_id, "on": on}).scalars())
    audit.record(db, actor=actor, action="retire", entity_type="address", entity_id=code,
                 before={"valid_to": None}, after={"valid_to": on, "reason": reason, "retired": len(codes),
                                                   "codes": codes[:100]})
    return codes
