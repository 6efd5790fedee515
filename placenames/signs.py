"""地名标志 (GB 17733-2008, §1.8, §6.4): signs showing a registry name, their inspections, and live
checks of the sign text against the current standard name and romanization (§9 rule 25).

`text_zh` / `text_pinyin` are the name lines of the plate as installed; house numbers belong to the
address module. The checks run against the name's *current* version, so a sign left over from a
rename shows up as mismatched.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from boundaries import divisions
from data import audit
from data.errors import InvalidInput, NotFound
from placenames.inputs import field_error, not_future
from placenames.registry import CHINA_BOUNDS, inside_china
from placenames.rules import Finding, check_sign_text

DB = Session | Connection
MAX_PAGE = 200
MAX_TEXT = 100
MAX_NOTE = 2000
KINDS = {
    "街牌": "街路牌", "巷牌": "巷牌", "楼牌": "楼牌", "门牌": "门牌", "单元牌": "单元牌", "户牌": "户牌",
    "村牌": "村牌", "地名标志牌": "其他地名标志牌(自然地理实体、设施等)", "界位牌": "界位牌",
}
CONDITIONS = ("good", "damaged", "faded", "missing", "moved")
SOURCE = "《地名管理条例》第十九条; GB 17733-2008"


@dataclass(frozen=True, slots=True)
class Inspection:
    """One inspection of a sign."""

    id: int
    inspected_on: str
    condition: str
    note: str | None
    inspector: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


@dataclass(slots=True)
class SignView:
    """A sign with the current registry name it shows and the live text checks."""

    id: int
    name_id: int
    name: str | None
    romanization: str | None
    name_status: str | None
    kind: str
    lon: float
    lat: float
    text_zh: str
    text_pinyin: str
    condition: str
    installed_on: str | None
    created_by: str
    mismatched: bool
    checks: list[Finding] = field(default_factory=list)
    inspections: list[Inspection] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict with a GeoJSON point (lon/lat, CGCS2000)."""
        data = asdict(self)
        data["checks"] = [f.as_dict() for f in self.checks]
        data["geometry"] = {"type": "Point", "coordinates": [self.lon, self.lat]}
        return data


@dataclass(frozen=True, slots=True)
class Page:
    """A keyset page of signs and the cursor of the next page (None on the last)."""

    items: list[SignView]
    next_after: int | None


# Tone marks and typographic apostrophes do not make a sign wrong (tones are optional, §9 rule 24);
# case does not either (signs use the all-caps form). Word division does: 专名连写, 专名与通名分写.
TONED = "āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜńňǹĀÁǍÀĒÉĚÈĪÍǏÌŌÓǑÒŪÚǓÙǕǗǙǛŃŇǸ’‘"
PLAIN = "aaaaeeeeiiiioooouuuuüüüünnnAAAAEEEEIIIIOOOOUUUUÜÜÜÜNNN''"
_PLAIN = str.maketrans(TONED, PLAIN)
# SQL twin of `sign_checks` (same normalisation as `sign_key`), so `mismatched` filters agree with it.
_MISMATCHED = ("(s.text_zh IS DISTINCT FROM n.name OR (n.romanization IS NOT NULL AND "
               "upper(translate(s.text_pinyin, :toned, :plain)) "
               "<> upper(translate(n.romanization, :toned, :plain))))")
_KEYS = {"toned": TONED, "plain": PLAIN}
_SELECT = f"""
SELECT s.id, s.name_id, n.name, n.romanization, n.status AS name_status, s.kind,
       ST_X(s.geom) AS lon, ST_Y(s.geom) AS lat, s.text_zh, s.text_pinyin, s.condition,
       s.installed_on::text AS installed_on, s.created_by, {_MISMATCHED} AS mismatched
FROM signs s
LEFT JOIN place_names n ON n.name_id = s.name_id AND n.valid_to IS NULL
"""


def sign_key(value: str) -> str:
    """Sign pinyin for comparison: upper case, tone marks and curly apostrophes dropped, spaces kept."""
    return unicodedata.normalize("NFC", value).translate(_PLAIN).upper()


def sign_checks(text_zh: str, text_pinyin: str, name: str | None, romanization: str | None,
                status: str | None) -> list[Finding]:
    """The sign text against the current standard name and romanization, errors first."""
    if name is None:
        return [Finding(rule=25, code="sign-name-unknown", severity="error", source=SOURCE,
                        message="标志所示地名在地名库中没有现行版本", evidence={"text_zh": text_zh})]
    found: list[Finding] = []
    if text_zh != name:
        found.append(Finding(rule=25, code="sign-name-mismatch", severity="error", source=SOURCE,
                             message=f"标志汉字“{text_zh}”与标准名称“{name}”不一致",
                             evidence={"text_zh": text_zh, "standard_name": name}))
    found += _pinyin_checks(text_pinyin, romanization)
    if status in ("cancelled", "historical"):
        label = "已注销" if status == "cancelled" else "为历史地名"
        found.append(Finding(rule=25, code="sign-name-not-in-use", severity="warning", source=SOURCE,
                             message=f"地名“{name}”{label}，核实标志是否应拆除或更换",
                             evidence={"standard_name": name, "status": status}))
    return sorted(found, key=lambda f: {"error": 0, "warning": 1}.get(f.severity, 2))


def _pinyin_checks(text_pinyin: str, romanization: str | None) -> list[Finding]:
    if romanization is None:
        return list(check_sign_text(text_pinyin))
    if sign_key(text_pinyin) == sign_key(romanization):  # e.g. the all-caps sign form
        return []
    found = list(check_sign_text(text_pinyin, expected=romanization))
    if not any(f.severity == "error" for f in found):  # same letters, other spacing
        found.append(Finding(
            rule=25, code="sign-word-division", severity="error", source="WK-1984 rule 1; SS-1987",
            message=f"标志拼写“{text_pinyin}”分词与标准罗马字母拼写“{romanization}”不一致(专名连写，专名与通名分写)",
            evidence={"text_pinyin": text_pinyin, "romanization": romanization}))
    return found


def _view(row, inspections: list[Inspection] | None = None) -> SignView:
    data = dict(row._mapping)
    checks = sign_checks(data["text_zh"], data["text_pinyin"], data["name"], data["romanization"],
                         data["name_status"])
    return SignView(**data, checks=checks, inspections=inspections or [])


# ---------------------------------------------------------------- input

def check_point(lon: float, lat: float) -> tuple[float, float]:
    """Finite lon/lat degrees (CGCS2000) inside China's box, else InvalidInput naming the axis."""
    divisions.check_point(lon, lat)  # range, NaN included
    if not inside_china(lon, lat, lon, lat):
        lo_x, lo_y, hi_x, hi_y = CHINA_BOUNDS
        raise InvalidInput(f"({lon}, {lat}) is outside China ({lo_x}–{hi_x}°E, {lo_y}–{hi_y}°N); "
                           "send lon first, then lat", errors=[
                               {"field": "lon", "message": f"lon {lon}, lat {lat} is outside China"}])
    return float(lon), float(lat)


def _sign_text(value: str | None, field_name: str) -> str:
    value = re.sub(r"\s+", " ", unicodedata.normalize("NFC", value or "")).strip()
    if not value:
        raise field_error(field_name, "must not be empty", f"{field_name} must not be empty")
    if len(value) > MAX_TEXT:
        raise field_error(field_name, f"at most {MAX_TEXT} characters", f"{field_name} is too long")
    return value


def check_kind(kind: str) -> str:
    """The sign kind if known, else InvalidInput listing the kinds."""
    if kind not in KINDS:
        raise field_error("kind", f"unknown sign kind {kind!r}", "kind must be one of " + "、".join(KINDS))
    return kind


def check_condition(condition: str, field_name: str = "condition") -> str:
    """The condition if known, else InvalidInput listing the conditions."""
    if condition not in CONDITIONS:
        raise field_error(field_name, f"unknown condition {condition!r}",
                   "condition must be one of " + ", ".join(CONDITIONS))
    return condition


# ---------------------------------------------------------------- reads

def get_sign(db: DB, sign_id: int) -> SignView:
    """One sign with its inspections (newest first) and live checks, or NotFound."""
    row = db.execute(text(_SELECT + "WHERE s.id = :id"), {"id": sign_id, **_KEYS}).first()
    if row is None:
        raise NotFound(f"no sign has id {sign_id}")
    inspections = [Inspection(**r._mapping) for r in db.execute(text(
        "SELECT id, inspected_on::text AS inspected_on, condition, note, inspector FROM sign_inspections "
        "WHERE sign_id = :id ORDER BY inspected_on DESC, id DESC"), {"id": sign_id})]
    return _view(row, inspections)


def list_signs(db: DB, *, name_id: int | None = None, condition: str | None = None,
               mismatched: bool | None = None, bbox: tuple[float, float, float, float] | None = None,
               limit: int = 50, after: int | None = None) -> Page:
    """Signs ordered by id, filtered by name, condition, text mismatch and bbox; keyset-paged."""
    where, params = ["TRUE"], {"n": max(1, min(limit, MAX_PAGE)) + 1, "after": after, **_KEYS}
    if name_id is not None:
        where.append("s.name_id = :name_id")
        params["name_id"] = name_id
    if condition is not None:
        where.append("s.condition = :condition")
        params["condition"] = check_condition(condition)
    if mismatched is not None:
        where.append(_MISMATCHED if mismatched else f"NOT {_MISMATCHED}")
    if bbox is not None:
        where.append("s.geom && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4490)")
        params.update(dict(zip(("x0", "y0", "x1", "y1"), bbox, strict=True)))
    rows = db.execute(text(
        f"{_SELECT} WHERE {' AND '.join(where)} AND (CAST(:after AS bigint) IS NULL OR s.id > :after) "
        "ORDER BY s.id LIMIT :n"), params).all()
    limit = params["n"] - 1
    items = [_view(r) for r in rows[:limit]]
    return Page(items, items[-1].id if len(rows) > limit else None)


# ---------------------------------------------------------------- writes

def add_sign(db: DB, *, name_id: int, kind: str, lon: float, lat: float, text_zh: str, text_pinyin: str,
             condition: str = "good", installed_on: dt.date | None = None, actor: str) -> int:
    """Record a sign showing registry name NAME_ID; returns its id. Audited."""
    lon, lat = check_point(lon, lat)
    row = {"name_id": name_id, "kind": check_kind(kind), "text_zh": _sign_text(text_zh, "text_zh"),
           "text_pinyin": _sign_text(text_pinyin, "text_pinyin"), "condition": check_condition(condition),
           "installed_on": not_future(installed_on, "installed_on"), "lon": lon, "lat": lat}
    known = db.execute(text("SELECT 1 FROM place_names WHERE name_id = :id AND valid_to IS NULL"),
                       {"id": name_id}).first()
    if known is None:
        raise field_error("name_id", "unknown name id", f"no current place name has id {name_id}")
    sign_id = db.execute(text(
        "INSERT INTO signs (name_id, kind, geom, text_zh, text_pinyin, condition, installed_on, created_by) "
        "VALUES (:name_id, :kind, ST_SetSRID(ST_MakePoint(:lon, :lat), 4490), :text_zh, :text_pinyin, "
        ":condition, :installed_on, :actor) RETURNING id"), {**row, "actor": actor}).scalar_one()
    audit.record(db, actor=actor, action="sign.create", entity_type="sign", entity_id=str(sign_id),
                 after=row)
    return sign_id


def inspect_sign(db: DB, sign_id: int, *, inspected_on: dt.date, condition: str, note: str | None = None,
                 actor: str) -> int:
    """Record an inspection; the sign takes its condition unless a later one exists. Audited."""
    sign = db.execute(text(
        "SELECT condition, installed_on, "
        "(SELECT max(inspected_on) FROM sign_inspections WHERE sign_id = :id) AS last_inspected "
        "FROM signs WHERE id = :id FOR UPDATE"), {"id": sign_id}).first()
    if sign is None:
        raise NotFound(f"no sign has id {sign_id}")
    not_future(inspected_on, "inspected_on")
    if sign.installed_on and inspected_on < sign.installed_on:
        raise field_error("inspected_on", f"before installation on {sign.installed_on}",
                   "a sign cannot be inspected before it was installed")
    check_condition(condition)
    note = (note or "").strip() or None
    if note and len(note) > MAX_NOTE:
        raise field_error("note", f"at most {MAX_NOTE} characters", "note is too long")
    inspection_id = db.execute(text(
        "INSERT INTO sign_inspections (sign_id, inspected_on, condition, note, inspector) "
        "VALUES (:id, :on, :condition, :note, :actor) RETURNING id"),
        {"id": sign_id, "on": inspected_on, "condition": condition, "note": note, "actor": actor},
    ).scalar_one()
    latest = sign.last_inspected is None or inspected_on >= sign.last_inspected
    after = condition if latest else sign.condition
    if after != sign.condition:
        db.execute(text("UPDATE signs SET condition = :c WHERE id = :id"), {"c": after, "id": sign_id})
    audit.record(db, actor=actor, action="sign.inspect", entity_type="sign", entity_id=str(sign_id),
                 before={"condition": sign.condition},
                 after={"condition": after, "inspection_id": inspection_id, "inspected_on": inspected_on,
                        "inspected_condition": condition, "note": note})
    return inspection_id
