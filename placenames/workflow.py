"""命名/更名/注销 applications: states, role-bound transitions, attachments, 备案/公告 deadlines.

draft → submitted → accepted → under_review → approved | rejected | withdrawn → filed → announced.
Approval writes the registry version in the same transaction; every transition is an event and an
audit entry. Deadlines follow Arts. 13–14 (see placenames.authority).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from boundaries.codes import DivisionCode
from boundaries.divisions import chain_of
from data import audit
from data.accounts import Account
from data.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from placenames import authority
from placenames.categories import Category, get_category, split_name
from placenames.checks import check_proposal
from placenames.inputs import not_future, text_field
from placenames.overrides import romanization_for
from placenames.protection import protection_block
from placenames.registry import NameInput, division_name, get_name, parse_geometry, register, revise, today
from placenames.rules import Finding, Proposal, validate_name

DB = Session | Connection
KINDS = {"name": "命名", "rename": "更名", "cancel": "注销"}
STATES = {
    "draft": "草稿", "submitted": "已提交", "accepted": "已受理", "under_review": "审查中",
    "approved": "已批准", "rejected": "不予批准", "withdrawn": "已撤回", "filed": "已备案", "announced": "已公告",
}
ATTACHMENT_KINDS = {
    "comprehensive_assessment": "综合评估报告", "expert_review": "专家论证报告", "consultation": "征求意见报告",
    "risk_assessment": "风险评估报告", "change_scheme_map": "变更方案示意图", "application_letter": "申请书",
    "approval_document": "批准文件", "other": "其他材料",
}
MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024
MEDIA_TYPES = {"application/pdf", "image/png", "image/jpeg", "image/tiff", "text/plain",
               "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "application/msword"}


@dataclass(frozen=True, slots=True)
class Action:
    """A transition: who may take it, from which states, and where it leads."""

    name: str
    label: str
    roles: tuple[str, ...]
    sources: tuple[str, ...]
    target: str


ACTIONS = {a.name: a for a in (
    Action("submit", "提交", ("applicant",), ("draft",), "submitted"),
    Action("withdraw", "撤回", ("applicant",), ("draft", "submitted", "accepted", "under_review"), "withdrawn"),
    Action("accept", "受理", ("reviewer",), ("submitted",), "accepted"),
    Action("review", "审查意见", ("reviewer",), ("accepted", "under_review"), "under_review"),
    Action("approve", "批准", ("approver",), ("under_review",), "approved"),
    Action("reject", "不予批准", ("approver",), ("under_review",), "rejected"),
    Action("file", "备案", ("approver",), ("approved",), "filed"),
    Action("announce", "公告", ("admin",), ("filed",), "announced"),
)}


def required_attachments(kind: str, category: Category) -> tuple[str, ...]:
    """§9 rule 14: the reports a complete application carries (Art. 11; 行政区划管理条例 Art. 13)."""
    division = category.class_code == "04"
    if kind == "cancel":
        return ("risk_assessment", "expert_review") if division else ()
    reports = ("comprehensive_assessment", "expert_review", "consultation")
    return reports + (("risk_assessment", "change_scheme_map") if division else ())


# ---------------------------------------------------------------- views

@dataclass(slots=True)
class ApplicationView:
    """An application with its deadlines, attachments, events and the actions open to it."""

    id: int
    kind: str
    kind_label: str
    state: str
    state_label: str
    name_id: int | None
    proposed_name: str | None
    specific: str | None
    generic: str | None
    category: str
    division_code: str
    location_description: str | None
    reasons: str
    attributes: dict[str, Any]
    romanization: str | None
    applicant: str
    approver_kind: str | None
    approver_division: str | None
    approver_name: str | None
    approval_document: str | None
    approval_date: str | None
    placename_dept_consulted: bool
    filing_target: str | None
    filing_due: str | None
    filing_date: str | None
    announcement_due: str | None
    announcement_date: str | None
    created_at: str
    geometry: dict[str, Any] | None = None
    overdue: list[str] = field(default_factory=list)
    late: list[str] = field(default_factory=list)
    next_actions: list[str] = field(default_factory=list)
    missing_attachments: list[str] = field(default_factory=list)
    attachments: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


_APP_COLUMNS = """
    id, kind, state, name_id, proposed_name, specific, generic, category, division_code,
    location_description, reasons, attributes, romanization, applicant, approver_kind, approver_division,
    approver_name, approval_document, approval_date::text, placename_dept_consulted, filing_target,
    filing_due::text, filing_date::text, announcement_due::text, announcement_date::text,
    to_char(created_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD"T"HH24:MI:SS+08:00') AS created_at,
    ST_AsGeoJSON(geom, 7) AS geometry
"""


def _deadline_flags(row, on: dt.date) -> tuple[list[str], list[str]]:
    """(overdue now, done late): §9 rules 16 and 18."""
    overdue, late = [], []
    if row.filing_due:
        due = dt.date.fromisoformat(row.filing_due)
        if row.filing_date is None and row.state == "approved" and on > due:
            overdue.append("filing")
        if row.filing_date and dt.date.fromisoformat(row.filing_date) > due:
            late.append("filing")
    if row.announcement_due:
        due = dt.date.fromisoformat(row.announcement_due)
        if row.announcement_date is None and row.state in ("approved", "filed") and on > due:
            overdue.append("announcement")
        if row.announcement_date and dt.date.fromisoformat(row.announcement_date) > due:
            late.append("announcement")
    return overdue, late


def _view(row, on: dt.date) -> ApplicationView:
    data = dict(row._mapping)
    geometry = data.pop("geometry")
    overdue, late = _deadline_flags(row, on)
    view = ApplicationView(**data, kind_label=KINDS[row.kind], state_label=STATES[row.state],
                           geometry=json.loads(geometry) if geometry else None, overdue=overdue, late=late)
    view.next_actions = [a.name for a in ACTIONS.values() if row.state in a.sources]
    return view


def get_application(db: DB, app_id: int, *, on: dt.date | None = None, detail: bool = True) -> ApplicationView:
    """One application with attachments and events, or NotFound."""
    row = db.execute(text(f"SELECT {_APP_COLUMNS} FROM applications WHERE id = :id"),
                     {"id": app_id}).one_or_none()
    if row is None:
        raise NotFound(f"no application has id {app_id}")
    view = _view(row, on or today())
    if detail:
        view.attachments = [dict(r._mapping) for r in db.execute(text(
            "SELECT id, kind, filename, media_type, size, sha256, uploaded_by, uploaded_at::text "
            "FROM application_attachments WHERE application_id = :id ORDER BY id"), {"id": app_id})]
        view.events = [dict(r._mapping) for r in db.execute(text(
            "SELECT id, action, from_state, to_state, actor, at::text, note, details "
            "FROM application_events WHERE application_id = :id ORDER BY id"), {"id": app_id})]
        have = {a["kind"] for a in view.attachments}
        category = get_category(row.category)
        view.missing_attachments = [k for k in required_attachments(row.kind, category) if k not in have]
    return view


def check_can_read(view: ApplicationView, actor: Account) -> None:
    """Applicants see their own applications; staff see all."""
    if actor.role == "applicant" and actor.username != view.applicant:
        raise PermissionDenied("applicants can only see their own applications")


def list_applications(db: DB, *, state: str | None = None, overdue: bool | None = None,
                      applicant: str | None = None, on: dt.date | None = None, limit: int = 50,
                      after: int | None = None) -> tuple[list[ApplicationView], int | None]:
    """Applications newest first; `overdue=True` keeps those past a filing or announcement deadline."""
    on = on or today()
    where, params = ["true"], {"limit": limit + 1, "on": on}
    if state:
        if state not in STATES:
            raise InvalidInput(f"state must be one of {', '.join(STATES)}",
                               errors=[{"field": "state", "message": f"unknown state {state!r}"}])
        where.append("state = :state")
        params["state"] = state
    if overdue is not None:
        late = ("((state = 'approved' AND filing_due < :on) OR "
                "(state IN ('approved', 'filed') AND announcement_due < :on))")
        where.append(late if overdue else f"NOT {late}")
    if applicant:
        where.append("applicant = :applicant")
        params["applicant"] = applicant
    if after:
        where.append("id < :after")
        params["after"] = after
    rows = db.execute(text(f"SELECT {_APP_COLUMNS} FROM applications WHERE {' AND '.join(where)} "
                           "ORDER BY id DESC LIMIT :limit"), params).all()
    page = [_view(r, on) for r in rows[:limit]]
    return page, (page[-1].id if len(rows) > limit else None)


# ---------------------------------------------------------------- create

@dataclass(frozen=True, slots=True)
class ApplicationInput:
    """What an applicant files."""

    kind: str
    category: str
    division_code: str
    reasons: str
    proposed_name: str | None = None
    name_id: int | None = None
    specific: str | None = None
    generic: str | None = None
    location_description: str | None = None
    geometry: dict[str, Any] | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    idempotency_key: str | None = None


def parse_kind(value: str) -> str:
    """'name'/'rename'/'cancel' or 命名/更名/注销 → the stored key."""
    for key, label in KINDS.items():
        if value in (key, label):
            return key
    raise InvalidInput("kind must be 命名 (name), 更名 (rename) or 注销 (cancel)",
                       errors=[{"field": "kind", "message": f"unknown kind {value!r}"}])


def _fingerprint(item: ApplicationInput) -> str:
    return hashlib.sha256(json.dumps(asdict(item), sort_keys=True, ensure_ascii=False,
                                     default=str).encode()).hexdigest()


def create_application(db: DB, item: ApplicationInput, *, actor: Account) -> int:
    """Open a draft application (idempotent by key: same content → same id, other content → 409)."""
    if item.idempotency_key:
        found = db.execute(text("SELECT id, attributes->>'_fingerprint' AS fp FROM applications "
                                "WHERE idempotency_key = :k"), {"k": item.idempotency_key}).first()
        if found:
            if found.fp != _fingerprint(item):
                raise Conflict("this Idempotency-Key was used for a different application")
            return found.id
    kind = parse_kind(item.kind)
    category = get_category(item.category)
    division_name(db, item.division_code)
    reasons = (item.reasons or "").strip()
    if len(reasons) < 4:
        raise InvalidInput("say why the name is needed (reasons, at least 4 characters)",
                           errors=[{"field": "reasons", "message": "too short"}])
    name, specific, generic = _proposed(item, kind, category)
    if kind != "name":
        _check_target(db, item.name_id)
    geom = parse_geometry(item.geometry)
    romanization = romanization_for(db, name, category, specific=specific, generic=generic,
                                    division_code=item.division_code) if name else None
    attributes = {**_clean_attributes(item.attributes), "_fingerprint": _fingerprint(item)}
    app_id = db.execute(text("""
        INSERT INTO applications (kind, state, name_id, proposed_name, specific, generic, category,
            division_code, geom, location_description, reasons, attributes, romanization, applicant,
            idempotency_key)
        VALUES (:kind, 'draft', :name_id, :name, :specific, :generic, :category, :division,
            ST_GeomFromText(:wkt, 4490), :location, :reasons, CAST(:attributes AS jsonb), :romanization,
            :applicant, :key) RETURNING id"""), {
        "kind": kind, "name_id": item.name_id, "name": name, "specific": specific, "generic": generic,
        "category": category.code, "division": item.division_code, "wkt": geom.wkt if geom else None,
        "location": item.location_description, "reasons": reasons,
        "attributes": json.dumps(attributes, ensure_ascii=False), "romanization": romanization,
        "applicant": actor.username, "key": item.idempotency_key}).scalar_one()
    _event(db, app_id, "create", None, "draft", actor.username, None, {"kind": kind, "name": name})
    return app_id


def _proposed(item: ApplicationInput, kind: str, category: Category) -> tuple[str | None, str | None, str | None]:
    if kind == "cancel":
        return None, None, None
    if not item.proposed_name:
        raise InvalidInput(f"a {KINDS[kind]} application needs proposed_name",
                           errors=[{"field": "proposed_name", "message": "required"}])
    name = validate_name(item.proposed_name)
    specific, generic = split_name(name, category)
    if item.specific is not None or item.generic is not None:
        specific, generic = item.specific or "", item.generic or ""
        if specific + generic != name:
            raise InvalidInput("专名 + 通名 must spell proposed_name",
                               errors=[{"field": "specific", "message": "专名+通名 ≠ name"}])
    return name, specific, generic


def _check_target(db: DB, name_id: int | None) -> None:
    if name_id is None:
        raise InvalidInput("更名 and 注销 applications name the registry entry: name_id",
                           errors=[{"field": "name_id", "message": "required"}])
    current = get_name(db, name_id, geometry=False)
    if current.status != "standard":
        raise Conflict(f"place name {name_id} is {current.status}, not a current standard name")


_ATTRIBUTE_TYPES = {"site_area_m2": float, "floor_area_m2": float, "approval_documents": list,
                    "no_specific_link": list}


def _clean_attributes(attributes: dict[str, Any]) -> dict[str, Any]:
    clean = {}
    for key, value in (attributes or {}).items():
        if key not in _ATTRIBUTE_TYPES:
            raise InvalidInput(f"unknown attribute {key!r}; known: {', '.join(_ATTRIBUTE_TYPES)}",
                               errors=[{"field": f"attributes.{key}", "message": "unknown attribute"}])
        want = _ATTRIBUTE_TYPES[key]
        if want is float and (isinstance(value, bool) or not isinstance(value, int | float) or value < 0):
            raise InvalidInput(f"{key} must be a non-negative number",
                               errors=[{"field": f"attributes.{key}", "message": "not a number"}])
        if want is list and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            raise InvalidInput(f"{key} must be a list of strings",
                               errors=[{"field": f"attributes.{key}", "message": "not a list of strings"}])
        clean[key] = value
    return clean


def _event(db: DB, app_id: int, action: str, source: str | None, target: str, actor: str,
           note: str | None, details: dict[str, Any]) -> None:
    db.execute(text("INSERT INTO application_events (application_id, action, from_state, to_state, actor, "
                    "note, details) VALUES (:a, :act, :f, :t, :actor, :note, CAST(:d AS jsonb))"),
               {"a": app_id, "act": action, "f": source, "t": target, "actor": actor, "note": note,
                "d": json.dumps(details, ensure_ascii=False, default=str)})
    audit.record(db, actor=actor, action=f"application.{action}", entity_type="application",
                 entity_id=str(app_id), before={"state": source} if source else None,
                 after={"state": target, **details})


# ---------------------------------------------------------------- attachments

def add_attachment(db: DB, app_id: int, *, kind: str, filename: str, media_type: str, content: bytes,
                   sha256: str, actor: Account, max_bytes: int = MAX_ATTACHMENT_BYTES) -> dict[str, Any]:
    """Store one attachment after checking kind, type, size and the SHA-256 the client sent."""
    view = get_application(db, app_id, detail=False)
    if actor.role == "applicant" and actor.username != view.applicant:
        raise PermissionDenied("only the applicant who filed it may add attachments")
    if view.state not in ("draft", "submitted", "accepted", "under_review"):
        raise Conflict(f"attachments can no longer be added: the application is {view.state}")
    problems = _attachment_problems(kind, filename, media_type, content, sha256, max_bytes)
    if problems:
        raise InvalidInput("; ".join(p["message"] for p in problems), errors=problems)
    row = db.execute(text("""
        INSERT INTO application_attachments (application_id, kind, filename, media_type, size, sha256,
            content, uploaded_by) VALUES (:a, :k, :f, :m, :s, :h, :c, :u)
        ON CONFLICT (application_id, kind, sha256) DO NOTHING
        RETURNING id, kind, filename, media_type, size, sha256"""), {
        "a": app_id, "k": kind, "f": filename, "m": media_type, "s": len(content), "h": sha256.lower(),
        "c": content, "u": actor.username}).first()
    if row is None:  # the same file again: answer as before, store nothing new
        row = db.execute(text("SELECT id, kind, filename, media_type, size, sha256 FROM "
                              "application_attachments WHERE application_id = :a AND kind = :k AND "
                              "sha256 = :h"), {"a": app_id, "k": kind, "h": sha256.lower()}).one()
        return dict(row._mapping)
    stored = dict(row._mapping)
    audit.record(db, actor=actor.username, action="application.attach", entity_type="application",
                 entity_id=str(app_id), after=stored)
    return stored


def _attachment_problems(kind: str, filename: str, media_type: str, content: bytes, sha256: str,
                         max_bytes: int) -> list[dict[str, str]]:
    problems = []
    if kind not in ATTACHMENT_KINDS:
        problems.append({"field": "kind", "message": f"kind must be one of {', '.join(ATTACHMENT_KINDS)}"})
    if media_type not in MEDIA_TYPES:
        problems.append({"field": "file", "message": f"media type {media_type} not accepted "
                                                     f"(PDF, Word, PNG, JPEG, TIFF or plain text)"})
    if not content:
        problems.append({"field": "file", "message": "the file is empty"})
    if len(content) > max_bytes:
        problems.append({"field": "file", "message": f"{len(content)} bytes is over the "
                                                     f"{max_bytes // (1024 * 1024)} MiB limit"})
    if not filename or len(filename) > 200 or any(ord(c) < 32 for c in filename):
        problems.append({"field": "file", "message": "file name missing, too long or with control characters"})
    actual = hashlib.sha256(content).hexdigest()
    if (sha256 or "").lower() != actual:
        problems.append({"field": "sha256", "message": f"sha256 does not match the file (got {actual})"})
    return problems


def attachment_content(db: DB, app_id: int, attachment_id: int) -> tuple[str, str, bytes]:
    """(filename, media type, bytes) of one attachment."""
    row = db.execute(text("SELECT filename, media_type, content FROM application_attachments "
                          "WHERE id = :i AND application_id = :a"), {"i": attachment_id, "a": app_id}).first()
    if row is None:
        raise NotFound(f"application {app_id} has no attachment {attachment_id}")
    return row.filename, row.media_type, bytes(row.content)


# ---------------------------------------------------------------- transitions

def _authorise(action_name: str, state: str, actor: Account, applicant: str) -> Action:
    allowed = [a.name for a in ACTIONS.values() if state in a.sources]
    mine = [a for a in allowed if actor.role in ACTIONS[a].roles]
    extra = {"state": state, "allowed_actions": allowed, "your_actions": mine}
    action = ACTIONS.get(action_name)
    if action is None:
        raise NotFound(f"unknown action {action_name!r}; actions are {', '.join(ACTIONS)}", extra=extra)
    if actor.role not in action.roles:
        raise PermissionDenied(f"{action_name} is for role {' or '.join(action.roles)}; you are {actor.role}",
                               extra=extra)
    if state not in action.sources:
        raise Conflict(f"cannot {action_name} an application that is {state}; "
                       f"allowed now: {', '.join(allowed) or 'nothing (final state)'}", extra=extra)
    if actor.role == "applicant" and actor.username != applicant:
        raise PermissionDenied("only the applicant who filed it may do this", extra=extra)
    return action


def transition(db: DB, app_id: int, action_name: str, payload: dict[str, Any] | None, *,
               actor: Account) -> ApplicationView:
    """Take ACTION on an application (role and state checked), record the event, return the view."""
    row = db.execute(text("SELECT id, state, applicant FROM applications WHERE id = :id FOR UPDATE"),
                     {"id": app_id}).one_or_none()
    if row is None:
        raise NotFound(f"no application has id {app_id}")
    action = _authorise(action_name, row.state, actor, row.applicant)
    payload = dict(payload or {})
    note = text_field(payload.pop("note", None), "note", 2000)
    details = HANDLERS[action.name](db, app_id, payload, actor)
    db.execute(text("UPDATE applications SET state = :s, updated_at = now() WHERE id = :id"),
               {"s": action.target, "id": app_id})
    _event(db, app_id, action.name, row.state, action.target, actor.username, note, details)
    return get_application(db, app_id)


def _date(value: Any, field_name: str, *, default: dt.date | None = None) -> dt.date:
    if value is None and default is not None:
        return default
    try:
        day = value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))
    except ValueError as exc:
        raise InvalidInput(f"{field_name} must be a date YYYY-MM-DD",
                           errors=[{"field": field_name, "message": f"got {value!r}"}]) from exc
    return not_future(day, field_name)


def _no_more(payload: dict[str, Any], action: str) -> None:
    if payload:
        raise InvalidInput(f"{action} does not take {', '.join(sorted(payload))}",
                           errors=[{"field": k, "message": "unexpected field"} for k in sorted(payload)])


def _app_row(db: DB, app_id: int):
    return db.execute(text("SELECT *, ST_AsGeoJSON(geom, 8) AS geometry FROM applications WHERE id = :id"),
                      {"id": app_id}).one()


def _proposal(app, attributes: dict[str, Any]) -> Proposal:
    return Proposal(name=app.proposed_name, category=get_category(app.category), specific=app.specific,
                    generic=app.generic, division_code=app.division_code,
                    site_area_m2=attributes.get("site_area_m2"), floor_area_m2=attributes.get("floor_area_m2"),
                    approval_documents=tuple(attributes.get("approval_documents", ())),
                    no_specific_link=tuple(attributes.get("no_specific_link", ())))


def name_findings(db: DB, app_id: int) -> list[Finding]:
    """The naming-rule findings for an application's proposed name (none for 注销)."""
    return _findings(db, _app_row(db, app_id))


def _findings(db: DB, app) -> list[Finding]:
    if app.kind == "cancel":
        return []
    geometry = json.loads(app.geometry) if app.geometry else None
    return check_proposal(db, _proposal(app, app.attributes), geometry=geometry,
                          exclude_name_id=app.name_id)


def _submit(db: DB, app_id: int, payload: dict[str, Any], actor: Account) -> dict[str, Any]:
    _no_more(payload, "submit")
    view = get_application(db, app_id)
    if view.missing_attachments:  # §9 rule 14
        labels = "、".join(ATTACHMENT_KINDS[k] for k in view.missing_attachments)
        raise Conflict(f"申请材料不全：缺少{labels} (§9 rule 14)",
                       errors=[{"field": "attachments", "message": f"missing {k}"}
                               for k in view.missing_attachments],
                       extra={"missing_attachments": view.missing_attachments})
    findings = name_findings(db, app_id)
    return {"findings": [f.as_dict() for f in findings]}


def _accept(db: DB, app_id: int, payload: dict[str, Any], actor: Account) -> dict[str, Any]:
    _no_more(payload, "accept")
    return {}


def _withdraw(db: DB, app_id: int, payload: dict[str, Any], actor: Account) -> dict[str, Any]:
    _no_more(payload, "withdraw")
    return {}


RECOMMENDATIONS = ("approve", "reject", "revise")


def _review(db: DB, app_id: int, payload: dict[str, Any], actor: Account) -> dict[str, Any]:
    opinion = text_field(payload.pop("opinion", None), "opinion", 4000, required=True)
    recommendation = payload.pop("recommendation", None)
    if recommendation not in RECOMMENDATIONS:
        raise InvalidInput(f"recommendation must be one of {', '.join(RECOMMENDATIONS)}",
                           errors=[{"field": "recommendation", "message": f"got {recommendation!r}"}])
    _no_more(payload, "review")
    findings = name_findings(db, app_id)
    return {"opinion": opinion, "recommendation": recommendation,
            "findings": [f.as_dict() for f in findings]}


def _reject(db: DB, app_id: int, payload: dict[str, Any], actor: Account) -> dict[str, Any]:
    reason = text_field(payload.pop("reason", None), "reason", 4000, required=True)
    _no_more(payload, "reject")
    return {"reason": reason}


def _approve(db: DB, app_id: int, payload: dict[str, Any], actor: Account) -> dict[str, Any]:
    app = _app_row(db, app_id)
    category = get_category(app.category)
    approval_date = _date(payload.pop("approval_date", None), "approval_date", default=today())
    document = text_field(payload.pop("approval_document", None), "approval_document", 200, required=True)
    consulted = bool(payload.pop("placename_dept_consulted", False))
    approver = authority.describe_approver(
        db, str(payload.pop("approver_kind", "")), payload.pop("approver_division", None),
        text_field(payload.pop("approver_name", None), "approver_name", 100))
    _no_more(payload, "approve")
    blocking = authority.authority_findings(category, approver, name_division=app.division_code,
                                            placename_dept_consulted=consulted)
    blocking += [f for f in _findings(db, app) if f.severity == "error"]
    if blocking:
        raise Conflict("不能批准：" + "；".join(f.message for f in blocking),
                       errors=[{"field": f"rule {f.rule}", "message": f.message} for f in blocking],
                       extra={"findings": [f.as_dict() for f in blocking]})
    if app.kind != "name":
        blocked = protection_block(db, app.name_id, app_id)  # §9 rule 20
        if blocked:
            raise Conflict(blocked, extra={"rule": 20})
    name_id = _write_registry(db, app, approval_date, approver, actor)
    target = authority.filing_target(db, approver)
    filing_due = authority.filing_due(approver, approval_date)
    announcement_due = authority.announcement_due(approver, approval_date, None)
    db.execute(text("""
        UPDATE applications SET name_id = :name_id, approver_kind = :kind, approver_division = :division,
            approver_name = :approver, approval_document = :doc, approval_date = :date,
            placename_dept_consulted = :consulted, filing_target = :target, filing_due = :fdue,
            announcement_due = :adue WHERE id = :id"""), {
        "name_id": name_id, "kind": approver.kind, "division": approver.division_code,
        "approver": approver.name, "doc": document, "date": approval_date, "consulted": consulted,
        "target": target, "fdue": filing_due, "adue": announcement_due, "id": app_id})
    return {"approver": approver.as_dict(), "approval_date": approval_date, "approval_document": document,
            "name_id": name_id, "filing_target": target, "filing_due": filing_due,
            "announcement_due": announcement_due}


def _write_registry(db: DB, app, approval_date: dt.date, approver: authority.Approver, actor: Account) -> int:
    """The approved change as a registry version, in the approval's transaction."""
    note = f"{KINDS[app.kind]}：{approver.name}批准 (application {app.id})"
    geometry = json.loads(app.geometry) if app.geometry else None
    if app.kind == "name":
        item = NameInput(name=app.proposed_name, category=app.category, division_code=app.division_code,
                         specific=app.specific, generic=app.generic, romanization=app.romanization,
                         geometry=geometry, source=f"命名批准 {approver.name}")
        return register(db, item, actor=actor.username, valid_from=approval_date,
                        application_id=app.id, change_note=note)
    if app.kind == "rename":
        changes = {"name": app.proposed_name, "specific": app.specific, "generic": app.generic,
                   "romanization": app.romanization, "category": app.category}
        if geometry:
            changes["geometry"] = geometry
    else:
        changes = {"status": "cancelled"}
    revise(db, app.name_id, changes, actor=actor.username, valid_from=approval_date,
           application_id=app.id, change_note=note)
    return app.name_id


def _file(db: DB, app_id: int, payload: dict[str, Any], actor: Account) -> dict[str, Any]:
    app = _app_row(db, app_id)
    filing_date = _date(payload.pop("filing_date", None), "filing_date", default=today())
    claimed = text_field(payload.pop("filing_target", None), "filing_target", 200)
    _no_more(payload, "file")
    if filing_date < app.approval_date:
        raise InvalidInput(f"filing_date {filing_date} is before the approval date {app.approval_date}",
                           errors=[{"field": "filing_date", "message": "before approval"}])
    if claimed and app.filing_target and claimed != app.filing_target:  # §9 rule 17
        raise InvalidInput(f"备案对象应为{app.filing_target}，不是{claimed} (Art. 13)",
                           errors=[{"field": "filing_target", "message": f"must be {app.filing_target}"}])
    approver = authority.describe_approver(db, app.approver_kind, app.approver_division, app.approver_name)
    announcement_due = authority.announcement_due(approver, app.approval_date, filing_date)
    db.execute(text("UPDATE applications SET filing_date = :d, announcement_due = :a WHERE id = :id"),
               {"d": filing_date, "a": announcement_due, "id": app_id})
    late = bool(app.filing_due and filing_date > app.filing_due)
    return {"filing_date": filing_date, "filing_target": app.filing_target or "无需备案（批准机关为最高机关）",
            "late": late, "announcement_due": announcement_due}


def _announce(db: DB, app_id: int, payload: dict[str, Any], actor: Account) -> dict[str, Any]:
    app = _app_row(db, app_id)
    published_on = _date(payload.pop("published_on", None), "published_on", default=today())
    location = text_field(payload.pop("location", None), "location", 500) or app.location_description
    _no_more(payload, "announce")
    if published_on < (app.filing_date or app.approval_date):
        raise InvalidInput("published_on is before the approval or filing date",
                           errors=[{"field": "published_on", "message": "too early"}])
    current = get_name(db, app.name_id, geometry=False)
    fields = {  # §9 rule 19: the six required fields of the 2023 备案公告管理办法
        "standard_name": current.name,
        "romanization": current.romanization, "division": _division_label(db, app.division_code),
        "location": location, "approver": app.approver_name, "approval_date": app.approval_date,
    }
    missing = [k for k, v in fields.items() if not v]
    if missing:
        raise InvalidInput(f"公告缺少必备事项：{', '.join(missing)} (§9 rule 19)",
                           errors=[{"field": k, "message": "required in an announcement"} for k in missing])
    former = None
    if app.kind == "rename":
        versions = db.execute(text("SELECT name FROM place_names WHERE name_id = :n AND valid_to IS NOT NULL "
                                   "ORDER BY valid_to DESC LIMIT 1"), {"n": app.name_id}).scalar()
        former = versions
    ann_id = db.execute(text("""
        INSERT INTO announcements (application_id, name_id, kind, standard_name, romanization, division,
            location, approver, approval_date, published_on, former_name)
        VALUES (:a, :n, :k, :standard_name, :romanization, :division, :location, :approver,
            :approval_date, :p, :former) RETURNING id"""),
        {**fields, "a": app_id, "n": app.name_id, "k": app.kind, "p": published_on, "former": former}
    ).scalar_one()
    db.execute(text("UPDATE applications SET announcement_date = :d WHERE id = :id"),
               {"d": published_on, "id": app_id})
    late = bool(app.announcement_due and published_on > app.announcement_due)
    return {"announcement_id": ann_id, "published_on": published_on, "late": late, **fields}


def _division_label(db: DB, code: str) -> str:
    """所属政区 as a chain: 浙江省湖州市吴兴区."""
    return "".join(ref.name for ref in chain_of(db, code, DivisionCode.parse(code).level))


HANDLERS = {
    "submit": _submit, "withdraw": _withdraw, "accept": _accept, "review": _review,
    "approve": _approve, "reject": _reject, "file": _file, "announce": _announce,
}
