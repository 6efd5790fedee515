"""Demo joint inspections (synthetic) on the demo lines of 杭州市 and 浙江—安徽.

For every current line with a party in 杭州市 (3301…) and the 浙江—安徽 provincial line, the past
routine rounds are replayed through the domain functions so that the last one completes on the line's
`last_inspection` (county and township lines: two rounds five years apart; provincial lines: three,
none before the first national round of 2003). Each round records every marker, one section
observation, completes, and issues its report (so the next round finds the previous 联检报告). The
findings are drawn from a hash of (line, round, marker): a few markers damaged, lost or displaced
(the displaced ones by a measured position beyond the tolerance), some measured within it. Repair
tasks of earlier rounds are closed with the neighbour present; about half of the last round's stay
open. The line with the oldest last inspection gets its next round in progress. Lines without
`last_inspection` are left never inspected; lines without markers get section observations only.
Everything is deterministic: the same lines give the same inspections, findings and reports.
"""

from __future__ import annotations

import datetime as dt
import math
import zlib
from collections.abc import Callable

from sqlalchemy import Connection, text

from boundaries import inspections as insp
from boundaries.findings import tolerance_m
from boundaries.reports import issue_report
from data import audit
from data.settings import Settings

DEMO_DATASET = "demo-inspections"
ACTOR = "demo"
FIRST_NATIONAL_ROUND = dt.date(2003, 1, 1)
ROUNDS = {"province": 3, "county": 2, "township": 2}
METRES_PER_DEGREE = 111_320.0
_SCOPE = ("l.valid_to IS NULL AND (l.left_code LIKE '3301%' OR l.right_code LIKE '3301%' "
          "OR l.line_id = '330000-340000')")


def _shift_years(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def _draw(*parts: object) -> int:
    """A deterministic number 0–99 for the parts."""
    return zlib.crc32(":".join(map(str, parts)).encode()) % 100


def _ensure_documents(conn: Connection, line) -> None:
    """A 协议书 and a 界桩登记表 for the line (labelled 示例) unless it has them."""
    have = set(conn.execute(text("SELECT kind FROM line_documents WHERE line_id = :l"), {"l": line.line_id}).scalars())
    for kind, title in (("协议书", f"{line.name}界线协议书(示例)"), ("界桩登记表", f"{line.name}界桩登记表(示例)")):
        if kind not in have:
            document_id = conn.execute(text(
                "INSERT INTO line_documents (line_id, kind, title, doc_number, signed_on, added_by) "
                "VALUES (:l, :k, :t, '示例', :d, :a) RETURNING id"),
                {"l": line.line_id, "k": kind, "t": title, "d": FIRST_NATIONAL_ROUND, "a": ACTOR}).scalar_one()
            audit.record(conn, actor=ACTOR, action="create", entity_type="line_document", entity_id=str(document_id),
                         after={"line_id": line.line_id, "kind": kind, "title": title})


def _result(line_id: str, round_: int, marker, tolerance: float) -> insp.MarkerResult:
    draw = _draw(line_id, round_, marker.number)
    east = 1 / (METRES_PER_DEGREE * math.cos(math.radians(marker.lat)))
    if draw < 4:
        return insp.MarkerResult(marker.number, "损坏", notes="界桩碑体破损(示例)")
    if draw < 7:
        return insp.MarkerResult(marker.number, "丢失", reference_objects_complete=False, notes="未找到界桩(示例)")
    if draw < 10:  # measured beyond the tolerance: 移位 by rule 38
        return insp.MarkerResult(marker.number, "完好", lon=marker.lon + 3 * tolerance * east, lat=marker.lat,
                                 accuracy_m=0.02, notes="实测位置与登记不符(示例)")
    if draw < 30:
        return insp.MarkerResult(marker.number, "完好", lon=marker.lon + 0.3 * tolerance * east, lat=marker.lat,
                                 accuracy_m=0.02)
    return insp.MarkerResult(marker.number, "完好", reference_objects_complete=draw >= 33)


def _markers(conn: Connection, line_id: str) -> list:
    return conn.execute(text(
        "SELECT number, ST_X(geom) AS lon, ST_Y(geom) AS lat FROM markers WHERE line_id = :l "
        "AND retired_on IS NULL ORDER BY seq, type_code"), {"l": line_id}).all()


def _record_round(conn: Connection, settings: Settings, line, inspection: insp.Inspection, markers: list,
                  count: int | None = None) -> None:
    tolerance = tolerance_m(settings, line.level)
    for marker in markers[:count]:
        insp.record_marker_result(conn, settings, inspection.id, _result(line.line_id, inspection.round, marker,
                                                                         tolerance), actor=ACTOR)
    changed = _draw(line.line_id, inspection.round, "section") < 30
    insp.record_section(conn, inspection.id, insp.SectionResult(
        markers[0].number if markers else None, markers[-1].number if markers else None, None, True,
        changes_near_line="界线附近新修道路(示例)" if changed else None), actor=ACTOR)


def _close_repairs(conn: Connection, settings: Settings, inspection_id: int, *, keep_some: bool) -> None:
    for task in insp.repair_tasks_of(conn, inspection_id):
        if task.state == "open" and not (keep_some and _draw(task.marker_number, "repair") < 50):
            insp.close_repair_task(conn, settings, task.id, neighbour_present=True, note="已会同相邻方修复(示例)",
                                   actor=ACTOR)


def _line_rounds(conn: Connection, settings: Settings, line, on_progress: Callable[[int], None] | None) -> int:
    if line.last_inspection is None or line.last_inspection > insp.today_shanghai():
        return 0
    days = [_shift_years(line.last_inspection, -5 * k) for k in reversed(range(ROUNDS[line.level]))]
    days = [d for d in days if d >= FIRST_NATIONAL_ROUND] or [line.last_inspection]
    _ensure_documents(conn, line)
    markers = _markers(conn, line.line_id)
    for number, day in enumerate(days, start=1):
        inspection = insp.plan_inspection(conn, line.line_id, planned_start=day - dt.timedelta(days=60),
                                          planned_end=day + dt.timedelta(days=30), actor=ACTOR)
        _record_round(conn, settings, line, inspection, markers)
        insp.complete_inspection(conn, inspection.id, day, f"第{inspection.round}轮联检完成(示例数据)", actor=ACTOR)
        issue_report(conn, inspection.id, actor=ACTOR)
        _close_repairs(conn, settings, inspection.id, keep_some=number == len(days))
        if on_progress:
            on_progress(1)
    return len(days)


def _start_next_round(conn: Connection, settings: Settings, lines: list) -> int:
    candidates = [line for line in lines if line.last_inspection is not None and _markers(conn, line.line_id)]
    if not candidates:
        return 0
    line = min(candidates, key=lambda c: (c.last_inspection, c.line_id))
    due = _shift_years(line.last_inspection, 5)
    inspection = insp.plan_inspection(conn, line.line_id, planned_start=due, planned_end=due + dt.timedelta(days=90),
                                      actor=ACTOR)
    markers = _markers(conn, line.line_id)
    _record_round(conn, settings, line, inspection, markers, count=max(1, len(markers) // 2))
    return 1


def load_demo_inspections(conn: Connection, settings: Settings, on_progress: Callable[[int], None] | None = None,
                          *, lines: list[str] | None = None) -> int:
    """Replay demo joint inspections on the demo lines (see the module text), or on LINES (ids) only;
    returns the inspections made (0 when the demo is loaded already)."""
    if conn.execute(text("SELECT 1 FROM datasets WHERE name = :n"), {"n": DEMO_DATASET}).first():
        return 0
    chosen = _SCOPE if lines is None else "l.valid_to IS NULL AND l.line_id = ANY(:ids)"
    lines = conn.execute(text(
        f"SELECT l.line_id, l.name, l.level, l.last_inspection FROM boundary_lines l WHERE {chosen} "
        "ORDER BY l.line_id"), {"ids": lines}).all()
    count = sum(_line_rounds(conn, settings, line, on_progress) for line in lines)
    started = _start_next_round(conn, settings, lines)
    if started and on_progress:
        on_progress(started)
    count += started
    conn.execute(text(
        "INSERT INTO datasets (name, version, source, terms, row_count, details) "
        "VALUES (:n, '1', :s, :t, :c, CAST(:d AS jsonb))"),
        {"n": DEMO_DATASET, "s": "gazetteer demo (boundaries/demo_inspections.py) on the demo boundary lines",
         "t": "synthetic demo data: the inspections, findings and repairs are invented", "c": count,
         "d": f'{{"lines": {len(lines)}}}'})
    audit.record(conn, actor=audit.SYSTEM, action="import", entity_type="dataset", entity_id=DEMO_DATASET,
                 after={"inspections": count, "lines": len(lines)})
    return count
