"""Output files: the 联检报告 in HTML (table, inline SVG map) and PDF (pypdf reads it back), issuing it,
the map frame's projection, and the 界桩登记表 as CSV and XLSX."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import math
from html.parser import HTMLParser

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader
from sqlalchemy import text

from boundaries import inspections as insp
from boundaries import reports
from data.errors import Conflict, NotFound
from tests.boundary_builders import FAR_LEFT, FAR_RIGHT, add_line, add_markers

FOUND = ["完好", "损坏", "丢失", "移位", None]  # None: not checked


def inspected(session, settings, *, complete=True, markers=5, **line):
    line_id = add_line(session, **line)
    found = add_markers(session, line_id, markers, line_number=line.get("line_number", "T001"))
    for kind in ("协议书", "界桩登记表"):
        session.execute(text("INSERT INTO line_documents (line_id, kind, title, doc_number, added_by) "
                             "VALUES (:l, :k, :t, '浙民〔2019〕1号', 't')"), {"l": line_id, "k": kind, "t": f"示例{kind}"})
    inspection = insp.plan_inspection(session, line_id, planned_start=dt.date(2024, 3, 1),
                                      planned_end=dt.date(2024, 6, 1), actor="t")
    for marker, status in zip(found, FOUND, strict=False):
        if status:
            insp.record_marker_result(session, settings, inspection.id,
                                      insp.MarkerResult(marker.number, status, notes=f"备注{marker.seq}"), actor="t")
    insp.record_section(session, inspection.id, insp.SectionResult(found[0].number, found[-1].number, None, False,
                                                                   changes_near_line="新修公路"), actor="t")
    if complete:
        insp.complete_inspection(session, inspection.id, dt.date(2024, 5, 20), "界线清楚,界桩多数完好", actor="t")
    return line_id, found, inspection.id


class SvgScan(HTMLParser):
    """Marker circles (number → fill), legend texts and table rows (number → status) of the HTML report."""

    def __init__(self):
        super().__init__()
        self.circles: dict[str, str] = {}
        self.rows: dict[str, str] = {}
        self.legend: list[str] = []
        self.svg_count = 0
        self._legend = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "svg":
            self.svg_count += 1
        if tag == "circle" and "line-map__marker" in (a.get("class") or ""):
            self.circles[a["data-number"]] = a["fill"]
        if tag == "tr" and a.get("data-number"):
            self.rows[a["data-number"]] = a["data-status"]
        if tag == "g" and a.get("class") == "line-map__legend":
            self._legend = True

    def handle_endtag(self, tag):
        if tag == "g":
            self._legend = False

    def handle_data(self, data):
        if self._legend and data.strip():
            self.legend.append(data.strip())


def test_html_report_has_the_marker_table_the_svg_map_and_its_legend(session, settings):
    line_id, markers, inspection_id = inspected(session, settings)
    html = reports.render_report_html(reports.report_data(session, inspection_id))
    scan = SvgScan()
    scan.feed(html)
    labels = [s or reports.UNCHECKED for s in FOUND]
    assert scan.svg_count == 1
    assert scan.rows == {m.number: label for m, label in zip(markers, labels, strict=True)}
    assert scan.circles == {m.number: reports.STATUS_COLORS.get(label, reports.UNCHECKED_COLOR)
                            for m, label in zip(markers, labels, strict=True)}
    assert scan.legend == ["界线", "吴兴区", "南浔区", *reports.STATUS_COLORS, reports.UNCHECKED]
    assert "吴兴区—南浔区线第1轮联合检查报告" in html and "示例协议书" in html and "新修公路" in html
    assert 'class="lead">吴兴区(330502)' in html and 'class="cooperating">南浔区(330503)' in html
    assert "管护方修复或重制" in html  # the repair tasks opened


def test_html_report_escapes_user_text(session, settings):
    line_id, markers, inspection_id = inspected(session, settings, complete=False)
    insp.record_section(session, inspection_id, insp.SectionResult(notes="<script>alert(1)</script>"), actor="t")
    html = reports.render_report_html(reports.report_data(session, inspection_id))
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)" in html


def test_pdf_report_parses_and_shows_the_markers_and_findings(session, settings):
    line_id, markers, inspection_id = inspected(session, settings)
    data = reports.report_data(session, inspection_id)
    pdf = reports.render_report_pdf(data)
    reader = PdfReader(io.BytesIO(pdf))
    content = "".join(page.extract_text() for page in reader.pages)
    assert "吴兴区—南浔区线第1轮联合检查报告" in content
    for marker in markers:
        assert marker.number in content
    for status in ("完好", "损坏", "丢失", "移位", "未检", "新修公路", "示例协议书"):
        assert status in content
    assert reader.metadata.title == data.title
    assert reports.render_report_pdf(data) == pdf  # deterministic


def test_map_frame_is_in_the_lines_gauss_kruger_zone_and_true_to_scale(session, settings):
    line_id, markers, inspection_id = inspected(session, settings)
    data = reports.report_data(session, inspection_id)
    frame = reports.map_frame(data.line, data.markers, 600, 400)
    assert frame.epsg == 4549  # CGCS2000 3-degree GK, CM 120°E
    drawn = sum(math.dist(a, b) for path in frame.line for a, b in zip(path, path[1:], strict=False))
    geodesic = session.execute(text("SELECT ST_Length(geom::geography) FROM boundary_lines WHERE line_id = :l "
                                    "AND valid_to IS NULL"), {"l": line_id}).scalar()
    assert drawn / frame.scale == pytest.approx(geodesic, rel=0.002)
    xs = [x for path in frame.line for x, _ in path]
    assert 0 <= min(xs) and max(xs) <= frame.width
    assert abs(frame.north_deg) < 1.5 and frame.scale_bar_len < frame.width / 2
    assert {len(p[2]) > 0 for p in frame.parties} == {True} and len(frame.markers) == len(markers)


@pytest.mark.parametrize(("lon", "epsg"), [(75.2, 4534), (118.6, 4549), (117.4, 4548), (120.2, 4549), (134.9, 4554)])
def test_gauss_kruger_zone_of_a_longitude(lon, epsg):
    assert reports.gk_epsg(lon) == epsg


def test_issue_report_stores_links_and_files_it_once(session, settings):
    line_id, markers, inspection_id = inspected(session, settings)
    issued = reports.issue_report(session, inspection_id, actor="clerk")
    stored = session.execute(text("SELECT content, media_type, size FROM attachments WHERE sha256 = :s"),
                             {"s": issued.sha256}).one()
    assert hashlib.sha256(stored.content).hexdigest() == issued.sha256 and stored.media_type == "application/pdf"
    assert insp.get_inspection(session, inspection_id).report_sha256 == issued.sha256
    document = session.execute(text("SELECT line_id, kind, sha256, signed_on FROM line_documents WHERE id = :d"),
                               {"d": issued.document_id}).one()
    assert tuple(document) == (line_id, "联检报告", issued.sha256, dt.date(2024, 5, 20))
    assert reports.issued_pdf(session, insp.get_inspection(session, inspection_id)) == stored.content
    with pytest.raises(Conflict):
        reports.issue_report(session, inspection_id, actor="clerk")


def test_a_report_is_issued_only_for_a_completed_inspection(session, settings):
    _, _, inspection_id = inspected(session, settings, complete=False)
    with pytest.raises(Conflict):
        reports.issue_report(session, inspection_id, actor="clerk")
    with pytest.raises(NotFound):
        reports.issue_report(session, 10**12, actor="clerk")


def test_ad_hoc_report_shows_its_reason_and_only_its_sections_markers(session, settings):
    line_id, markers, _ = inspected(session, settings)
    event = {"type": "Point", "coordinates": [markers[2].lon, markers[2].lat]}
    adhoc = next(c for c in insp.schedule_for_event(session, event, 300, "river", "t") if c.line_id == line_id)
    data = reports.report_data(session, adhoc.id)
    assert data.title.endswith("专项联合检查报告(河流改道)")
    assert [m.number for m in data.markers] == [markers[2].number]


def set_reference_objects(session, marker, objects):
    session.execute(text("UPDATE markers SET reference_objects = CAST(:r AS jsonb) WHERE id = :id"),
                    {"r": json.dumps(objects, ensure_ascii=False), "id": marker.id})


def test_register_csv_rows_equal_the_markers(session, settings):
    line_id, markers, _ = inspected(session, settings)
    set_reference_objects(session, markers[0], [{"name": "=HYPERLINK(1)", "bearing_deg": 45, "distance_m": 12.5},
                                                {"name": "古樟树", "bearing_deg": 270, "distance_m": 30}])
    content = reports.register_csv(reports.register_rows(session, line_id))
    assert content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    assert rows[0] == list(reports.REGISTER_HEADERS)
    assert [r[0] for r in rows[1:]] == [m.number for m in markers]
    for row, marker, found in zip(rows[1:], markers, FOUND, strict=True):
        assert row[6] == f"{marker.lon:.8f}" and row[7] == f"{marker.lat:.8f}"
        assert (row[13], row[14]) == (found or "完好", found or "")
        assert row[15] == ("2024-05-20" if found else "")
        assert row[5] == "吴兴区(330502)" and row[8] == "CGCS2000"
    assert rows[1][11].startswith("'=HYPERLINK(1)") and "古樟树 方位270° 距离30m" in rows[1][11]


def test_register_xlsx_opens_with_a_frozen_header_and_the_same_rows(session, settings):
    line_id, markers, _ = inspected(session, settings)
    rows = reports.register_rows(session, line_id)
    book = load_workbook(io.BytesIO(reports.register_xlsx(rows)))
    sheet = book.active
    assert sheet.freeze_panes == "A2" and sheet.title == "界桩登记表"
    assert [c.value for c in sheet[1]] == list(reports.REGISTER_HEADERS)
    assert sheet.max_row == len(markers) + 1
    assert [sheet.cell(row=i + 2, column=1).value for i in range(len(markers))] == [m.number for m in markers]
    lon = sheet.cell(row=2, column=7)
    assert lon.value == pytest.approx(markers[0].lon, abs=1e-9) and lon.number_format == "0.00000000"
    assert sheet.column_dimensions["E"].width == reports.REGISTER_WIDTHS[4]
    assert sheet.cell(row=3, column=16).value.date() == dt.date(2024, 5, 20)


def test_register_of_a_line_without_markers_has_only_its_header(session):
    line_id = add_line(session, FAR_LEFT, FAR_RIGHT, line_number="T002")
    rows = reports.register_rows(session, line_id)
    assert rows == []
    assert reports.register_csv(rows).decode("utf-8-sig").splitlines() == [",".join(reports.REGISTER_HEADERS)]
    with pytest.raises(NotFound):
        reports.register_rows(session, "330502-330599")
