"""The address parser judged against the hand-labelled suite `tests/data/addresses_labelled.csv`.

Run `python -m addresses.accuracy [CSV] [--show-failures N] [--class C]`.

Scoring rules:

- Each component (province … village codes; road … roomno texts) is scored over every row: accuracy =
  correct / rows, where a row whose label is empty is correct only when the parser gives nothing too.
  Such wrong values are also counted apart as *false positives*, and `recall` = correct / rows with a
  filled label shows how often the parser finds what is there.
- Texts are compared after `addresses.normalize.normalize` on both sides (full-width, Traditional,
  Chinese numerals); codes are compared as strings, `None` and `""` being the same.
- **all-admin**: a row passes when province, city, county and town codes all equal the labels, an empty
  label included (inventing a township the text does not name is an error, as is missing one), and the
  village code equals the label where the suite gives one. Villages are labelled only where the text
  names one, so an unlabelled row does not judge the parser's village.
"""

from __future__ import annotations

import argparse
import csv
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from addresses.normalize import normalize
from data.db import make_engine
from data.settings import get_settings

DEFAULT_CSV = Path(__file__).resolve().parent.parent / "tests" / "data" / "addresses_labelled.csv"
ADMIN_FIELDS = ("province_code", "city_code", "county_code", "town_code", "village_code")
STRICT_ADMIN_FIELDS = ADMIN_FIELDS[:4]
TEXT_FIELDS = ("road", "roadno", "poi", "houseno", "cellno", "floorno", "roomno")
COMPONENTS = ADMIN_FIELDS + TEXT_FIELDS
CLASSES = ("plain", "suffixless", "devzone", "samename", "municipality", "provincial_county", "no_county",
           "oldname", "placeroad", "abbrev", "town_start", "autonomous", "messy")


@dataclass(frozen=True, slots=True)
class LabelledAddress:
    """One row of the suite: the input text, its class and the expected components ('' = absent)."""

    id: str
    text: str
    cls: str
    expected: dict[str, str]
    note: str = ""


@dataclass(slots=True)
class ComponentScore:
    """Counts for one component over the evaluated rows."""

    name: str
    labelled: int = 0
    correct: int = 0
    unlabelled: int = 0
    false_positives: int = 0

    @property
    def accuracy(self) -> float:
        """Correct share of all rows, an empty label counting as right only when the parser is empty."""
        total = self.labelled + self.unlabelled
        return (self.correct + self.unlabelled - self.false_positives) / total if total else 1.0

    @property
    def recall(self) -> float:
        """Correct share of the rows where the suite gives a value."""
        return self.correct / self.labelled if self.labelled else 1.0


@dataclass(frozen=True, slots=True)
class Failure:
    """A row with at least one wrong component: field → (expected, got)."""

    row: LabelledAddress
    wrong: dict[str, tuple[str, str]]
    admin_ok: bool


@dataclass(slots=True)
class Report:
    """The outcome of `evaluate`: per-component scores, all-admin rates and the failing rows."""

    rows: int
    components: dict[str, ComponentScore]
    all_admin_correct: int
    by_class: dict[str, list[int]]  # class -> [all-admin correct, rows]
    failures: list[Failure] = field(default_factory=list)
    warning_kinds: Counter = field(default_factory=Counter)

    @property
    def all_admin(self) -> float:
        """Share of rows whose admin codes are all right (see the module docstring)."""
        return self.all_admin_correct / self.rows if self.rows else 1.0

    def class_rate(self, cls: str) -> float:
        """All-admin rate of one class."""
        correct, total = self.by_class.get(cls, (0, 0))
        return correct / total if total else 1.0

    def score(self, name: str) -> float:
        """Accuracy of one component (see the module docstring)."""
        return self.components[name].accuracy

    def summary(self, show_failures: int = 40) -> str:
        """Plain-text report (for assertion messages and logs)."""
        lines = [f"rows {self.rows}; all-admin {self.all_admin:.3f} ({self.all_admin_correct}/{self.rows})"]
        for name in COMPONENTS:
            part = self.components[name]
            lines.append(f"  {name:<14} accuracy {part.accuracy:.3f}; found {part.correct}/{part.labelled}; "
                         f"false positives {part.false_positives}/{part.unlabelled}")
        lines.append("  by class: " + ", ".join(f"{c} {self.class_rate(c):.3f} ({n[0]}/{n[1]})"
                                                for c, n in sorted(self.by_class.items())))
        for failure in self.failures[:show_failures]:
            lines.append(f"  {failure.row.id} [{failure.row.cls}] {failure.row.text}")
            lines.extend(f"      {name}: expected {exp!r} got {got!r}" for name, (exp, got) in failure.wrong.items())
        if len(self.failures) > show_failures:
            lines.append(f"  … {len(self.failures) - show_failures} more failing rows")
        return "\n".join(lines)


def load_labelled(path: Path | str = DEFAULT_CSV) -> list[LabelledAddress]:
    """Read the labelled suite (UTF-8 CSV with a header row)."""
    with open(path, encoding="utf-8", newline="") as handle:
        return [LabelledAddress(id=rec["id"], text=rec["text"], cls=rec["class"],
                                expected={name: (rec[name] or "").strip() for name in COMPONENTS},
                                note=rec.get("note") or "")
                for rec in csv.DictReader(handle)]


def _got(parsed: Any, name: str) -> str:
    return (getattr(parsed, name, None) or "").strip()


def _same(name: str, expected: str, got: str) -> bool:
    if not expected or not got:
        return expected == got
    if name in TEXT_FIELDS:
        return normalize(expected) == normalize(got)
    return expected == got


def _admin_ok(row: LabelledAddress, wrong: dict[str, tuple[str, str]]) -> bool:
    if any(name in wrong for name in STRICT_ADMIN_FIELDS):
        return False
    return not (row.expected["village_code"] and "village_code" in wrong)


def evaluate(rows: Sequence[LabelledAddress], parsed: Sequence[Any]) -> Report:
    """Score PARSED (objects with the ParsedAddress attributes, in the order of ROWS) against ROWS."""
    if len(rows) != len(parsed):
        raise ValueError(f"{len(rows)} labelled rows but {len(parsed)} parsed results")
    report = Report(rows=len(rows), components={name: ComponentScore(name) for name in COMPONENTS},
                    all_admin_correct=0, by_class={})
    for row, result in zip(rows, parsed, strict=True):
        wrong = _score_row(report, row, result)
        admin_ok = _admin_ok(row, wrong)
        tally = report.by_class.setdefault(row.cls, [0, 0])
        tally[0] += admin_ok
        tally[1] += 1
        report.all_admin_correct += admin_ok
        report.warning_kinds.update(w.get("kind", "?") for w in getattr(result, "warnings", None) or [])
        if wrong:
            report.failures.append(Failure(row, wrong, admin_ok))
    # Admin failures first: they are what the suite is mostly about.
    report.failures.sort(key=lambda f: (f.admin_ok, f.row.id))
    return report


def _score_row(report: Report, row: LabelledAddress, result: Any) -> dict[str, tuple[str, str]]:
    wrong = {}
    for name in COMPONENTS:
        expected, got = row.expected[name], _got(result, name)
        part = report.components[name]
        ok = _same(name, expected, got)
        if expected:
            part.labelled += 1
            part.correct += ok
        else:
            part.unlabelled += 1
            part.false_positives += not ok
        # An unlabelled village is not judged (see the module docstring), so it is no failure either.
        if not ok and (expected or name != "village_code"):
            wrong[name] = (expected, got)
    return wrong


def parse_rows(rows: Iterable[LabelledAddress], db: Any) -> list[Any]:
    """Run the parser on the texts of ROWS with the admin index read from DB."""
    # Imported here so the suite and `evaluate` load (and the data checks run) without the parser.
    from addresses.admin import admin_index
    from addresses.parse import parse

    return list(parse([row.text for row in rows], admin_index(db)))


def render(report: Report, console: Console, show_failures: int) -> None:
    """Print the report as rich tables: components, classes, failures."""
    table = Table(title=f"Address parser accuracy — {report.rows} rows, "
                        f"all-admin {report.all_admin:.1%} ({report.all_admin_correct}/{report.rows})")
    for column in ("component", "accuracy", "labelled", "found", "recall", "false pos."):
        table.add_column(column, justify="left" if column == "component" else "right")
    for name in COMPONENTS:
        part = report.components[name]
        table.add_row(name, f"{part.accuracy:.1%}", str(part.labelled), str(part.correct), f"{part.recall:.1%}",
                      f"{part.false_positives}/{part.unlabelled}")
    console.print(table)
    classes = Table(title="All-admin by class")
    for column in ("class", "rows", "all-admin"):
        classes.add_column(column, justify="left" if column == "class" else "right")
    for cls, (correct, total) in sorted(report.by_class.items()):
        classes.add_row(cls, str(total), f"{correct / total:.1%} ({correct})")
    console.print(classes)
    if report.warning_kinds:
        console.print("warnings: " + ", ".join(f"{k} {n}" for k, n in report.warning_kinds.most_common()))
    _render_failures(report, console, show_failures)


def _render_failures(report: Report, console: Console, show_failures: int) -> None:
    if not show_failures or not report.failures:
        return
    table = Table(title=f"Failures ({min(show_failures, len(report.failures))} of {len(report.failures)})")
    for column in ("id", "class", "input", "field", "expected", "got"):
        table.add_column(column, overflow="fold")
    for failure in report.failures[:show_failures]:
        first = True
        for name, (expected, got) in failure.wrong.items():
            head = (failure.row.id, failure.row.cls, failure.row.text) if first else ("", "", "")
            table.add_row(*head, name, expected or "—", got or "—")
            first = False
    console.print(table)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: load the suite, parse it against the configured database, print the report."""
    args = _arguments(argv)
    rows = load_labelled(args.csv)
    if args.cls:
        rows = [row for row in rows if row.cls == args.cls]
    engine = make_engine(get_settings())
    try:
        with Session(engine) as session:
            parsed = parse_rows(rows, session)
    finally:
        engine.dispose()
    render(evaluate(rows, parsed), Console(), args.show_failures)
    return 0


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m addresses.accuracy", description=__doc__.splitlines()[0])
    parser.add_argument("csv", nargs="?", default=DEFAULT_CSV, type=Path, help="labelled CSV")
    parser.add_argument("--show-failures", type=int, default=20, metavar="N", help="failing rows to list")
    parser.add_argument("--class", dest="cls", choices=CLASSES, help="only rows of this class")
    return parser.parse_args(argv)


if __name__ == "__main__":
    raise SystemExit(main())
