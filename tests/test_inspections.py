"""Joint inspections: rounds and the lead swap, ad hoc from events, marker and section results, repair
tasks, completion against rule 41, the overdue list, the demo loader, and the API with its 4xx."""

from __future__ import annotations

import datetime as dt
import json
import math
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import text

from boundaries import inspections as insp
from boundaries.demo_inspections import DEMO_DATASET, load_demo_inspections
from boundaries.findings import tolerance_m
from boundaries.markers import get_marker
from boundaries.reports import issue_report
from data.errors import Conflict, InvalidInput, NotFound
from tests.boundary_builders import FAR_LEFT, FAR_RIGHT, LEFT, RIGHT, add_line, add_markers
from tests.builders import staff_headers

PROBLEM = "application/problem+json"
START, END = dt.date(2024, 3, 1), dt.date(2024, 6, 30)


def assert_problem(response, status):
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    assert response.json()["status"] == status and "Traceback" not in response.text
    return response.json()


def add_documents(session, line_id, kinds=("协议书", "界桩登记表")):
    for kind in kinds:
        session.execute(text("INSERT INTO line_documents (line_id, kind, title, added_by) VALUES (:l, :k, :t, 't')"),
                        {"l": line_id, "k": kind, "t": f"{kind} {line_id}"})


def documented_line(session, left=LEFT, right=RIGHT, *, markers=4, **kwargs):
    line_id = add_line(session, left, right, **kwargs)
    found = add_markers(session, line_id, markers, line_number=kwargs.get("line_number", "T001"))
    add_documents(session, line_id)
    return line_id, found


def east_of(marker, metres):
    """(lon, lat) METRES due east of the marker."""
    return marker.lon + metres / (111_320 * math.cos(math.radians(marker.lat))), marker.lat


def run_round(session, settings, line_id, completed_on, results=(), issue=True):
    inspection = insp.plan_inspection(session, line_id, planned_start=completed_on - dt.timedelta(days=30),
                                      planned_end=completed_on, actor="t")
    for result in results:
        insp.record_marker_result(session, settings, inspection.id, result, actor="t")
    insp.complete_inspection(session, inspection.id, completed_on, "ok", actor="t")
    if issue:
        issue_report(session, inspection.id, actor="t")
    return insp.get_inspection(session, inspection.id)


def open_tasks(session, marker_id):
    return session.execute(text("SELECT id, found_status FROM repair_tasks WHERE marker_id = :m AND state = 'open'"),
                           {"m": marker_id}).all()


# ---------------------------------------------------------------- rounds


def test_rounds_number_up_and_lead_and_cooperating_swap_each_round(session, settings):
    line_id, _ = documented_line(session)
    first = insp.plan_inspection(session, line_id, planned_start=START, planned_end=END, actor="t",
                                 lead_party="330503")
    assert (first.round, first.lead_party, first.cooperating_party) == (1, "330503", "330502")
    insp.complete_inspection(session, first.id, dt.date(2019, 5, 1), None, actor="t")
    issue_report(session, first.id, actor="t")
    second = insp.plan_inspection(session, line_id, planned_start=START, planned_end=END, actor="t")
    assert (second.round, second.lead_party, second.cooperating_party) == (2, "330502", "330503")
    insp.complete_inspection(session, second.id, dt.date(2024, 5, 1), None, actor="t")
    with pytest.raises(InvalidInput) as refused:
        insp.plan_inspection(session, line_id, planned_start=START, planned_end=END, actor="t", lead_party="330502")
    assert "swap" in refused.value.detail
    third = insp.plan_inspection(session, line_id, planned_start=START, planned_end=END, actor="t")
    assert (third.round, third.lead_party) == (3, "330503")


def test_round_one_lead_defaults_to_the_left_code_and_a_foreign_lead_is_refused(session):
    line_id, _ = documented_line(session)
    with pytest.raises(InvalidInput):
        insp.plan_inspection(session, line_id, planned_start=START, planned_end=END, actor="t", lead_party="330522")
    first = insp.plan_inspection(session, line_id, planned_start=START, planned_end=END, actor="t")
    assert (first.lead_party, first.cooperating_party, first.state) == ("330502", "330503", "planned")


def test_an_unfinished_round_blocks_the_next(session):
    line_id, _ = documented_line(session)
    insp.plan_inspection(session, line_id, planned_start=START, planned_end=END, actor="t")
    with pytest.raises(Conflict):
        insp.plan_inspection(session, line_id, planned_start=START, planned_end=END, actor="t")


def test_plan_checks_line_and_dates(session):
    with pytest.raises(NotFound):
        insp.plan_inspection(session, "330502-330599", planned_start=START, planned_end=END, actor="t")
    line_id, _ = documented_line(session)
    with pytest.raises(InvalidInput):
        insp.plan_inspection(session, line_id, planned_start=END, planned_end=START, actor="t")


def test_basis_collects_agreement_register_and_previous_report(session, settings):
    line_id, _ = documented_line(session)
    first = run_round(session, settings, line_id, dt.date(2019, 5, 1))
    report_doc = session.execute(text("SELECT id FROM line_documents WHERE kind = '联检报告' AND sha256 = :s"),
                                 {"s": first.report_sha256}).scalar_one()
    docs = dict(session.execute(text("SELECT kind, id FROM line_documents WHERE line_id = :l AND kind <> '联检报告'"),
                                {"l": line_id}).all())
    second = insp.plan_inspection(session, line_id, planned_start=START, planned_end=END, actor="t")
    assert second.basis == {"agreements": [docs["协议书"]], "registers": [docs["界桩登记表"]],
                            "previous_reports": [report_doc]}


# ---------------------------------------------------------------- ad hoc


def test_event_schedules_ad_hoc_inspections_of_the_sections_inside_its_buffer(session):
    near_id, markers = documented_line(session, markers=6)
    far_id = add_line(session, FAR_LEFT, FAR_RIGHT, line_number="T002")
    event = {"type": "Point", "coordinates": [markers[2].lon, markers[2].lat + 0.001]}  # ~110 m north
    created = [c for c in insp.schedule_for_event(session, event, 400, "road", "t", description="道路改线")
               if c.line_id in (near_id, far_id)]  # other (demo) lines may be near too
    assert [(c.line_id, c.kind, c.reason, c.round) for c in created] == [(near_id, "ad_hoc", "road", None)]
    section = created[0].section
    assert section["type"] == "MultiLineString"
    stats = session.execute(text("""
        SELECT ST_Length(s::geography) AS length, ST_Length(l.geom::geography) AS whole,
               ST_MaxDistance(ST_Transform(s, 4549), ST_Transform(ST_SetSRID(ST_GeomFromGeoJSON(:e), 4490), 4549)) AS far
        FROM boundary_lines l, ST_SetSRID(ST_GeomFromGeoJSON(:s), 4490) s WHERE l.line_id = :l AND l.valid_to IS NULL
    """), {"s": json.dumps(section), "e": json.dumps(event), "l": near_id}).one()
    assert 400 < stats.length < stats.whole and stats.far <= 401  # every point of the section is in the buffer
    assert created[0].basis["event"]["description"] == "道路改线"
    at_sea = {"type": "Point", "coordinates": [123.5, 27.0]}  # East China Sea: no line within 1 km
    assert insp.schedule_for_event(session, at_sea, 1000, "disaster", "t") == []


def test_ad_hoc_covers_the_markers_of_its_section_and_does_not_reset_the_cycle(session, settings):
    line_id, markers = documented_line(session, markers=6, last_inspection="2020-01-01")
    event = {"type": "Point", "coordinates": [markers[2].lon, markers[2].lat]}
    adhoc = next(c for c in insp.schedule_for_event(session, event, 300, "disaster", "t") if c.line_id == line_id)
    inside = insp.record_marker_result(session, settings, adhoc.id, insp.MarkerResult(markers[2].number, "损坏"),
                                       actor="t")
    assert inside.record.status == "损坏" and inside.repair_task_id is not None
    with pytest.raises(InvalidInput) as outside:
        insp.record_marker_result(session, settings, adhoc.id, insp.MarkerResult(markers[0].number, "完好"),
                                  actor="t")
    assert "section" in outside.value.detail
    done = insp.complete_inspection(session, adhoc.id, dt.date(2024, 7, 1), None, actor="t")
    assert done.inspection.state == "completed" and done.unchecked_markers == []
    assert insp.get_line(session, line_id).last_inspection == dt.date(2020, 1, 1)


def test_plan_ad_hoc_checks_reason_and_section(session):
    line_id, markers = documented_line(session)
    with pytest.raises(InvalidInput):
        insp.plan_adhoc(session, line_id, "earthquake", actor="t")
    with pytest.raises(InvalidInput):  # lat/lon swapped: not in China
        insp.plan_adhoc(session, line_id, "river", {"type": "Point", "coordinates": [30.26, 120.16]}, actor="t")
    with pytest.raises(InvalidInput):  # 10 km away
        insp.plan_adhoc(session, line_id, "river", {"type": "Point", "coordinates": [120.16, 30.35]}, actor="t")
    with pytest.raises(InvalidInput):
        insp.plan_adhoc(session, line_id, "river", {"type": "Polygon", "coordinates": [[[1, 2]]]}, actor="t")
    whole = insp.plan_adhoc(session, line_id, "river", None, actor="t", lead_party="330503")
    assert whole.section is None and (whole.lead_party, whole.cooperating_party) == ("330503", "330502")


# ---------------------------------------------------------------- marker results


def test_marker_results_set_statuses_history_photos_and_repair_tasks(session, settings):
    line_id, markers = documented_line(session, markers=4)
    inspection = insp.plan_inspection(session, line_id, planned_start=START, planned_end=END, actor="t")
    photo = "cd" * 32
    outcomes = [insp.record_marker_result(session, settings, inspection.id,
                                          insp.MarkerResult(m.number, status, photos=(photo,) if i == 1 else ()),
                                          actor="t")
                for i, (m, status) in enumerate(zip(markers, ("完好", "损坏", "丢失", "移位"), strict=True))]
    assert insp.get_inspection(session, inspection.id).state == "in_progress"
    assert [get_marker(session, number=m.number).status for m in markers] == ["完好", "损坏", "丢失", "移位"]
    assert outcomes[0].repair_task_id is None and all(o.repair_task_id for o in outcomes[1:])
    task = insp.get_repair_task(session, outcomes[1].repair_task_id)
    assert (task.assigned_party, task.neighbour_party, task.inspection_id, task.found_status) == (
        "330502", "330503", inspection.id, "损坏")
    history = session.execute(text(
        "SELECT source, source_ref FROM marker_history WHERE marker_id = :m ORDER BY version DESC LIMIT 1"),
        {"m": markers[1].id}).one()
    assert tuple(history) == ("inspection", f"inspection:{inspection.id}")
    assert session.execute(text("SELECT sha256 FROM marker_photos WHERE marker_id = :m"),
                           {"m": markers[1].id}).scalars().all() == [photo]


def test_displacement_beyond_the_tolerance_is_displaced_and_below_it_is_intact(session, settings):
    line_id, markers = documented_line(session, markers=3)
    tolerance = tolerance_m(settings, "county")
    inspection = insp.plan_inspection(session, line_id, planned_start=START, planned_end=END, actor="t")
    far = insp.record_marker_result(session, settings, inspection.id,
                                    insp.MarkerResult(markers[0].number, "完好", True,
                                                      *east_of(markers[0], 2.5 * tolerance)), actor="t")
    near = insp.record_marker_result(session, settings, inspection.id,
                                     insp.MarkerResult(markers[1].number, "完好", True,
                                                       *east_of(markers[1], 0.5 * tolerance)), actor="t")
    assert far.displaced and far.record.status == "移位" and far.repair_task_id is not None
    assert far.record.displacement_m == pytest.approx(2.5 * tolerance, rel=0.02)
    assert not near.displaced and near.record.status == "完好" and near.repair_task_id is None
    assert near.record.displacement_m == pytest.approx(0.5 * tolerance, rel=0.02)
    registered = get_marker(session, number=markers[0].number)
    assert (registered.lon, registered.lat) == (markers[0].lon, markers[0].lat)  # a finding never moves it


def test_an_imprecise_position_is_recorded_but_does_not_make_a_marker_displaced(session, settings):
    line_id, markers = documented_line(session, markers=2)
    tolerance = tolerance_m(settings, "county")
    inspection = insp.plan_inspection(session, line_id, planned_start=START, planned_end=END, actor="t")
    lon, lat = east_of(markers[0], 3 * tolerance)
    outcome = insp.record_marker_result(session, settings, inspection.id, insp.MarkerResult(
        markers[0].number, "完好", lon=lon, lat=lat, accuracy_m=4 * tolerance), actor="t")
    assert outcome.record.status == "完好" and not outcome.displaced
    assert outcome.record.displacement_m == pytest.approx(3 * tolerance, rel=0.02)
    assert "accuracy" in outcome.warnings[0]


def test_one_result_per_marker_same_again_is_a_replay_and_different_is_a_conflict(session, settings):
    line_id, markers = documented_line(session, markers=2)
    inspection = insp.plan_inspection(session, line_id, planned_start=START, planned_end=END, actor="t")
    result = insp.MarkerResult(markers[0].number, "损坏", notes="碰坏")
    first = insp.record_marker_result(session, settings, inspection.id, result, actor="t")
    again = insp.record_marker_result(session, settings, inspection.id, result, actor="t")
    assert again.replayed and again.record.id == first.record.id
    with pytest.raises(Conflict):
        insp.record_marker_result(session, settings, inspection.id, insp.MarkerResult(markers[0].number, "完好"),
                                  actor="t")
    assert session.execute(text("SELECT count(*) FROM inspection_marker_records WHERE inspection_id = :i"),
                           {"i": inspection.id}).scalar() == 1


def test_marker_result_input_is_checked(session, settings):
    line_id, markers = documented_line(session, markers=1)
    other_id, others = documented_line(session, FAR_LEFT, FAR_RIGHT, markers=1, line_number="T002")
    inspection = insp.plan_inspection(session, line_id, planned_start=START, planned_end=END, actor="t")
    bad = [insp.MarkerResult(markers[0].number, "倒了"), insp.MarkerResult(markers[0].number, "完好", lon=120.1),
           insp.MarkerResult(markers[0].number, "完好", lon=30.2, lat=120.1),
           insp.MarkerResult(markers[0].number, "完好", photos=("not-a-hash",)),
           insp.MarkerResult(markers[0].number, "完好", survey_record="nope"),
           insp.MarkerResult(others[0].number, "完好"), insp.MarkerResult("12", "完好")]
    for result in bad:
        with pytest.raises(InvalidInput):
            insp.record_marker_result(session, settings, inspection.id, result, actor="t")
    with pytest.raises(NotFound):
        insp.record_marker_result(session, settings, inspection.id, insp.MarkerResult("T001999Q", "完好"), actor="t")
    with pytest.raises(NotFound):
        insp.record_marker_result(session, settings, 10**12, insp.MarkerResult(markers[0].number, "完好"), actor="t")
    assert insp.get_inspection(session, inspection.id).state == "planned"


def test_section_results_are_recorded_and_replayed_by_survey_record(session):
    line_id, markers = documented_line(session, markers=3)
    inspection = insp.plan_inspection(session, line_id, planned_start=START, planned_end=END, actor="t")
    record = "6f1d7a3e-8a4b-4c1e-9d2f-0123456789ab"
    result = insp.SectionResult(markers[0].number, markers[2].number, None, False, changes_near_line="新建厂房",
                                cross_boundary_construction="跨界道路", survey_record=record)
    stored = insp.record_section(session, inspection.id, result, actor="t")
    assert (stored.from_marker, stored.to_marker, stored.recognisable) == (markers[0].number, markers[2].number, False)
    assert insp.record_section(session, inspection.id, result, actor="t").id == stored.id
    far = insp.SectionResult(geometry={"type": "LineString", "coordinates": [[120.3, 30.4], [120.31, 30.4]]})
    with pytest.raises(InvalidInput):
        insp.record_section(session, inspection.id, far, actor="t")
    assert insp.get_inspection(session, inspection.id).state == "in_progress"


# ---------------------------------------------------------------- repair tasks


def test_a_repair_task_is_opened_once_per_marker(session, settings):
    line_id, markers = documented_line(session, markers=2)
    first = insp.plan_inspection(session, line_id, planned_start=START, planned_end=END, actor="t")
    one = insp.record_marker_result(session, settings, first.id, insp.MarkerResult(markers[0].number, "损坏"),
                                    actor="t")
    adhoc = insp.plan_adhoc(session, line_id, "disaster", None, actor="t")
    two = insp.record_marker_result(session, settings, adhoc.id, insp.MarkerResult(markers[0].number, "丢失"),
                                    actor="t")
    assert one.repair_task_id == two.repair_task_id
    assert len(open_tasks(session, markers[0].id)) == 1


def test_closing_a_repair_needs_the_neighbour_present(session, settings):
    line_id, markers = documented_line(session, markers=1)
    inspection = insp.plan_inspection(session, line_id, planned_start=START, planned_end=END, actor="t")
    task_id = insp.record_marker_result(session, settings, inspection.id,
                                        insp.MarkerResult(markers[0].number, "损坏"), actor="t").repair_task_id
    with pytest.raises(InvalidInput) as refused:
        insp.close_repair_task(session, settings, task_id, neighbour_present=False, note="修好了", actor="t")
    assert "neighbour" in refused.value.detail and insp.get_repair_task(session, task_id).state == "open"
    closed = insp.close_repair_task(session, settings, task_id, neighbour_present=True, note="双方在场修复",
                                    actor="repairer")
    assert (closed.state, closed.closed_by, closed.note) == ("done", "repairer", "双方在场修复")
    assert get_marker(session, number=markers[0].number).status == "完好"
    source = session.execute(text("SELECT source, source_ref FROM marker_history WHERE marker_id = :m "
                                  "ORDER BY version DESC LIMIT 1"), {"m": markers[0].id}).one()
    assert tuple(source) == ("repair", f"repair_task:{task_id}")
    with pytest.raises(Conflict):
        insp.close_repair_task(session, settings, task_id, neighbour_present=True, note=None, actor="t")
    with pytest.raises(NotFound):
        insp.close_repair_task(session, settings, 10**12, neighbour_present=True, note=None, actor="t")


def test_a_displaced_repair_restores_the_registered_position(session, settings):
    line_id, markers = documented_line(session, markers=1)
    tolerance = tolerance_m(settings, "county")
    inspection = insp.plan_inspection(session, line_id, planned_start=START, planned_end=END, actor="t")
    lon, lat = east_of(markers[0], 3 * tolerance)
    task_id = insp.record_marker_result(session, settings, inspection.id, insp.MarkerResult(
        markers[0].number, "完好", lon=lon, lat=lat), actor="t").repair_task_id
    with pytest.raises(InvalidInput):  # re-erected where it was found: not in place
        insp.close_repair_task(session, settings, task_id, neighbour_present=True, note=None, actor="t",
                               lon=lon, lat=lat)
    back = east_of(markers[0], 0.2 * tolerance)
    insp.close_repair_task(session, settings, task_id, neighbour_present=True, note=None, actor="t",
                           lon=back[0], lat=back[1])
    marker = get_marker(session, number=markers[0].number)
    assert (marker.status, marker.lon, marker.lat) == ("完好", markers[0].lon, markers[0].lat)


def test_repair_tasks_list_by_state_and_party(session, settings):
    line_id, markers = documented_line(session, markers=3)
    inspection = insp.plan_inspection(session, line_id, planned_start=START, planned_end=END, actor="t")
    ids = [insp.record_marker_result(session, settings, inspection.id, insp.MarkerResult(m.number, "损坏"),
                                     actor="t").repair_task_id for m in markers]
    insp.close_repair_task(session, settings, ids[0], neighbour_present=True, note=None, actor="t")
    open_ = insp.list_repair_tasks(session, "open", "330502", line_id=line_id)
    assert [t.id for t in open_.items] == ids[1:]
    assert insp.list_repair_tasks(session, "open", "330503", line_id=line_id).items == []
    first = insp.list_repair_tasks(session, None, None, line_id=line_id, limit=2)
    assert len(first.items) == 2 and first.next_after == ids[1]
    with pytest.raises(InvalidInput):
        insp.list_repair_tasks(session, "closed")


# ---------------------------------------------------------------- completion (rule 41)


def test_completion_without_basis_documents_is_refused_unless_allowed(session, settings):
    line_id = add_line(session)
    markers = add_markers(session, line_id, 3)
    inspection = insp.plan_inspection(session, line_id, planned_start=START, planned_end=END, actor="t")
    insp.record_marker_result(session, settings, inspection.id, insp.MarkerResult(markers[0].number, "完好"),
                              actor="t")
    with pytest.raises(InvalidInput) as refused:
        insp.complete_inspection(session, inspection.id, dt.date(2024, 5, 1), None, actor="t")
    assert refused.value.extra["missing"] == ["协议书", "界桩登记表"]
    assert insp.get_inspection(session, inspection.id).state == "in_progress"
    done = insp.complete_inspection(session, inspection.id, dt.date(2024, 5, 1), "缺协议书", actor="t",
                                    allow_incomplete=True)
    assert done.missing == ["协议书", "界桩登记表"]
    assert done.inspection.basis["missing"] == ["协议书", "界桩登记表"] and done.inspection.basis["incomplete"]
    assert done.unchecked_markers == [markers[1].number, markers[2].number]
    assert any("no result" in w for w in done.warnings)


def test_round_two_needs_the_previous_rounds_report(session, settings):
    line_id, _ = documented_line(session)
    first = run_round(session, settings, line_id, dt.date(2019, 5, 1), issue=False)
    second = insp.plan_inspection(session, line_id, planned_start=START, planned_end=END, actor="t")
    with pytest.raises(InvalidInput) as refused:
        insp.complete_inspection(session, second.id, dt.date(2024, 5, 1), None, actor="t")
    assert refused.value.extra["missing"] == ["第1轮联检报告"]
    issue_report(session, first.id, actor="t")
    done = insp.complete_inspection(session, second.id, dt.date(2024, 5, 1), None, actor="t")
    assert done.missing == [] and "missing" not in done.inspection.basis


def test_completion_moves_the_cycle_is_audited_and_closes_the_inspection(session, settings):
    line_id, markers = documented_line(session, last_inspection="2018-06-01")
    inspection = insp.plan_inspection(session, line_id, planned_start=START, planned_end=END, actor="t")
    with pytest.raises(InvalidInput):
        insp.complete_inspection(session, inspection.id, insp.today_shanghai() + dt.timedelta(days=2), None,
                                 actor="t")
    insp.complete_inspection(session, inspection.id, dt.date(2024, 5, 1), None, actor="lead")
    assert insp.get_line(session, line_id).last_inspection == dt.date(2024, 5, 1)
    audit = session.execute(text("SELECT actor, before, after FROM audit_log WHERE entity_type = 'boundary_line' "
                                 "AND entity_id = :l ORDER BY id DESC LIMIT 1"), {"l": line_id}).one()
    assert audit.actor == "lead" and audit.before["last_inspection"] == "2018-06-01"
    assert audit.after["last_inspection"] == "2024-05-01"
    with pytest.raises(Conflict):
        insp.complete_inspection(session, inspection.id, dt.date(2024, 5, 1), None, actor="t")
    with pytest.raises(Conflict):
        insp.record_marker_result(session, settings, inspection.id, insp.MarkerResult(markers[0].number, "完好"),
                                  actor="t")


# ---------------------------------------------------------------- overdue (rule 35)


def test_overdue_lines_pinned_to_a_date(session):
    late = add_line(session, last_inspection="2018-06-01")
    leap = add_line(session, FAR_LEFT, FAR_RIGHT, line_number="T002", last_inspection="2020-02-29")
    never = add_line(session, "330521", "330523", line_number="T003", level="township")
    mine = {late, leap, never}

    def overdue(day, **kwargs):
        return {o.line_id: o for o in insp.overdue_lines(session, day, **kwargs) if o.line_id in mine}

    on_due_day = overdue(dt.date(2023, 6, 1))
    assert set(on_due_day) == {never} and on_due_day[never].days_overdue is None
    found = overdue(dt.date(2025, 3, 1))
    assert found[late].due_date == dt.date(2023, 6, 1)
    assert found[late].days_overdue == (dt.date(2025, 3, 1) - dt.date(2023, 6, 1)).days
    assert found[leap].due_date == dt.date(2025, 2, 28) and found[leap].days_overdue == 1
    ordered = [o.line_id for o in insp.overdue_lines(session, dt.date(2025, 3, 1)) if o.line_id in mine]
    assert ordered == [never, late, leap]
    assert set(overdue(dt.date(2025, 3, 1), level="township")) == {never}
    assert set(overdue(dt.date(2025, 3, 1), division="330522")) == {leap}
    assert set(overdue(dt.date(2025, 3, 1), division="330500")) == mine
    with pytest.raises(InvalidInput):
        insp.overdue_lines(session, dt.date(2025, 3, 1), level="village")


def test_an_open_round_is_shown_on_the_overdue_line(session):
    line_id, _ = documented_line(session, last_inspection="2018-06-01")
    planned = insp.plan_inspection(session, line_id, planned_start=START, planned_end=END, actor="t")
    found = [o for o in insp.overdue_lines(session, dt.date(2024, 1, 1)) if o.line_id == line_id]
    assert found[0].open_inspection_id == planned.id


# ---------------------------------------------------------------- demo


def test_demo_inspections_replay_rounds_consistent_with_last_inspection(session, settings):
    session.execute(text("DELETE FROM datasets WHERE name = :n"), {"n": DEMO_DATASET})
    with_markers = add_line(session, last_inspection="2021-05-10")
    add_markers(session, with_markers, 12)
    bare = add_line(session, "330521", "330523", line_number="T003", last_inspection="2020-02-29")
    never = add_line(session, FAR_LEFT, FAR_RIGHT, line_number="T002")
    connection = session.connection()
    made = load_demo_inspections(connection, settings, lambda n: None, lines=[with_markers, bare, never])
    rows = session.execute(text(
        "SELECT line_id, round, state, completed_on, lead_party, report_sha256 FROM inspections "
        "WHERE line_id IN (:a, :b, :c) ORDER BY line_id, round"), {"a": with_markers, "b": bare, "c": never}).all()
    by_line = {}
    for row in rows:
        by_line.setdefault(row.line_id, []).append(row)
    assert never not in by_line
    assert [r.completed_on for r in by_line[bare]] == [dt.date(2015, 2, 28), dt.date(2020, 2, 29)]
    assert [r.completed_on for r in by_line[with_markers]][:2] == [dt.date(2016, 5, 10), dt.date(2021, 5, 10)]
    assert [r.lead_party for r in by_line[with_markers]][:2] == ["330502", "330503"]
    assert all(r.report_sha256 for r in by_line[bare] + by_line[with_markers][:2])
    assert insp.get_line(session, with_markers).last_inspection == dt.date(2021, 5, 10)
    in_progress = [(r.line_id, r.round) for rs in by_line.values() for r in rs if r.state == "in_progress"]
    assert in_progress == [(with_markers, 3)] and made == 5  # the oldest line with markers goes on
    tasks = session.execute(text(
        "SELECT i.round, t.state FROM repair_tasks t JOIN inspections i ON i.id = t.inspection_id "
        "WHERE i.line_id = :l"), {"l": with_markers}).all()
    assert tasks and all(state == "done" for round_, state in tasks if round_ == 1)
    assert load_demo_inspections(connection, settings, lines=[with_markers]) == 0  # once only


# ---------------------------------------------------------------- API


@pytest.fixture
def api_line(session):
    line_id, markers = documented_line(session, markers=3)
    return line_id, markers


def test_api_needs_a_staff_token_and_the_right_role(client, session, api_line):
    line_id, markers = api_line
    body = {"line_id": line_id, "planned_start": "2024-03-01", "planned_end": "2024-06-30"}
    assert_problem(client.post("/v1/inspections", json=body), 401)
    assert_problem(client.get("/v1/inspections"), 401)
    surveyor = staff_headers(client, session, "surveyor", "field-1")
    assert_problem(client.post("/v1/inspections", json=body, headers=surveyor), 403)
    reviewer = staff_headers(client, session, "reviewer")
    created = client.post("/v1/inspections", json=body, headers=reviewer)
    assert created.status_code == 201 and created.headers["location"].endswith(f"/v1/inspections/{created.json()['id']}")
    result = {"marker_number": markers[0].number, "status": "完好"}
    url = f"/v1/inspections/{created.json()['id']}/markers"
    assert_problem(client.post(url, json=result, headers=surveyor), 403)  # not assigned to the line
    session.execute(text("INSERT INTO line_assignments (line_id, username, assigned_by) VALUES (:l, 'field-1', 't')"),
                    {"l": line_id})
    assert client.post(url, json=result, headers=surveyor).status_code == 201


def test_api_plan_ad_hoc_events_list_and_overdue(client, session, api_line):
    line_id, markers = api_line
    admin = staff_headers(client, session, "admin")
    body = {"line_id": line_id, "planned_start": "2024-03-01", "planned_end": "2024-06-30"}
    first = client.post("/v1/inspections", json=body, headers=admin).json()
    assert (first["round"], first["lead_party"], first["state"]) == (1, "330502", "planned")
    assert_problem(client.post("/v1/inspections", json=body, headers=admin), 409)
    assert_problem(client.post("/v1/inspections", json=body | {"line_id": "330502-330599"}, headers=admin), 404)
    assert_problem(client.post("/v1/inspections", json=body | {"line_id": "330502"}, headers=admin), 422)
    assert_problem(client.post("/v1/inspections", json=body | {"planned_end": "2024-01-01"}, headers=admin), 422)
    adhoc = client.post("/v1/inspections/ad-hoc", json={"line_id": line_id, "reason": "river"}, headers=admin)
    assert adhoc.status_code == 201 and adhoc.json()["kind"] == "ad_hoc"
    assert_problem(client.post("/v1/inspections/ad-hoc", json={"line_id": line_id, "reason": "flood"},
                               headers=admin), 422)
    event = {"geometry": {"type": "Point", "coordinates": [markers[1].lon, markers[1].lat]}, "buffer_m": 200,
             "reason": "disaster"}
    scheduled = client.post("/v1/inspections/events", json=event, headers=admin)
    assert scheduled.status_code == 201 and line_id in [i["line_id"] for i in scheduled.json()["items"]]
    assert_problem(client.post("/v1/inspections/events", json=event | {"buffer_m": -1}, headers=admin), 422)
    assert_problem(client.post("/v1/inspections/events", json=event | {"geometry": {"type": "Point"}},
                               headers=admin), 422)
    listed = client.get("/v1/inspections", params={"line_id": line_id, "kind": "ad_hoc", "limit": 1}, headers=admin)
    assert listed.status_code == 200 and len(listed.json()["items"]) == 1 and listed.json()["next"]
    assert_problem(client.get("/v1/inspections", params={"state": "done"}, headers=admin), 422)


def test_api_overdue_mode_redirects_to_the_overdue_lines(client, session):
    line_id = add_line(session, last_inspection="2018-06-01")
    admin = staff_headers(client, session, "admin")
    moved = client.get("/v1/inspections", params={"overdue": "true", "as_of": "2024-06-01", "level": "county"},
                       headers=admin, follow_redirects=False)
    assert moved.status_code == 307
    target = urlsplit(moved.headers["location"])
    assert target.path == "/v1/inspections/overdue"
    assert parse_qs(target.query) == {"as_of": ["2024-06-01"], "level": ["county"]}
    answer = client.get("/v1/inspections", params={"overdue": "true", "as_of": "2024-06-01"}, headers=admin)
    assert answer.status_code == 200 and answer.json()["as_of"] == "2024-06-01"
    row = next(i for i in answer.json()["items"] if i["line_id"] == line_id)
    assert (row["due_date"], row["days_overdue"], row["never_inspected"]) == ("2023-06-01", 366, False)
    assert_problem(client.get("/v1/inspections", params={"overdue": "true", "state": "planned"}, headers=admin), 422)
    assert_problem(client.get("/v1/inspections/overdue", params={"division": "33"}, headers=admin), 422)
    assert_problem(client.get("/v1/inspections", params={"level": "county"}, headers=admin), 422)


def test_api_results_completion_reports_and_repairs(client, session, api_line):
    line_id, markers = api_line
    admin = staff_headers(client, session, "admin")
    plan = {"line_id": line_id, "planned_start": "2024-03-01", "planned_end": "2024-06-30"}
    inspection_id = client.post("/v1/inspections", json=plan, headers=admin).json()["id"]
    base = f"/v1/inspections/{inspection_id}"
    damaged = {"marker_number": markers[0].number, "status": "损坏", "notes": "碑体断裂"}
    first = client.post(f"{base}/markers", json=damaged, headers=admin)
    assert first.status_code == 201 and first.json()["repair_task_id"]
    again = client.post(f"{base}/markers", json=damaged, headers=admin)
    assert again.status_code == 200 and again.json()["replayed"]
    assert_problem(client.post(f"{base}/markers", json=damaged | {"status": "完好"}, headers=admin), 409)
    assert_problem(client.post(f"{base}/markers", json=damaged | {"status": "倒了"}, headers=admin), 422)
    assert_problem(client.post(f"{base}/markers", json=damaged | {"marker_number": "T001999Q"}, headers=admin), 404)
    assert_problem(client.post("/v1/inspections/999999999/markers", json=damaged, headers=admin), 404)
    section = {"from_marker": markers[0].number, "to_marker": markers[2].number, "recognisable": True}
    assert client.post(f"{base}/sections", json=section, headers=admin).status_code == 201
    assert_problem(client.post(f"{base}/sections", json={"recognisable": True, "geometry": {"type": "Point",
                                                          "coordinates": [121.5, 31.2]}}, headers=admin), 422)
    detail = client.get(base, headers=admin).json()
    assert detail["state"] == "in_progress" and len(detail["markers"]) == 1 and len(detail["sections"]) == 1
    assert detail["unchecked_markers"] == [markers[1].number, markers[2].number]
    assert_problem(client.post(f"{base}/report", headers=admin), 409)
    done = client.post(f"{base}/complete", json={"completed_on": "2024-05-01", "summary": "完成"}, headers=admin)
    assert done.status_code == 200 and done.json()["inspection"]["state"] == "completed"
    assert client.get(f"{base}/report.html", headers=admin).headers["content-type"].startswith("text/html")
    issued = client.post(f"{base}/report", headers=admin)
    assert issued.status_code == 201 and len(issued.json()["sha256"]) == 64
    pdf = client.get(f"{base}/report.pdf", headers=admin)
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    assert pdf.headers["etag"] == f'"{issued.json()["sha256"]}"'
    tasks = client.get("/v1/repair-tasks", params={"state": "open", "party": "330502", "line_id": line_id},
                       headers=admin).json()
    task_id = next(t["id"] for t in tasks["items"] if t["marker_number"] == markers[0].number)
    assert_problem(client.post(f"/v1/repair-tasks/{task_id}/close", json={"neighbour_present": False},
                               headers=admin), 422)
    closed = client.post(f"/v1/repair-tasks/{task_id}/close", json={"neighbour_present": True, "note": "已修"},
                         headers=admin)
    assert closed.status_code == 200 and closed.json()["state"] == "done"
    assert_problem(client.post(f"/v1/repair-tasks/{task_id}/close", json={"neighbour_present": True},
                               headers=admin), 409)
    assert_problem(client.post("/v1/repair-tasks/999999999/close", json={"neighbour_present": True},
                               headers=admin), 404)


def test_api_refused_completion_writes_nothing(client, session):
    line_id = add_line(session)
    add_markers(session, line_id, 1)
    admin = staff_headers(client, session, "admin")
    plan = {"line_id": line_id, "planned_start": "2024-03-01", "planned_end": "2024-06-30"}
    inspection_id = client.post("/v1/inspections", json=plan, headers=admin).json()["id"]
    audits = session.execute(text("SELECT count(*) FROM audit_log")).scalar()
    body = assert_problem(client.post(f"/v1/inspections/{inspection_id}/complete",
                                      json={"completed_on": "2024-05-01"}, headers=admin), 422)
    assert body["missing"] == ["协议书", "界桩登记表"] and {e["field"] for e in body["errors"]} == {"basis"}
    assert session.execute(text("SELECT count(*) FROM audit_log")).scalar() == audits
    assert insp.get_inspection(session, inspection_id).state == "planned"
    assert_problem(client.post(f"/v1/inspections/{inspection_id}/complete",
                               json={"completed_on": "2024-13-01"}, headers=admin), 422)
    allowed = client.post(f"/v1/inspections/{inspection_id}/complete",
                          json={"completed_on": "2024-05-01", "allow_incomplete": True}, headers=admin)
    assert allowed.status_code == 200 and allowed.json()["missing"] == ["协议书", "界桩登记表"]


def test_api_register_files_and_unknown_line(client, session, api_line):
    line_id, markers = api_line
    reader = staff_headers(client, session, "approver")
    csv_file = client.get(f"/v1/boundaries/lines/{line_id}/register.csv", headers=reader)
    assert csv_file.status_code == 200 and csv_file.headers["content-type"].startswith("text/csv")
    assert csv_file.content.startswith("\ufeff".encode()) and "attachment" in csv_file.headers["content-disposition"]
    assert csv_file.content.decode("utf-8-sig").count("\r\n") == len(markers) + 1
    xlsx = client.get(f"/v1/boundaries/lines/{line_id}/register.xlsx", headers=reader)
    assert xlsx.status_code == 200 and xlsx.content.startswith(b"PK")
    assert_problem(client.get("/v1/boundaries/lines/330502-330599/register.csv", headers=reader), 404)
    assert_problem(client.get("/v1/boundaries/lines/33-01/register.xlsx", headers=reader), 422)
    assert_problem(client.get("/v1/inspections/0", headers=reader), 422)
    assert_problem(client.get("/v1/inspections/999999999/report.pdf", headers=reader), 404)
