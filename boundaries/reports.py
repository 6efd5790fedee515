"""Output files of joint inspections (§5.2) and of the marker register (§5.3): the 联检报告 as HTML and
PDF with a map of the line, the 界桩登记表/成果表 as CSV and XLSX, and the data of the line map page.

Maps are drawn in the CGCS2000 3-degree Gauss–Krüger zone of the line (EPSG:4534–4554), so lengths
and shapes are true and the scale bar means what it says; the north arrow points to true north
(its small tilt is the meridian convergence of the zone). The PDF uses reportlab's built-in CID font
STSong-Light, so it needs no system font.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any
from xml.sax.saxutils import escape

import numpy as np
import shapely
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup
from pyproj import Transformer
from shapely.geometry import box, shape
from sqlalchemy import text

from boundaries import inspections as insp
from boundaries.inspections import DB, Inspection, RepairTask, SectionRecord
from data import audit
from data.errors import Conflict

STATUS_COLORS = {"完好": "#2e7d32", "损坏": "#ef6c00", "丢失": "#c62828", "移位": "#7b1fa2"}
UNCHECKED = "未检"
UNCHECKED_COLOR = "#9e9e9e"
LINE_COLOR = "#b2182b"
PARTY_FILLS = ("#dce8f5", "#f8efd4")
PARTY_STROKES = ("#3f6fa8", "#a7801a")
KIND_LABELS = {"routine": "例行联检", "ad_hoc": "专项联检"}
STATE_LABELS = {"planned": "计划中", "in_progress": "进行中", "completed": "已完成", "cancelled": "已取消"}
LEVEL_LABELS = {"province": "省级", "county": "县级", "township": "乡级"}
TASK_LABELS = {"open": "待修复", "done": "已修复", "cancelled": "已取消"}
FONT = "STSong-Light"
GK_ZONES = range(75, 136, 3)  # central meridians of the CGCS2000 3-degree zones, EPSG:4534 … 4554


# ---------------------------------------------------------------- report data


@dataclass(frozen=True, slots=True)
class Party:
    """One side of a line: code, current name and (for maps) its outline as GeoJSON."""

    code: str
    name: str
    geometry: dict | None = None


@dataclass(frozen=True, slots=True)
class LineInfo:
    """A current line as the reports show it."""

    line_id: str
    name: str
    level: str
    line_number: str
    length_m: float
    approving_authority: str
    approximate: bool
    last_inspection: dt.date | None
    geometry: dict
    left: Party
    right: Party


@dataclass(frozen=True, slots=True)
class ReportMarker:
    """A marker the inspection covers, with what it found there (None: not checked)."""

    number: str
    type: str
    managing_party: str
    lon: float
    lat: float
    status: str | None
    displacement_m: float | None
    reference_objects_complete: bool | None
    notes: str | None

    @property
    def label(self) -> str:
        """The status found, or 未检."""
        return self.status or UNCHECKED


@dataclass(frozen=True, slots=True)
class Document:
    """A line document named in an inspection's basis."""

    id: int
    kind: str
    title: str
    doc_number: str | None
    signed_on: dt.date | None


@dataclass(frozen=True, slots=True)
class ReportData:
    """Everything a 联检报告 shows."""

    inspection: Inspection
    line: LineInfo
    documents: list[Document]
    markers: list[ReportMarker]
    sections: list[SectionRecord]
    repairs: list[RepairTask]
    missing: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:
        """The report's title."""
        if self.inspection.kind == "routine":
            return f"{self.line.name}第{self.inspection.round}轮联合检查报告"
        reason = insp.REASONS.get(self.inspection.reason or "", "")
        return f"{self.line.name}专项联合检查报告({reason})"

    @property
    def lead(self) -> Party:
        """The lead party."""
        return self.line.left if self.inspection.lead_party == self.line.left.code else self.line.right

    @property
    def cooperating(self) -> Party:
        """The cooperating party."""
        return self.line.right if self.lead is self.line.left else self.line.left

    def counts(self) -> dict[str, int]:
        """Markers by status found (未检 for none), in the order of STATUS_COLORS."""
        found = [m.label for m in self.markers]
        return {s: found.count(s) for s in (*STATUS_COLORS, UNCHECKED) if found.count(s)}

    def party_name(self, code: str) -> str:
        """The name of a party code of the line (the code itself otherwise)."""
        return {self.line.left.code: self.line.left.name, self.line.right.code: self.line.right.name}.get(code, code)


def party_names(db: DB, codes: list[str]) -> dict[str, str]:
    """Current names of division codes (a code shared by a placeholder row takes the real one)."""
    rows = db.execute(text(
        "SELECT DISTINCT ON (code) code, name FROM divisions WHERE code = ANY(:c) AND valid_to IS NULL "
        "ORDER BY code, placeholder, level"), {"c": list(codes)})
    return {r.code: r.name for r in rows}


def _parties(db: DB, line_id: str, *, clip: bool) -> dict[str, dict | None]:
    """The parties' polygons, simplified for the line's extent; CLIP keeps only the part around the line."""
    shapes = "ST_ClipByBox2D(d.geom, ST_Expand(ST_Envelope(l.geom), e.reach))" if clip else "d.geom"
    rows = db.execute(text(f"""
        SELECT DISTINCT ON (d.code) d.code, ST_AsGeoJSON(ST_SimplifyPreserveTopology({shapes}, e.tolerance), 7, 0) AS g
        FROM boundary_lines l
        CROSS JOIN LATERAL (SELECT greatest(ST_XMax(l.geom) - ST_XMin(l.geom), ST_YMax(l.geom) - ST_YMin(l.geom),
                                            0.005) AS size) s
        CROSS JOIN LATERAL (SELECT s.size * 1.5 AS reach, s.size / 1500 AS tolerance) e
        JOIN divisions d ON d.code IN (l.left_code, l.right_code) AND d.valid_to IS NULL AND d.geom IS NOT NULL
        WHERE l.line_id = :l AND l.valid_to IS NULL
        ORDER BY d.code, d.placeholder, d.level
    """), {"l": line_id})
    return {r.code: json.loads(r.g) if r.g else None for r in rows}


def line_info(db: DB, line_id: str, *, clip_parties: bool = True) -> LineInfo:
    """The current line with its parties' names and outlines; 404 if there is none."""
    insp.get_line(db, line_id)
    row = db.execute(text(
        "SELECT line_id, name, level, line_number, length_m, approving_authority, geom_approximate, "
        "last_inspection, left_code, right_code, ST_AsGeoJSON(geom, 7, 0) AS g FROM boundary_lines "
        "WHERE line_id = :l AND valid_to IS NULL"), {"l": line_id}).one()
    names = party_names(db, [row.left_code, row.right_code])
    shapes = _parties(db, line_id, clip=clip_parties)
    left, right = (Party(c, names.get(c, c), shapes.get(c)) for c in (row.left_code, row.right_code))
    return LineInfo(row.line_id, row.name, row.level, row.line_number, row.length_m, row.approving_authority,
                    row.geom_approximate, row.last_inspection, json.loads(row.g), left, right)


def _documents(db: DB, inspection: Inspection) -> list[Document]:
    ids = [i for key in ("agreements", "registers", "previous_reports") for i in inspection.basis.get(key, [])]
    rows = db.execute(text(
        "SELECT id, kind, title, doc_number, signed_on FROM line_documents WHERE id = ANY(:ids) ORDER BY kind, id"),
        {"ids": ids})
    return [Document(**r._mapping) for r in rows]


def _report_markers(db: DB, inspection: Inspection) -> list[ReportMarker]:
    condition, params = insp.marker_scope(inspection)
    rows = db.execute(text(f"""
        SELECT m.number, m.type, m.managing_party, ST_X(m.geom) AS lon, ST_Y(m.geom) AS lat, r.status,
               r.displacement_m, r.reference_objects_complete, r.notes
        FROM markers m
        LEFT JOIN inspection_marker_records r ON r.marker_id = m.id AND r.inspection_id = :i
        WHERE m.line_id = :scope_line AND (r.id IS NOT NULL OR ({condition}))
        ORDER BY m.seq, m.type_code
    """), params | {"i": inspection.id})
    return [ReportMarker(**r._mapping) for r in rows]


def report_data(db: DB, inspection_id: int) -> ReportData:
    """Collect what the 联检报告 of an inspection shows; 404 if the inspection does not exist."""
    inspection = insp.get_inspection(db, inspection_id)
    return ReportData(inspection, line_info(db, inspection.line_id), _documents(db, inspection),
                      _report_markers(db, inspection), insp.section_records(db, inspection_id),
                      insp.repair_tasks_of(db, inspection_id), list(inspection.basis.get("missing", [])))


# ---------------------------------------------------------------- map frame (shared by SVG and PDF)


def gk_epsg(lon: float) -> int:
    """The EPSG code of the CGCS2000 3-degree Gauss–Krüger zone (CM, no zone prefix) nearest LON."""
    meridian = min(GK_ZONES, key=lambda cm: abs(cm - lon))
    return 4534 + (meridian - 75) // 3


@dataclass(frozen=True, slots=True)
class MapFrame:
    """A map drawn in a WIDTH × HEIGHT box, y up, in the zone's metres scaled by SCALE (units per metre)."""

    width: float
    height: float
    scale: float
    epsg: int
    parties: list[tuple[int, str, list[list[tuple[float, float]]], list[list[tuple[float, float]]]]]
    line: list[list[tuple[float, float]]]
    markers: list[tuple[str, str, float, float]]
    scale_bar_m: float
    north_deg: float  # clockwise from straight up

    @property
    def scale_bar_len(self) -> float:
        """Length of the scale bar in drawing units."""
        return self.scale_bar_m * self.scale


def _nice_length(metres: float) -> float:
    power = 10 ** math.floor(math.log10(max(metres, 1.0)))
    return max(step * power for step in (1, 2, 5) if step * power <= max(metres, 1.0))


def _paths(geom) -> list[list[tuple[float, float]]]:
    if geom.is_empty:
        return []
    if geom.geom_type in ("LineString", "LinearRing"):
        return [list(geom.coords)]
    if geom.geom_type == "Polygon":
        return [list(geom.exterior.coords), *(list(r.coords) for r in geom.interiors)]
    if hasattr(geom, "geoms"):
        return [path for part in geom.geoms for path in _paths(part)]
    return []


def map_frame(line: LineInfo, markers: list[ReportMarker], width: float, height: float,
              pad: float = 0.08) -> MapFrame:
    """Project the line, its parties and markers to the line's GK zone and fit them into WIDTH × HEIGHT."""
    line_geom = shape(line.geometry)
    centre = line_geom.envelope.centroid
    epsg = gk_epsg(centre.x)
    forward = Transformer.from_crs(4490, epsg, always_xy=True)

    def project(geom):
        return shapely.transform(geom, lambda xy: np.column_stack(forward.transform(xy[:, 0], xy[:, 1])))

    line_m = project(line_geom)
    points = [forward.transform(m.lon, m.lat) for m in markers]
    xs = [line_m.bounds[0], line_m.bounds[2], *(p[0] for p in points)]
    ys = [line_m.bounds[1], line_m.bounds[3], *(p[1] for p in points)]
    spread = (1 + 2 * pad)
    scale = min(width / (max(max(xs) - min(xs), 200.0) * spread), height / (max(max(ys) - min(ys), 200.0) * spread))
    cx, cy = (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2
    x0, y0 = cx - width / scale / 2, cy - height / scale / 2
    window = box(x0, y0, x0 + width / scale, y0 + height / scale)

    def to_frame(paths):
        return [[((x - x0) * scale, (y - y0) * scale) for x, y in path] for path in paths]

    parties = []
    for index, party in enumerate((line.left, line.right)):
        if party.geometry:
            # make_valid may return a collection with stray lines (from the clip): keep the polygons only
            polygon = shapely.MultiPolygon(_polygons(shapely.make_valid(project(shape(party.geometry)))))
            fill = _polygons(polygon.intersection(window))
            outline = to_frame(_paths(polygon.boundary.intersection(window)))
            parties.append((index, party.name, [to_frame(_paths(p)) for p in fill], outline))
    north = forward.transform(centre.x, centre.y + 0.01)
    here = forward.transform(centre.x, centre.y)
    return MapFrame(
        width, height, scale, epsg, parties, to_frame(_paths(line_m)),
        [(m.number, m.label, (x - x0) * scale, (y - y0) * scale) for m, (x, y) in zip(markers, points, strict=True)],
        _nice_length(width / scale / 4), math.degrees(math.atan2(north[0] - here[0], north[1] - here[1])))


def _polygons(geom) -> list:
    if geom.geom_type == "Polygon":
        return [] if geom.is_empty else [geom]
    return [p for part in getattr(geom, "geoms", []) for p in _polygons(part)]


def _length_label(metres: float) -> str:
    return f"{metres / 1000:g} km" if metres >= 1000 else f"{metres:g} m"


def _legend_items(frame: MapFrame) -> list[tuple[str, str, str]]:
    """(kind, label, colour) rows: the line, the parties drawn, every status, 未检 when shown."""
    present = {m[1] for m in frame.markers}
    statuses = [(s, c) for s, c in (*STATUS_COLORS.items(), (UNCHECKED, UNCHECKED_COLOR))
                if s in present or s != UNCHECKED]
    return [("line", "界线", LINE_COLOR), *(("party", name, PARTY_FILLS[i]) for i, name, _f, _o in frame.parties),
            *(("marker", s, c) for s, c in statuses)]


# ---------------------------------------------------------------- SVG map (HTML report)


def _svg_path(paths: list[list[tuple[float, float]]], height: float, close: bool) -> str:
    parts = []
    for path in paths:
        if len(path) < 2:
            continue
        points = " L".join(f"{x:.1f},{height - y:.1f}" for x, y in path)
        parts.append(f"M{points}{' Z' if close else ''}")
    return " ".join(parts)


def svg_map(frame: MapFrame, title: str) -> Markup:
    """The map as inline SVG: parties, the line, markers coloured by status, legend, scale bar, north arrow."""
    h = frame.height
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="line-map" viewBox="0 0 {frame.width:.0f} {h:.0f}" '
           f'width="100%" role="img" aria-label="{escape(title, {chr(34): "&quot;"})}">',
           f'<rect width="{frame.width:.0f}" height="{h:.0f}" fill="#ffffff"/>']
    for index, name, fills, outline in frame.parties:
        for rings in fills:
            out.append(f'<path d="{_svg_path(rings, h, True)}" fill="{PARTY_FILLS[index]}" fill-rule="evenodd" '
                       f'stroke="none"><title>{escape(name)}</title></path>')
        out.append(f'<path d="{_svg_path(outline, h, False)}" fill="none" stroke="{PARTY_STROKES[index]}" '
                   'stroke-width="1" stroke-dasharray="4 3"/>')
    out.append(f'<path class="line-map__line" d="{_svg_path(frame.line, h, False)}" fill="none" '
               f'stroke="{LINE_COLOR}" stroke-width="3" stroke-linejoin="round" stroke-linecap="round"/>')
    for number, status, x, y in frame.markers:
        colour = STATUS_COLORS.get(status, UNCHECKED_COLOR)
        out.append(f'<circle class="line-map__marker" data-number="{escape(number)}" data-status="{escape(status)}" '
                   f'cx="{x:.1f}" cy="{h - y:.1f}" r="5" fill="{colour}" stroke="#ffffff" stroke-width="1.2">'
                   f'<title>{escape(number)} {escape(status)}</title></circle>')
    out.append(_svg_legend(frame))
    out.append(_svg_scale_north(frame))
    out.append("</svg>")
    return Markup("".join(out))


def _svg_legend(frame: MapFrame) -> str:
    items = _legend_items(frame)
    rows = [f'<g class="line-map__legend"><rect x="8" y="8" width="130" height="{12 + 18 * len(items)}" '
            'fill="#ffffff" fill-opacity="0.9" stroke="#999999"/>']
    for i, (kind, label, colour) in enumerate(items):
        y = 22 + 18 * i
        symbol = {"line": f'<line x1="16" y1="{y}" x2="36" y2="{y}" stroke="{colour}" stroke-width="3"/>',
                  "party": f'<rect x="18" y="{y - 6}" width="16" height="12" fill="{colour}" stroke="#888888"/>',
                  "marker": f'<circle cx="26" cy="{y}" r="5" fill="{colour}"/>'}[kind]
        rows.append(f'{symbol}<text x="42" y="{y + 4}" font-size="12">{escape(label)}</text>')
    rows.append("</g>")
    return "".join(rows)


def _svg_scale_north(frame: MapFrame) -> str:
    h, length = frame.height, frame.scale_bar_len
    x, y = 16, h - 20
    arrow_x, arrow_y = frame.width - 30, 40
    return (f'<g class="line-map__scale"><line x1="{x}" y1="{y}" x2="{x + length:.1f}" y2="{y}" stroke="#000000" '
            f'stroke-width="2"/><line x1="{x}" y1="{y - 5}" x2="{x}" y2="{y}" stroke="#000000"/>'
            f'<line x1="{x + length:.1f}" y1="{y - 5}" x2="{x + length:.1f}" y2="{y}" stroke="#000000"/>'
            f'<text x="{x}" y="{y - 8}" font-size="12">{_length_label(frame.scale_bar_m)}</text></g>'
            f'<g class="line-map__north" transform="translate({arrow_x},{arrow_y}) rotate({frame.north_deg:.2f})">'
            '<path d="M0,-18 L7,10 L0,4 L-7,10 Z" fill="#000000"/>'
            '<text x="0" y="-22" font-size="13" text-anchor="middle">N</text></g>')


# ---------------------------------------------------------------- HTML report

_ENV = Environment(loader=PackageLoader("boundaries", "templates"), autoescape=select_autoescape(["html"]),
                   trim_blocks=True, lstrip_blocks=True)


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date | dt.datetime) else value


def _number(value: float | None, digits: int = 2) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def render_report_html(data: ReportData) -> str:
    """The 联检报告 as one HTML page with an inline SVG map."""
    frame = map_frame(data.line, data.markers, 760, 460)
    return _ENV.get_template("inspection_report.html").render(
        d=data, i=data.inspection, svg=svg_map(frame, data.title), colors=STATUS_COLORS, unchecked=UNCHECKED,
        unchecked_color=UNCHECKED_COLOR, kinds=KIND_LABELS, states=STATE_LABELS, levels=LEVEL_LABELS,
        reasons=insp.REASONS, tasks=TASK_LABELS, number=_number, epsg=frame.epsg)


# ---------------------------------------------------------------- PDF report


def _font() -> str:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))
    return FONT


def pdf_map(frame: MapFrame):
    """The map as a reportlab Drawing (vector): parties, the line, markers, legend, scale bar, north arrow."""
    from reportlab.graphics.shapes import Circle, Drawing, Group, Line, Path, PolyLine, Rect, String
    from reportlab.lib.colors import HexColor, white

    drawing = Drawing(frame.width, frame.height)
    drawing.add(Rect(0, 0, frame.width, frame.height, fillColor=white, strokeColor=HexColor("#999999")))
    for index, _name, fills, outline in frame.parties:
        for rings in fills:
            path = Path(fillColor=HexColor(PARTY_FILLS[index]), strokeColor=None)
            for ring in rings:
                path.moveTo(*ring[0])
                for point in ring[1:]:
                    path.lineTo(*point)
                path.closePath()
            drawing.add(path)
        for part in outline:
            drawing.add(PolyLine([c for p in part for c in p], strokeColor=HexColor(PARTY_STROKES[index]),
                                 strokeWidth=0.6, strokeDashArray=[3, 2]))
    for part in frame.line:
        drawing.add(PolyLine([c for p in part for c in p], strokeColor=HexColor(LINE_COLOR), strokeWidth=2,
                             strokeLineJoin=1, strokeLineCap=1))
    for _marker, status, x, y in frame.markers:
        drawing.add(Circle(x, y, 3.2, fillColor=HexColor(STATUS_COLORS.get(status, UNCHECKED_COLOR)),
                           strokeColor=white, strokeWidth=0.6))
    items = _legend_items(frame)
    top = frame.height - 6
    drawing.add(Rect(6, top - 6 - 13 * len(items), 78, 6 + 13 * len(items), fillColor=white,
                     strokeColor=HexColor("#999999"), strokeWidth=0.5))
    for i, (kind, label, colour) in enumerate(items):
        y = top - 10 - 13 * i
        if kind == "line":
            drawing.add(Line(12, y + 3, 28, y + 3, strokeColor=HexColor(colour), strokeWidth=2))
        elif kind == "party":
            drawing.add(Rect(14, y - 1, 12, 8, fillColor=HexColor(colour), strokeColor=HexColor("#888888"),
                             strokeWidth=0.4))
        else:
            drawing.add(Circle(20, y + 3, 3.2, fillColor=HexColor(colour), strokeColor=None))
        drawing.add(String(32, y, label, fontName=FONT, fontSize=8))
    bar = frame.scale_bar_len
    drawing.add(Line(10, 12, 10 + bar, 12, strokeWidth=1.5))
    drawing.add(Line(10, 12, 10, 16, strokeWidth=0.8))
    drawing.add(Line(10 + bar, 12, 10 + bar, 16, strokeWidth=0.8))
    drawing.add(String(10, 19, _length_label(frame.scale_bar_m), fontName=FONT, fontSize=8))
    arrow = Group(Path(points=[0, 14, 5, -8, 0, -3, -5, -8], operators=[0, 1, 1, 1, 3], fillColor=HexColor("#000000"),
                       strokeColor=None),
                  String(0, 17, "N", fontName=FONT, fontSize=9, textAnchor="middle"))
    arrow.translate(frame.width - 22, frame.height - 30)
    arrow.rotate(-frame.north_deg)
    drawing.add(arrow)
    return drawing


def _styles() -> dict[str, Any]:
    from reportlab.lib.styles import ParagraphStyle

    font = _font()
    base = ParagraphStyle("base", fontName=font, fontSize=9, leading=13, wordWrap="CJK")
    return {"base": base, "small": ParagraphStyle("small", parent=base, fontSize=8, leading=11),
            "title": ParagraphStyle("title", parent=base, fontSize=16, leading=22, alignment=1, spaceAfter=6),
            "h2": ParagraphStyle("h2", parent=base, fontSize=11, leading=16, spaceBefore=8, spaceAfter=4)}


STATUS_MARK = "■ "  # a status cell is this mark and the status, both in the status colour
CELL_PT = 8  # font size of table cells


def _fits(text_: str, width: float) -> bool:
    """Whether TEXT fits on one line of a cell WIDTH points wide (a CJK character is about 1 em)."""
    ems = sum(1.0 if ord(c) > 0x2E80 else 0.55 for c in text_)
    return "\n" not in text_ and ems * CELL_PT <= width - 6


def _table(rows: list[list[Any]], widths: list[float], styles: dict[str, Any]):
    """A grid table; a cell is wrapped in a Paragraph only when it does not fit on one line (Paragraphs are
    what makes a long report slow), and a status cell takes its status colour."""
    from reportlab.lib.colors import HexColor
    from reportlab.platypus import Paragraph, Table, TableStyle

    commands: list[tuple] = [("GRID", (0, 0), (-1, -1), 0.4, HexColor("#888888")),
                             ("BACKGROUND", (0, 0), (-1, 0), HexColor("#eeeeee")), ("VALIGN", (0, 0), (-1, -1), "TOP"),
                             ("FONTNAME", (0, 0), (-1, -1), FONT), ("FONTSIZE", (0, 0), (-1, -1), CELL_PT),
                             ("LEADING", (0, 0), (-1, -1), CELL_PT + 3)]
    cells = []
    for y, row in enumerate(rows):
        line = []
        for x, value in enumerate(row):
            cell = "" if value is None else str(value)
            if y and cell.startswith(STATUS_MARK):
                colour = STATUS_COLORS.get(cell[len(STATUS_MARK):], UNCHECKED_COLOR)
                commands.append(("TEXTCOLOR", (x, y), (x, y), HexColor(colour)))
            line.append(cell if _fits(cell, widths[x]) else Paragraph(escape(cell), styles["small"]))
        cells.append(line)
    table = Table(cells, colWidths=widths, repeatRows=1)
    table.setStyle(TableStyle(commands))
    return table


def _e(value: Any) -> str:
    return escape("" if value is None else str(value))


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _info_rows(data: ReportData) -> list[list[str]]:
    i, line = data.inspection, data.line
    kind = KIND_LABELS[i.kind] + (f" 第{i.round}轮" if i.round else f"({insp.REASONS.get(i.reason or '', '')})")
    return [["界线", f"{line.name}({line.line_id},编号 {line.line_number},"
                    f"{LEVEL_LABELS.get(line.level, line.level)},长约 {line.length_m / 1000:.2f} km)"],
            ["双方", f"{line.left.name}({line.left.code}) — {line.right.name}({line.right.code})"],
            ["牵头方 / 配合方", f"{data.lead.name}({data.lead.code}) / {data.cooperating.name}({data.cooperating.code})"],
            ["检查类型", kind], ["状态", STATE_LABELS[i.state]],
            ["计划日期", f"{_text(i.planned_start)} — {_text(i.planned_end)}"],
            ["完成日期", _text(i.completed_on) or "—"], ["批准机关", line.approving_authority],
            ["总结", i.summary or "—"]]


def _marker_rows(data: ReportData) -> list[list[str]]:
    rows = [["界桩编号", "类型", "管护方", "检查结果", "位移(m)", "方位物", "备注"]]
    for m in data.markers:
        refs = "" if m.reference_objects_complete is None else ("完整" if m.reference_objects_complete else "不完整")
        rows.append([m.number, m.type, data.party_name(m.managing_party), STATUS_MARK + m.label,
                     _number(m.displacement_m), refs, _text(m.notes)])
    return rows


def _section_rows(data: ReportData) -> list[list[str]]:
    rows = [["区段", "界线清晰可辨", "界线附近变化", "跨界建设", "备注"]]
    for s in data.sections:
        rows.append([f"{s.from_marker or '—'} — {s.to_marker or '—'}", "是" if s.recognisable else "否",
                     _text(s.changes_near_line), _text(s.cross_boundary_construction), _text(s.notes)])
    return rows


def _repair_rows(data: ReportData) -> list[list[str]]:
    rows = [["任务", "界桩", "情况", "处理要求", "管护方", "相邻方(须在场)", "状态"]]
    for t in data.repairs:
        rows.append([str(t.id), t.marker_number, STATUS_MARK + t.found_status, t.action,
                     data.party_name(t.assigned_party), data.party_name(t.neighbour_party),
                     TASK_LABELS.get(t.state, t.state)])
    return rows


def _footer(canvas, doc) -> None:
    canvas.saveState()
    canvas.setFont(FONT, 8)
    canvas.drawRightString(doc.pagesize[0] - doc.rightMargin, 10 * 2.8346, f"第 {doc.page} 页")
    canvas.drawString(doc.leftMargin, 10 * 2.8346, "gazetteer 联检报告")
    canvas.restoreState()


def render_report_pdf(data: ReportData) -> bytes:
    """The 联检报告 as PDF (A4, STSong-Light, vector map); the same data gives the same bytes."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer

    styles = _styles()
    width = A4[0] - 36 * mm
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=18 * mm, rightMargin=18 * mm, topMargin=16 * mm,
                            bottomMargin=18 * mm, title=data.title, author="gazetteer", invariant=1)
    story: list[Any] = [Paragraph(_e(data.title), styles["title"]),
                        _table([["项目", "内容"], *_info_rows(data)], [32 * mm, width - 32 * mm], styles),
                        Paragraph("联检依据", styles["h2"])]
    story += [Paragraph(f"{_e(d.kind)}:{_e(d.title)} {_e(d.doc_number or '')} {_e(d.signed_on or '')}",
                        styles["base"]) for d in data.documents] or [Paragraph("(无)", styles["base"])]
    if data.missing:
        story.append(Paragraph(f"缺少依据文件(规则41):{_e('、'.join(data.missing))}", styles["base"]))
    frame = map_frame(data.line, data.markers, width, 105 * mm)
    story += [Paragraph(f"界线及界桩分布图(CGCS2000 3度带高斯-克吕格投影 EPSG:{frame.epsg})", styles["h2"]),
              pdf_map(frame), Paragraph("界桩检查情况 " + ",".join(f"{k} {v}" for k, v in data.counts().items()),
                                        styles["h2"]),
              _table(_marker_rows(data), [22 * mm, 18 * mm, 24 * mm, 18 * mm, 16 * mm, 16 * mm, width - 114 * mm],
                     styles)]
    story += [Paragraph("界线区段检查情况", styles["h2"]),
              _table(_section_rows(data), [36 * mm, 20 * mm, 40 * mm, 36 * mm, width - 132 * mm], styles)]
    story += [Paragraph("修复任务", styles["h2"]),
              _table(_repair_rows(data), [12 * mm, 20 * mm, 16 * mm, width - 114 * mm, 24 * mm, 26 * mm, 16 * mm],
                     styles), Spacer(1, 6)]
    doc.build(story, onFirstPage=_footer, onLaterPages=_footer)
    return buffer.getvalue()


# ---------------------------------------------------------------- issuing


@dataclass(frozen=True, slots=True)
class IssuedReport:
    """An issued 联检报告: the stored PDF and the line document that files it."""

    inspection_id: int
    sha256: str
    size: int
    document_id: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


def issue_report(db: DB, inspection_id: int, *, actor: str) -> IssuedReport:
    """Store the PDF of a completed inspection's report, link it, and file it as the line's 联检报告."""
    inspection = insp.get_inspection(db, inspection_id, lock=True)
    if inspection.state != "completed":
        raise Conflict(f"inspection {inspection_id} is {inspection.state}: a report is issued once it is completed")
    if inspection.report_sha256 is not None:
        raise Conflict(f"the report of inspection {inspection_id} was issued already ({inspection.report_sha256})")
    data = report_data(db, inspection_id)
    pdf = render_report_pdf(data)
    sha = hashlib.sha256(pdf).hexdigest()
    db.execute(text(
        "INSERT INTO attachments (sha256, size, media_type, content, uploaded_by) VALUES (:s, :n, 'application/pdf', "
        ":c, :a) ON CONFLICT (sha256) DO NOTHING"), {"s": sha, "n": len(pdf), "c": pdf, "a": actor})
    db.execute(text("UPDATE inspections SET report_sha256 = :s WHERE id = :id"), {"s": sha, "id": inspection_id})
    document_id = db.execute(text(
        "INSERT INTO line_documents (line_id, kind, title, doc_number, signed_on, sha256, filename, added_by) "
        "VALUES (:l, '联检报告', :t, :n, :d, :s, :f, :a) RETURNING id"),
        {"l": inspection.line_id, "t": data.title, "n": f"inspection:{inspection_id}",
         "d": inspection.completed_on, "s": sha, "f": f"{inspection.line_id}-inspection-{inspection_id}.pdf",
         "a": actor}).scalar_one()
    audit.record(db, actor=actor, action="issue_report", entity_type="inspection", entity_id=str(inspection_id),
                 after={"report_sha256": sha, "size": len(pdf), "line_document": document_id})
    return IssuedReport(inspection_id, sha, len(pdf), document_id)


def issued_pdf(db: DB, inspection: Inspection) -> bytes | None:
    """The stored PDF of an issued report, or None when none was issued."""
    if inspection.report_sha256 is None:
        return None
    return db.execute(text("SELECT content FROM attachments WHERE sha256 = :s"),
                      {"s": inspection.report_sha256}).scalar()


# ---------------------------------------------------------------- 界桩登记表 / 成果表

REGISTER_HEADERS = ("界桩编号", "类型", "类型代码", "所在方", "界线", "管护方", "经度", "纬度", "坐标系", "原坐标系",
                    "精度(m)", "方位物", "方位物完整", "状态", "最近检查结果", "最近检查日期")
REGISTER_WIDTHS = (12, 10, 8, 16, 30, 16, 15, 15, 12, 12, 9, 40, 10, 8, 12, 13)


@dataclass(frozen=True, slots=True)
class RegisterRow:
    """One marker of the 界桩登记表."""

    number: str
    type: str
    type_code: str
    side: str
    line: str
    managing_party: str
    lon: float
    lat: float
    datum: str
    source_datum: str
    precision_m: float | None
    reference_objects: str
    reference_objects_complete: bool
    status: str
    last_result: str | None
    last_checked: dt.date | None

    def cells(self) -> list[Any]:
        """The row's values in REGISTER_HEADERS order (lon/lat as floats)."""
        return [self.number, self.type, self.type_code, self.side, self.line, self.managing_party, self.lon,
                self.lat, self.datum, self.source_datum, self.precision_m, self.reference_objects,
                "是" if self.reference_objects_complete else "否", self.status, self.last_result or "",
                self.last_checked]


def _reference_text(objects: list[dict[str, Any]]) -> str:
    parts = []
    for item in objects or []:
        bits = [str(item.get("name", ""))]
        if item.get("bearing_deg") is not None:
            bits.append(f"方位{item['bearing_deg']}°")
        if item.get("distance_m") is not None:
            bits.append(f"距离{item['distance_m']}m")
        parts.append(" ".join(b for b in bits if b))
    return ";".join(parts)


def register_rows(db: DB, line_id: str) -> list[RegisterRow]:
    """The current markers of a line with their last inspection result, in number order; 404 for no line."""
    line = insp.get_line(db, line_id)
    rows = db.execute(text("""
        SELECT m.number, m.type, m.type_code, m.side_code, m.managing_party, ST_X(m.geom) AS lon,
               ST_Y(m.geom) AS lat, m.source_datum, m.precision_m, m.reference_objects,
               m.reference_objects_complete, m.status, last.status AS last_result, last.checked_on AS last_checked
        FROM markers m
        LEFT JOIN LATERAL (
            SELECT r.status, coalesce(i.completed_on, (r.recorded_at AT TIME ZONE 'Asia/Shanghai')::date) AS checked_on
            FROM inspection_marker_records r JOIN inspections i ON i.id = r.inspection_id
            WHERE r.marker_id = m.id ORDER BY checked_on DESC, r.id DESC LIMIT 1) last ON true
        WHERE m.line_id = :l AND m.retired_on IS NULL
        ORDER BY m.seq, m.type_code
    """), {"l": line_id}).all()
    names = party_names(db, [line.left_code, line.right_code, *(r.side_code for r in rows if r.side_code)])

    def named(code: str | None) -> str:
        return f"{names.get(code, '')}({code})" if code else ""

    return [RegisterRow(r.number, r.type, r.type_code, named(r.side_code), f"{line.name}({line.line_id})",
                        named(r.managing_party), r.lon, r.lat, "CGCS2000", r.source_datum, r.precision_m,
                        _reference_text(r.reference_objects), r.reference_objects_complete, r.status, r.last_result,
                        r.last_checked) for r in rows]


def _safe(value: Any) -> Any:
    # A text cell starting with = + - @ would run as a formula in a spreadsheet.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value


def register_csv(rows: list[RegisterRow]) -> bytes:
    """The register as CSV: UTF-8 with BOM (Excel reads the Chinese right), CRLF, lon/lat to 8 decimals."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(REGISTER_HEADERS)
    for row in rows:
        cells = row.cells()
        cells[6], cells[7] = f"{row.lon:.8f}", f"{row.lat:.8f}"
        cells[10] = "" if row.precision_m is None else f"{row.precision_m:g}"
        cells[15] = row.last_checked.isoformat() if row.last_checked else ""
        writer.writerow([_safe(c) for c in cells])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def register_xlsx(rows: list[RegisterRow], title: str = "界桩登记表") -> bytes:
    """The register as XLSX: header row frozen, column widths set, lon/lat shown to 8 decimals."""
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter

    book = Workbook()
    sheet = book.active
    sheet.title = title[:31]
    sheet.append(list(REGISTER_HEADERS))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="EEEEEE")
    for row in rows:
        sheet.append([_safe(c) for c in row.cells()])
    for column, width in enumerate(REGISTER_WIDTHS, start=1):
        sheet.column_dimensions[get_column_letter(column)].width = width
    for row_cells in sheet.iter_rows(min_row=2, min_col=7, max_col=8):
        for cell in row_cells:
            cell.number_format = "0.00000000"
    for (cell,) in sheet.iter_rows(min_row=2, min_col=16, max_col=16):
        cell.number_format = "yyyy-mm-dd"
    sheet.freeze_panes = "A2"
    book.properties.creator = "gazetteer"
    book.properties.title = title
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


# ---------------------------------------------------------------- line map page data


def _last_findings(db: DB, line_id: str) -> dict[str, dict[str, Any]]:
    rows = db.execute(text("""
        SELECT DISTINCT ON (m.id) m.number, r.status, r.displacement_m, r.notes, i.id AS inspection_id, i.kind,
               i.round, coalesce(i.completed_on, (r.recorded_at AT TIME ZONE 'Asia/Shanghai')::date) AS checked_on
        FROM markers m JOIN inspection_marker_records r ON r.marker_id = m.id
        JOIN inspections i ON i.id = r.inspection_id
        WHERE m.line_id = :l
        ORDER BY m.id, checked_on DESC, r.id DESC
    """), {"l": line_id})
    return {r.number: {k: _iso(v) for k, v in r._mapping.items() if k != "number"} for r in rows}


def _photos_by_marker(db: DB, line_id: str, per_marker: int = 3) -> dict[str, list[str]]:
    rows = db.execute(text("""
        SELECT number, sha256 FROM (
            SELECT m.number, p.sha256, row_number() OVER (PARTITION BY m.id ORDER BY p.added_at DESC, p.sha256) AS n
            FROM markers m JOIN marker_photos p ON p.marker_id = m.id WHERE m.line_id = :l) ranked
        WHERE n <= :k ORDER BY number, n
    """), {"l": line_id, "k": per_marker})
    photos: dict[str, list[str]] = {}
    for r in rows:
        photos.setdefault(r.number, []).append(r.sha256)
    return photos


def _inspection_summary(db: DB, line_id: str, states: tuple[str, ...]) -> dict[str, Any] | None:
    row = db.execute(text(
        "SELECT id, kind, round, reason, state, completed_on, planned_start, planned_end, summary FROM inspections "
        "WHERE line_id = :l AND state = ANY(:s) ORDER BY completed_on DESC NULLS LAST, id DESC LIMIT 1"),
        {"l": line_id, "s": list(states)}).first()
    if row is None:
        return None
    counts = dict(db.execute(text(
        "SELECT status, count(*) FROM inspection_marker_records WHERE inspection_id = :i GROUP BY status"),
        {"i": row.id}).all())
    return {k: _iso(v) for k, v in row._mapping.items()} | {
        "counts": {s: counts[s] for s in STATUS_COLORS if s in counts}}


def line_map_data(db: DB, line_id: str) -> dict[str, Any]:
    """What the line map page shows: the line, its parties, its markers (status, last finding, photos),
    the last completed inspection with counts by status, any unfinished one, and the open repair tasks."""
    line = line_info(db, line_id, clip_parties=False)
    findings, photos = _last_findings(db, line_id), _photos_by_marker(db, line_id)
    names = {line.left.code: line.left.name, line.right.code: line.right.name}
    markers = db.execute(text(
        "SELECT number, type, type_code, status, managing_party, ST_X(geom) AS lon, ST_Y(geom) AS lat "
        "FROM markers WHERE line_id = :l AND retired_on IS NULL ORDER BY seq, type_code"), {"l": line_id}).all()
    repairs = insp.list_repair_tasks(db, "open", line_id=line_id, limit=insp.MAX_PAGE).items
    return {
        "line": {"line_id": line.line_id, "name": line.name, "level": line.level, "line_number": line.line_number,
                 "length_m": line.length_m, "approximate": line.approximate, "geometry": line.geometry,
                 "last_inspection": _iso(line.last_inspection)},
        "parties": [asdict(line.left), asdict(line.right)],
        "markers": [dict(m._mapping) | {"managing_name": names.get(m.managing_party, m.managing_party),
                                        "last_finding": findings.get(m.number), "photos": photos.get(m.number, [])}
                    for m in markers],
        "last_inspection": _inspection_summary(db, line_id, ("completed",)),
        "open_inspection": _inspection_summary(db, line_id, insp.OPEN_STATES),
        "open_repairs": [{"id": t.id, "marker": t.marker_number, "found_status": t.found_status,
                          "assigned_party": t.assigned_party,
                          "assigned_name": names.get(t.assigned_party, t.assigned_party),
                          "opened_on": t.opened_at.date().isoformat()} for t in repairs],
    }
