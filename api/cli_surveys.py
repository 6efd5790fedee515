"""`gazetteer surveys …`: import survey files as batches, purge unfinished attachment uploads.

An import acts as a staff account (`--as USERNAME`, a surveyor assigned to the lines, or a reviewer
or admin); the operator has database access, so no password is asked, but the role is enforced and
the account recorded as the uploader.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from api.cli_support import one_line_errors, unit
from data.errors import InvalidInput, NotFound

surveys_app = typer.Typer(help="Field surveys of boundary markers.", no_args_is_help=True)
console = Console(stderr=True)


def _when(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"--captured-at {value!r} is not an ISO date and time, e.g. 2026-11-20T09:30+08:00",
                           errors=[{"field": "captured_at", "message": "not a time"}]) from None


def _receipt_table(receipt: dict) -> Table:
    table = Table(title=f"batch {receipt['batch']}" + (" (dry run)" if receipt["dry_run"] else ""))
    for column in ("#", "record", "kind", "marker / line", "outcome", "reasons"):
        table.add_column(column)
    for i, rec in enumerate(receipt["records"], start=1):
        reasons = "; ".join(f"{r['code']}: {r['message']}" for r in rec["reasons"])
        table.add_row(str(i), rec["uuid"][:8], rec["kind"], rec["marker"] or rec["line_id"] or "",
                      rec["outcome"], reasons)
    return table


@surveys_app.command("import")
def import_survey(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="GeoPackage, GeoJSON, CSV or GPX")],
    as_user: Annotated[str, typer.Option("--as", help="the surveyor's account (the uploader)")],
    device: Annotated[str, typer.Option(help="device or tool the file came from")] = "file import",
    datum: Annotated[str | None, typer.Option(help="CGCS2000, WGS84 or GCJ02; default: the file's CRS, "
                                                    "else CGCS2000")] = None,
    line: Annotated[str | None, typer.Option(help="line id for rows without one, e.g. 330102-330105")] = None,
    captured_at: Annotated[str | None, typer.Option(help="ISO time; default: the file's latest time")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="check and show the receipt, store nothing")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the receipt as JSON")] = False,
) -> None:
    """Import a survey file as one batch; importing the same file again gives the same receipt."""
    from api.cli import _progress
    from boundaries.survey_import import import_file, read_survey_file
    from data.accounts import get_account
    from data.settings import get_settings

    with one_line_errors(console):
        when = _when(captured_at)
        with unit() as session, _progress() as progress:
            account = get_account(session, as_user)
            if account is None or not account.active:
                raise NotFound(f"no active account {as_user!r}; create it with `gazetteer users add`")
            survey = read_survey_file(file)
            task = progress.add_task(file.name, total=len(survey.rows))
            imported = import_file(session, get_settings(), survey, actor=account.username, role=account.role,
                                   device=device, datum=datum, line_id=line, captured_at=when, dry_run=dry_run,
                                   on_progress=lambda n: progress.advance(task, n))
    receipt = imported.result.receipt
    if as_json:
        print(json.dumps(receipt, ensure_ascii=False, indent=2, sort_keys=True))
        return
    Console().print(_receipt_table(receipt))
    counts = receipt["counts"]
    stored = "stored" if imported.result.created else "dry run, nothing stored" if dry_run else "stored already"
    console.print(f"{counts['total']} records: {counts['accepted']} accepted, {counts['flagged']} flagged, "
                  f"{counts['rejected']} rejected ({stored})")


@surveys_app.command("purge-uploads")
def purge_uploads() -> None:
    """Delete unfinished attachment uploads past their 24 h expiry."""
    from boundaries.attachments import purge_expired_uploads

    with one_line_errors(console), unit() as session:
        gone = purge_expired_uploads(session)
    console.print(f"purged {gone} expired upload(s)")
