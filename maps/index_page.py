"""The /maps index: a search box that suggests addresses, place names and divisions as the user types and
opens the map page for the one chosen, plus links to the demo maps. Plain HTML and one small script
(``maps/static/gazetteer/index.js``)."""

from __future__ import annotations

from collections.abc import Sequence

from maps.division_map import DEFAULT_STATIC_PREFIX
from maps.page import esc

DEMO_LINKS: tuple[tuple[str, str, str], ...] = (
    ("杭州市服务设施分布与覆盖", "/maps/facilities?division=330100", "养老、儿童、社工站等设施,服务半径与缺口"),
    ("杭州市行政区划图", "/maps/divisions/330100", "杭州市及其所辖区、县(市)"),
    ("上城区—拱墅区界线与界桩", "/maps/boundaries/330102-330105", "界线、双方区划、界桩状态与最近联检"),
    ("西湖区标准地名", "/maps/placenames?division=330106", "带坐标的标准地名,附罗马字母拼写"),
)
WHERE_TO = (
    ("区划", "打开该区划的行政区划图"),
    ("地名", "打开所在县级区划的地名图,并弹出该地名"),
    ("地址", "打开所在县级区划的服务设施图,以该地址为中心(看它周围的设施与覆盖)"),
)

PAGE = """<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>地图 — 区划地名</title>
<style>
  body {{ font-family: system-ui, -apple-system, "Segoe UI", "PingFang SC", "Microsoft YaHei",
         "Noto Sans CJK SC", "WenQuanYi Micro Hei", sans-serif; margin: 0; color: #222; background: #f5f6f8; }}
  main {{ max-width: 760px; margin: 0 auto; padding: 28px 18px; }}
  h1 {{ font-size: 24px; margin: 0 0 14px; }}
  label {{ display: block; font-weight: 600; margin-bottom: 6px; }}
  #map-search {{ width: 100%; box-sizing: border-box; font-size: 17px; padding: 10px 12px;
                 border: 1px solid #98a2b3; border-radius: 6px; }}
  #map-search-status {{ color: #666; font-size: 13px; min-height: 18px; margin: 4px 0; }}
  #map-suggestions {{ background: #fff; border-radius: 6px; box-shadow: 0 1px 4px rgba(0,0,0,.15); }}
  #map-suggestions:empty {{ display: none; }}
  .suggest-group h2 {{ font-size: 13px; color: #555; margin: 0; padding: 8px 12px 2px; }}
  .suggest-group ul, .demo-links {{ list-style: none; margin: 0; padding: 0; }}
  a.suggestion {{ display: block; padding: 6px 12px; color: inherit; text-decoration: none; }}
  a.suggestion:hover, a.suggestion:focus {{ background: #e8f0fb; outline: none; }}
  a.suggestion span {{ color: #666; font-size: 13px; margin-left: 8px; }}
  .demo-links li {{ background: #fff; margin: 8px 0; padding: 10px 12px; border-radius: 6px; }}
  .demo-links a {{ font-weight: 600; color: #1f5fa0; }}
  .demo-links p, .where-to {{ margin: 2px 0 0; color: #555; font-size: 13px; }}
</style>
</head>
<body>
<main>
  <h1>地图</h1>
  <label for="map-search">查地址、地名或区划</label>
  <input id="map-search" type="search" autocomplete="off" placeholder="如:文一西路、西湖区、xihu" autofocus>
  <p id="map-search-status" role="status" aria-live="polite"></p>
  <div id="map-suggestions"></div>
  <ul class="where-to">{where_to}</ul>
  <h2>示例地图</h2>
  <ul class="demo-links">{links}</ul>
</main>
<script src="{static}/gazetteer/index.js"></script>
</body>
</html>
"""


def render_index_page(links: Sequence[tuple[str, str, str]] = DEMO_LINKS, *,
                      static_prefix: str = DEFAULT_STATIC_PREFIX) -> str:
    """The index page: the search box and LINKS ((title, url, description) each)."""
    items = "".join(f'<li><a href="{esc(url)}">{esc(title)}</a><p>{esc(about)}</p></li>' for title, url, about in links)
    where_to = "".join(f"<li><b>{esc(kind)}</b>:{esc(what)}</li>" for kind, what in WHERE_TO)
    return PAGE.format(links=items, where_to=where_to, static=esc((static_prefix or "").rstrip("/")))
