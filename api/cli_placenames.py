"""`gazetteer placenames …` and `gazetteer applications …`: the place-name domain from the shell.

Commands that change data act as a staff account (`--as USERNAME`); the operator running them has
database access, so no password is asked, but the account's role is enforced and the actor audited.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from boundaries.codes import DivisionCode
from data.errors import NotFound

placenames_app = typer.Typer(help="Standard place names: registry, romanization, checks, audit.",
                             no_args_is_help=True)
applications_app = typer.Typer(help="命名/更名/注销 applications and announcements.", no_args_is_help=True)
console = Console(stderr=True)
AsUser = Annotated[str, typer.Option("--as", help="staff account to act as")]


def _engine():
    from data.db import make_engine
    from data.settings import get_settings
    from placenames.rules import use_extra_wordlists

    settings = get_settings()
    use_extra_wordlists(settings.wordlists_dir)
    return make_engine(settings)


def _progress():
    from api.cli import _progress as progress

    return progress()


def _account(session: Session, username: str):
    from data.accounts import get_account

    account = get_account(session, username)
    if account is None or not account.active:
        raise NotFound(f"no active account {username!r}; create it with `gazetteer users add`")
    return account


def _print_json(value: Any) -> None:
    print(json.dumps(value, ensure_ascii=False, indent=2, default=str))


@placenames_app.command("seed")
def seed() -> None:
    """Register every division name (provinces to villages) once."""
    from placenames.seed import seed_from_divisions

    with _progress() as progress, _engine().begin() as conn:
        task = progress.add_task("division names", total=None)
        count = seed_from_divisions(conn, on_progress=lambda n: progress.advance(task, n))
    console.print(f"registered {count} division names")


@placenames_app.command("import")
def import_file(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="census-style CSV")],
    as_user: Annotated[str, typer.Option("--as", help="account recorded as the actor")] = "system",
) -> None:
    """Import census-style CSV (标准名称, 类别, 所在(跨)行政区, 东经, 北纬 …); all rows or none."""
    from placenames.csv_import import import_csv

    rows = sum(1 for _ in file.open(encoding="utf-8", errors="ignore")) - 1
    with _progress() as progress, _engine().begin() as conn:
        task = progress.add_task(file.name, total=max(rows, 0))
        report = import_csv(conn, file, actor=as_user, on_progress=lambda n: progress.advance(task, n))
    console.print(f"added {report.added}, skipped {report.skipped} already registered")


@placenames_app.command("search")
def search(q: str, division: str | None = None, category: str | None = None, limit: int = 20) -> None:
    """Search by Chinese, pinyin or initials."""
    from placenames import registry
    from placenames.categories import get_category

    query = registry.SearchQuery(q=q, division=DivisionCode.parse(division) if division else None,
                                 category=get_category(category) if category else None, limit=limit)
    with Session(_engine()) as session:
        items, _ = registry.search(session, query)
    table = Table("id", "name", "romanization", "category", "division")
    for item in items:
        table.add_row(str(item.id), item.name, item.romanization or "", item.category_name,
                      item.division_code or "")
    Console().print(table)


@placenames_app.command("show")
def show(name_id: int, history: bool = False) -> None:
    """Print one name (or all its versions) as JSON."""
    from placenames import registry

    with Session(_engine()) as session:
        value = ([v.as_dict() for v in registry.history(session, name_id)] if history
                 else registry.get_name(session, name_id).as_dict())
    _print_json(value)


@placenames_app.command("romanize")
def romanize(name: str, category: str | None = None, division: str | None = None) -> None:
    """Romanize a name: text, sign text and the rule behind each segment."""
    from placenames.categories import get_category
    from placenames.overrides import romanize_with_overrides

    with Session(_engine()) as session:
        result = romanize_with_overrides(session, name, get_category(category) if category else None,
                                         division_code=division)
    _print_json(result.as_dict())


@placenames_app.command("override")
def override(name: str, romanization: str, reason: Annotated[str, typer.Option()], as_user: AsUser,
             category: str | None = None) -> None:
    """Store a reviewer's romanization override (reason required, audited)."""
    from placenames.overrides import set_override

    with Session(_engine()) as session, session.begin():
        account = _account(session, as_user)
        if account.role not in ("reviewer", "approver", "admin"):
            raise typer.BadParameter(f"{as_user} is {account.role}; overrides need a reviewer")
        _print_json(set_override(session, name=name, romanization=romanization, reason=reason,
                                 actor=account.username, category=category).as_dict())


@placenames_app.command("check")
def check(name: str, category: Annotated[str, typer.Option()], division: Annotated[str, typer.Option()],
          site_area: float | None = None, floor_area: float | None = None) -> None:
    """Run the naming rules on a proposed name; exit 1 when an error-level finding is found."""
    from placenames.categories import get_category
    from placenames.checks import check_proposal
    from placenames.rules import Proposal, validate_name

    proposal = Proposal(name=validate_name(name), category=get_category(category), division_code=division,
                        site_area_m2=site_area, floor_area_m2=floor_area)
    with Session(_engine()) as session:
        findings = check_proposal(session, proposal)
    _print_json([f.as_dict() for f in findings])
    if any(f.severity == "error" for f in findings):
        raise typer.Exit(1)


@placenames_app.command("audit")
def audit_names(
    out: Annotated[Path, typer.Option(help="folder for 不规范地名.csv and .html")] = Path("audit"),
    division: Annotated[str | None, typer.Option(help="only names in this division")] = None,
) -> None:
    """Run every rule over the registry and write the 不规范地名 list as CSV and HTML."""
    from placenames.cleanup import audit_registry, write_csv, write_html

    code = DivisionCode.parse(division) if division else None
    out.mkdir(parents=True, exist_ok=True)
    with _progress() as progress, _engine().connect() as conn:
        task = progress.add_task("names checked", total=None)
        result = audit_registry(conn, division=code, on_progress=lambda n: progress.advance(task, n))
    write_csv(result, out / "不规范地名.csv")
    write_html(result, out / "不规范地名.html", scope=f"政区 {division}" if division else "全部登记地名")
    table = Table("rule", "code", "severity", "count")
    for rule, code_, severity, count in result.counts():
        table.add_row(str(rule), code_, severity, str(count))
    Console().print(table)
    console.print(f"{result.checked} names checked, {result.names_flagged()} flagged; wrote {out}/不规范地名.csv "
                  f"and .html")


@applications_app.command("list")
def list_applications(state: str | None = None, overdue: bool | None = None) -> None:
    """List applications (newest first), optionally only overdue ones."""
    from placenames.workflow import list_applications as fetch

    with Session(_engine()) as session:
        items, _ = fetch(session, state=state, overdue=overdue, limit=200)
    table = Table("id", "kind", "state", "name", "filing due", "announcement due", "overdue")
    for a in items:
        table.add_row(str(a.id), a.kind_label, a.state_label, a.proposed_name or str(a.name_id),
                      a.filing_due or "", a.announcement_due or "", ", ".join(a.overdue))
    Console().print(table)


@applications_app.command("show")
def show_application(app_id: int) -> None:
    """Print one application with events and deadlines as JSON."""
    from placenames.workflow import get_application

    with Session(_engine()) as session:
        _print_json(get_application(session, app_id).as_dict())


@applications_app.command("create")
def create(file: Annotated[Path, typer.Argument(exists=True, help="JSON body as for POST /v1/applications")],
           as_user: AsUser) -> None:
    """Open a draft application from a JSON file."""
    from placenames.workflow import ApplicationInput, create_application

    body = json.loads(file.read_text(encoding="utf-8"))
    with Session(_engine()) as session, session.begin():
        app_id = create_application(session, ApplicationInput(**body), actor=_account(session, as_user))
    console.print(f"created application {app_id}")


@applications_app.command("attach")
def attach(app_id: int, kind: str, file: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
           as_user: AsUser, media_type: str = "application/pdf") -> None:
    """Attach a report (its SHA-256 is computed and stored)."""
    import hashlib

    from placenames.workflow import add_attachment

    content = file.read_bytes()
    with Session(_engine()) as session, session.begin():
        stored = add_attachment(session, app_id, kind=kind, filename=file.name, media_type=media_type,
                                content=content, sha256=hashlib.sha256(content).hexdigest(),
                                actor=_account(session, as_user))
    _print_json(stored)


@applications_app.command("act")
def act(app_id: int, action: str, as_user: AsUser,
        data: Annotated[str, typer.Option(help="JSON object of the action's fields")] = "{}") -> None:
    """Take a workflow action: submit, withdraw, accept, review, approve, reject, file, announce."""
    from placenames.workflow import transition

    with Session(_engine()) as session, session.begin():
        view = transition(session, app_id, action, json.loads(data), actor=_account(session, as_user))
    console.print(f"application {app_id}: {view.state_label} ({view.state}); next: {', '.join(view.next_actions)}")


def _acting(session: Session, username: str, roles: tuple[str, ...]):
    account = _account(session, username)
    if account.role not in roles:
        raise typer.BadParameter(f"{username} is {account.role}; this needs {' or '.join(roles)}")
    return account


@placenames_app.command("protect")
def protect(name_id: int, category: Annotated[str, typer.Option(help="历史地名, 红色地名, 文化地名…")],
            reason: Annotated[str, typer.Option()], as_user: AsUser,
            measure: Annotated[list[str], typer.Option(help="KIND:DESCRIPTION, repeatable")] = ()) -> None:
    """Put a name on the 地名保护名录 (admin or approver)."""
    from placenames.protection import protect as add

    measures = [dict(zip(("kind", "description"), m.split(":", 1), strict=True)) for m in measure]
    with Session(_engine()) as session, session.begin():
        account = _acting(session, as_user, ("admin", "approver"))
        entry = add(session, name_id=name_id, category=category, reason=reason, measures=measures,
                    actor=account.username)
    console.print(f"protected-name entry {entry}")


@placenames_app.command("protected")
def protected(category: str | None = None) -> None:
    """List the protection list."""
    from placenames.protection import list_protected

    with Session(_engine()) as session:
        page = list_protected(session, category=category, limit=200)
    _print_json([item.as_dict() for item in page.items])


@placenames_app.command("sign-add")
def sign_add(name_id: int, kind: str, lon: float, lat: float, text_zh: str, text_pinyin: str, as_user: AsUser,
             condition: str = "good") -> None:
    """Record a 地名标志 (admin, reviewer or surveyor) and print its text checks."""
    from placenames.signs import add_sign, get_sign

    with Session(_engine()) as session, session.begin():
        account = _acting(session, as_user, ("admin", "reviewer", "surveyor"))
        sign_id = add_sign(session, name_id=name_id, kind=kind, lon=lon, lat=lat, text_zh=text_zh,
                           text_pinyin=text_pinyin, condition=condition, actor=account.username)
        _print_json(get_sign(session, sign_id).as_dict())


@placenames_app.command("signs")
def signs(mismatched: Annotated[bool, typer.Option(help="only signs whose text is wrong")] = False) -> None:
    """List signs, optionally only those that do not match their standard name."""
    from placenames.signs import list_signs

    with Session(_engine()) as session:
        page = list_signs(session, mismatched=True if mismatched else None, limit=200)
    _print_json([item.as_dict() for item in page.items])


@placenames_app.command("sign-inspect")
def sign_inspect(sign_id: int, condition: str, as_user: AsUser, note: str | None = None,
                 date: Annotated[str | None, typer.Option(help="YYYY-MM-DD, default today")] = None) -> None:
    """Record an inspection of a sign (good, damaged, faded, missing, moved)."""
    import datetime as dt

    from placenames.registry import today
    from placenames.signs import inspect_sign

    with Session(_engine()) as session, session.begin():
        account = _acting(session, as_user, ("admin", "reviewer", "surveyor"))
        inspect_sign(session, sign_id, inspected_on=dt.date.fromisoformat(date) if date else today(),
                     condition=condition, note=note, actor=account.username)
    console.print(f"sign {sign_id}: {condition}")
