"""Published 公告: JSON records, an Atom feed and a printable HTML page (§1.7, 2023 备案公告管理办法)."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any
from xml.etree import ElementTree as ET

from jinja2 import Environment, select_autoescape
from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from data.errors import NotFound

DB = Session | Connection
KIND_TITLES = {"name": "地名命名公告", "rename": "地名更名公告", "cancel": "地名注销公告"}
ATOM = "http://www.w3.org/2005/Atom"


@dataclass(frozen=True, slots=True)
class Announcement:
    """One 公告 with the six required fields (标准名称, 罗马字母拼写, 所属政区, 位置描述, 批准机关, 批准时间)."""

    id: int
    application_id: int
    name_id: int
    kind: str
    title: str
    standard_name: str
    romanization: str
    division: str
    location: str
    approver: str
    approval_date: str
    published_on: str
    former_name: str | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


_SELECT = """
SELECT id, application_id, name_id, kind, standard_name, romanization, division, location, approver,
       approval_date::text, published_on::text, former_name FROM announcements
"""


def _from_row(row) -> Announcement:
    return Announcement(**row._mapping, title=KIND_TITLES[row.kind])


def list_announcements(db: DB, *, limit: int = 50, after: int | None = None) -> tuple[list[Announcement], int | None]:
    """Newest first, keyset-paged by id."""
    rows = db.execute(text(_SELECT + " WHERE (CAST(:after AS bigint) IS NULL OR id < :after) ORDER BY id DESC LIMIT :n"),
                      {"after": after, "n": limit + 1}).all()
    page = [_from_row(r) for r in rows[:limit]]
    return page, (page[-1].id if len(rows) > limit else None)


def get_announcement(db: DB, ann_id: int) -> Announcement:
    """One announcement, or NotFound."""
    row = db.execute(text(_SELECT + " WHERE id = :id"), {"id": ann_id}).one_or_none()
    if row is None:
        raise NotFound(f"no announcement has id {ann_id}")
    return _from_row(row)


def _summary(a: Announcement) -> str:
    former = f"（原名：{a.former_name}）" if a.former_name else ""
    return (f"标准名称：{a.standard_name}{former}；罗马字母拼写：{a.romanization}；所属政区：{a.division}；"
            f"位置描述：{a.location}；批准机关：{a.approver}；批准时间：{a.approval_date}")


def atom_feed(items: list[Announcement], base_url: str) -> bytes:
    """An Atom 1.0 feed of announcements (RFC 4287)."""
    ET.register_namespace("", ATOM)
    feed = ET.Element(f"{{{ATOM}}}feed")
    _sub(feed, "title", "地名公告 (gazetteer)")
    _sub(feed, "id", f"{base_url}/v1/announcements")
    updated = max((a.published_on for a in items), default=dt.date(2000, 1, 1).isoformat())
    _sub(feed, "updated", f"{updated}T00:00:00+08:00")
    ET.SubElement(feed, f"{{{ATOM}}}link", rel="self", href=f"{base_url}/v1/announcements?f=atom")
    author = ET.SubElement(feed, f"{{{ATOM}}}author")
    _sub(author, "name", "地名行政主管部门")
    for a in items:
        entry = ET.SubElement(feed, f"{{{ATOM}}}entry")
        _sub(entry, "title", f"{a.title}：{a.standard_name}")
        _sub(entry, "id", f"{base_url}/v1/announcements/{a.id}")
        _sub(entry, "updated", f"{a.published_on}T00:00:00+08:00")
        _sub(entry, "published", f"{a.published_on}T00:00:00+08:00")
        ET.SubElement(entry, f"{{{ATOM}}}link", rel="alternate", type="text/html",
                      href=f"{base_url}/v1/announcements/{a.id}?f=html")
        _sub(entry, "summary", _summary(a))
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)


def _sub(parent: ET.Element, tag: str, value: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{ATOM}}}{tag}")
    element.text = value
    return element


_PAGE = Environment(autoescape=select_autoescape(default=True)).from_string("""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{{ a.title }}：{{ a.standard_name }}</title>
<style>
 body { font-family: "Noto Serif CJK SC", "SimSun", serif; max-width: 42em; margin: 2em auto; line-height: 1.8 }
 h1 { text-align: center; font-size: 1.6em; letter-spacing: .2em }
 table { border-collapse: collapse; width: 100% } th, td { border: 1px solid #000; padding: .4em .6em }
 th { width: 8em; text-align: left; background: #f3f3f3 } .sign { text-align: right; margin-top: 3em }
 @media print { body { margin: 0 } .noprint { display: none } }
</style></head><body>
<h1 class="title">{{ a.title }}</h1>
<p>根据《地名管理条例》第十四条，现将经批准的地名公告如下：</p>
<table class="fields">
 <tr><th>标准名称</th><td class="standard-name">{{ a.standard_name }}</td></tr>
 {% if a.former_name %}<tr><th>原名称</th><td>{{ a.former_name }}</td></tr>{% endif %}
 <tr><th>罗马字母拼写</th><td class="romanization">{{ a.romanization }}</td></tr>
 <tr><th>所属政区</th><td>{{ a.division }}</td></tr>
 <tr><th>位置描述</th><td>{{ a.location }}</td></tr>
 <tr><th>批准机关</th><td>{{ a.approver }}</td></tr>
 <tr><th>批准时间</th><td>{{ a.approval_date }}</td></tr>
</table>
<p class="sign">公告日期：{{ a.published_on }}</p>
<p class="noprint"><a href="/v1/announcements/{{ a.id }}">JSON</a> · <a href="/v1/announcements?f=atom">Atom</a></p>
</body></html>
""")


def html_page(a: Announcement) -> str:
    """The printable announcement page."""
    return _PAGE.render(a=a)
