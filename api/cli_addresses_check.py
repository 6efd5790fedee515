"""`gazetteer addresses check`: plate numbering and address hierarchy checks (§9 rules 46–49) from the shell.

Exit status 0 when no error-level finding, 1 when there is one (so a data pipeline can gate on it),
2 for a bad option.
"""

from __future__ import annotations

import csv
import json
import sys
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, TextIO

import typer
from rich.console import Console
from rich.table import Table

from addresses.checks import Finding, summarize
from boundaries.codes import DivisionCode, InvalidCode

console = Console(stderr=True)
SHOWN_CODES = 3  # address codes per row in the table; CSV and JSON carry all listed codes


class Format(StrEnum):
    """Output formats."""

    table = "table"
    csv = "csv"
    json = "json"


def check_cmd(
    division: Annotated[str | None, typer.Option(help="only addresses in this division (6, 9 or 12 digits)")] = None,
    fmt: Annotated[Format, typer.Option("--format", help="table, csv or json")] = Format.table,
    out: Annotated[Path | None, typer.Option(help="write the findings to this file, not to the terminal")] = None,
) -> None:
    """Check plate numbering and the address hierarchy (§9 rules 46–49); exit 1 when errors are found."""
    from addresses.checks import check_plates
    from data.db import make_engine
    from data.settings import get_settings

    code = _division(division)
    with make_engine(get_settings()).connect() as conn:
        findings = check_plates(conn, division=code)
    with _target(out) as stream:
        write_findings(findings, fmt, stream)
    summary = summarize(findings)
    print_summary(summary, where=f"division {division}" if division else "all addresses")
    if out:
        console.print(f"wrote {out}")
    raise typer.Exit(exit_code(findings))


def exit_code(findings: list[Finding]) -> int:
    """1 when any finding is an error, else 0."""
    return 1 if any(f.severity == "error" for f in findings) else 0


def write_findings(findings: list[Finding], fmt: Format, stream: TextIO) -> None:
    """Write FINDINGS to STREAM as a table, CSV or JSON (with the summary)."""
    if fmt is Format.json:
        json.dump({"summary": summarize(findings), "findings": [f.as_dict() for f in findings]}, stream,
                  ensure_ascii=False, indent=2)
        stream.write("\n")
    elif fmt is Format.csv:
        writer = csv.writer(stream)
        writer.writerow(["rule", "code", "severity", "street", "address_codes", "message", "source", "evidence"])
        for f in findings:
            writer.writerow([f.rule, f.code, f.severity, f.street, " ".join(f.address_codes), f.message, f.source,
                             json.dumps(f.evidence, ensure_ascii=False, default=str)])
    else:
        out = Console(file=stream, width=200 if not stream.isatty() else None)
        out.print(_table(findings) if findings else "no findings")


def print_summary(summary: dict, *, where: str) -> None:
    """One line of totals and one per rule, on standard error."""
    console.print(f"{where}: {summary['total']} findings, {summary['errors']} errors, "
                  f"{summary['warnings']} warnings")
    for rule, counts in summary["by_rule"].items():
        console.print(f"  rule {rule}: {counts.get('error', 0)} errors, {counts.get('warning', 0)} warnings")


def _table(findings: list[Finding]) -> Table:
    table = Table("rule", "severity", "street", "codes", "message", title="address checks (§9 rules 46–49)")
    for f in findings:
        codes = f.address_codes[:SHOWN_CODES]
        more = len(f.address_codes) - len(codes)
        table.add_row(str(f.rule), f"[red]{f.severity}[/red]" if f.severity == "error" else f.severity,
                      f.street, "\n".join(codes) + (f"\n… {more} more" if more else ""), f.message)
    return table


def _division(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return DivisionCode.parse(value).value
    except InvalidCode as exc:
        raise typer.BadParameter(exc.detail, param_hint="--division") from exc


@contextmanager
def _target(out: Path | None):
    if out is None:
        yield sys.stdout
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8", newline="") as stream:
        yield stream
