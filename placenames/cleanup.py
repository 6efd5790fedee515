"""The batch audit behind 不规范地名清理整治 (§7): every naming rule over the registry (or one division),
written as a 不规范地名 list in CSV and HTML."""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from jinja2 import Environment, select_autoescape
from sqlalchemy import Connection, text

from boundaries.codes import DivisionCode
from boundaries.divisions import descendant_prefix
from data.errors import InvalidInput
from placenames.categories import get_category
from placenames.rules import Finding, Proposal, check_text

HTML_ROWS = 5000  # the page shows this many findings; the CSV has all of them


@dataclass(slots=True)
class AuditRow:
    """One finding about one registry name."""

    name_id: int
    name: str
    category: str
    division_code: str | None
    finding: Finding


@dataclass(slots=True)
class AuditResult:
    """Every finding, and how many names were checked."""

    checked: int = 0
    rows: list[AuditRow] = field(default_factory=list)

    def counts(self) -> list[tuple[int, str, str, int]]:
        """(rule, code, severity, count), most frequent first."""
        tally = Counter((r.finding.rule, r.finding.code, r.finding.severity) for r in self.rows)
        return [(rule, code, sev, n) for (rule, code, sev), n in tally.most_common()]

    def names_flagged(self) -> int:
        """How many distinct names have at least one warning or error."""
        return len({r.name_id for r in self.rows if r.finding.severity != "info"})


_NAMES = """
SELECT name_id, name, specific, generic, category, division_code FROM place_names
WHERE valid_to IS NULL AND status = 'standard' AND (CAST(:prefix AS text) IS NULL OR division_code LIKE :prefix)
ORDER BY name_id
"""

# Scope key and comparison group per category (§9 rules 3–6); the batch has no built-up-area lookup per
# name, so streets and buildings are compared within their county (said in the message).
_SCOPE = """
CASE WHEN category IN ('0401', '0402', '0403') THEN 'CN'
     WHEN category = '0404' THEN left(division_code, 2)
     ELSE left(division_code, 6) END
"""
_GROUP = """
CASE WHEN category IN ('0401', '0402', '0403') THEN 'national'
     WHEN category = '0703' OR category LIKE '11%' THEN 'buildings'
     WHEN category LIKE '05%' THEN 'committees'
     ELSE category END
"""
# A division's names are compared with every name in their legal scope (a township with the whole
# province, a county nationwide), not only with the division's; findings are reported for its own names.
_DUPLICATES = f"""
WITH mine AS (
    SELECT name, pinyin_key FROM place_names
    WHERE valid_to IS NULL AND status = 'standard' AND category NOT LIKE '12%'
      AND (CAST(:prefix AS text) IS NULL OR division_code LIKE :prefix)
), names AS (
    SELECT name_id, name, category, division_code, pinyin_key, {_SCOPE} AS scope, {_GROUP} AS grp,
           (CAST(:prefix AS text) IS NULL OR division_code LIKE :prefix) AS mine
    FROM place_names WHERE valid_to IS NULL AND status = 'standard' AND category NOT LIKE '12%'
      AND (CAST(:prefix AS text) IS NULL OR division_code LIKE :prefix
           OR name IN (SELECT name FROM mine) OR pinyin_key IN (SELECT pinyin_key FROM mine))
), same_name AS (
    SELECT scope, grp, name, array_agg(name_id ORDER BY name_id) AS ids,
           array_agg(name_id ORDER BY name_id) FILTER (WHERE mine) AS mine_ids FROM names
    GROUP BY scope, grp, name HAVING count(*) > 1 AND bool_or(mine)
), same_sound AS (
    SELECT scope, grp, pinyin_key, array_agg(name_id ORDER BY name_id) AS ids,
           array_agg(name_id ORDER BY name_id) FILTER (WHERE mine) AS mine_ids,
           array_agg(DISTINCT name) AS spellings FROM names
    GROUP BY scope, grp, pinyin_key HAVING count(DISTINCT name) > 1 AND bool_or(mine)
)
SELECT 'duplicate' AS kind, scope, grp, ids, mine_ids, ARRAY[name] AS spellings FROM same_name
UNION ALL
SELECT 'homophone', scope, grp, ids, mine_ids, spellings FROM same_sound
"""
# §9 rule per comparison group; every other category is compared within its county (rule 4's scope).
_RULE_OF_GROUP = {"national": 6, "0404": 3, "committees": 4, "buildings": 5, "0801": 5}


def _text_findings(conn: Connection, prefix: str | None, on_progress) -> Iterator[AuditRow]:
    for row in conn.execute(text(_NAMES), {"prefix": prefix}):
        category = get_category(row.category)
        proposal = Proposal(name=row.name, category=category, specific=row.specific, generic=row.generic,
                            division_code=row.division_code)
        for finding in _checked(proposal):
            yield AuditRow(row.name_id, row.name, row.category, row.division_code, finding)
        if on_progress:
            on_progress(1)


def _checked(proposal: Proposal) -> list[Finding]:
    """check_text, with a name that cannot even be validated reported as a finding, not an abort."""
    try:
        return check_text(proposal)
    except InvalidInput as exc:  # e.g. private-use characters in the statistical names
        return [Finding(rule=12, code="invalid-name", severity="error", message=exc.detail,
                        evidence={"name": proposal.name}, source="JY-2019")]


def _duplicate_findings(conn: Connection, prefix: str | None) -> Iterator[AuditRow]:
    names = {}
    groups = conn.execute(text(_DUPLICATES), {"prefix": prefix}).all()
    wanted = sorted({i for g in groups for i in g.ids})
    for row in conn.execute(text("SELECT name_id, name, category, division_code FROM place_names "
                                 "WHERE valid_to IS NULL AND name_id = ANY(:ids)"), {"ids": wanted}):
        names[row.name_id] = row
    for group in groups:
        rule = _RULE_OF_GROUP.get(group.grp, 4)
        scope = "全国" if group.scope == "CN" else f"政区 {group.scope}"
        for name_id in group.mine_ids:
            row = names[name_id]
            others = [names[i].name + f"({i})" for i in group.ids if i != name_id][:5]
            same = group.kind == "duplicate"
            yield AuditRow(name_id, row.name, row.category, row.division_code, Finding(
                rule=rule, code=group.kind, severity="error" if same else "warning",
                message=f"{scope}内{'重名' if same else '同音'}：{'、'.join(others)}",
                evidence={"scope": group.scope, "names": group.spellings, "ids": group.ids[:20]},
                source="LRB-DM Art. 9(7)(8); FS-172294"))


def audit_registry(conn: Connection, *, division: DivisionCode | None = None,
                   on_progress: Callable[[int], None] | None = None) -> AuditResult:
    """Run every registry-wide rule over the current standard names (optionally one division)."""
    prefix = descendant_prefix(division) if division else None
    result = AuditResult()
    result.checked = conn.execute(text(f"SELECT count(*) FROM ({_NAMES}) n"), {"prefix": prefix}).scalar_one()
    result.rows.extend(_text_findings(conn, prefix, on_progress))
    result.rows.extend(_duplicate_findings(conn, prefix))
    result.rows.sort(key=lambda r: (r.division_code or "", r.name_id, r.finding.rule))
    return result


CSV_COLUMNS = ("name_id", "name", "category", "category_name", "division_code", "rule", "code", "severity",
               "message", "evidence", "source")


def write_csv(result: AuditResult, path: Path) -> None:
    """The 不规范地名 list as UTF-8 CSV with a BOM (so Excel opens it correctly)."""
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for r in result.rows:
            f = r.finding
            writer.writerow((r.name_id, r.name, r.category, get_category(r.category).name, r.division_code,
                             f.rule, f.code, f.severity, f.message,
                             json.dumps(f.evidence, ensure_ascii=False), f.source))


_PAGE = Environment(autoescape=select_autoescape(default=True)).from_string("""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>不规范地名清单</title>
<style>body{font-family:sans-serif;margin:1.5em} table{border-collapse:collapse}
td,th{border:1px solid #999;padding:.2em .5em;font-size:.9em} .error{background:#fde2e2} .warning{background:#fff5d6}
</style></head><body>
<h1>不规范地名清单</h1>
<p>检查地名 {{ result.checked }} 条，发现问题 {{ result.rows|length }} 项，涉及地名 {{ result.names_flagged() }} 条
（{{ scope }}）。</p>
<h2>按规则统计</h2>
<table id="counts"><tr><th>规则(§9)</th><th>代码</th><th>级别</th><th>数量</th></tr>
{% for rule, code, sev, n in result.counts() %}<tr class="{{ sev }}"><td>{{ rule }}</td><td>{{ code }}</td>
<td>{{ sev }}</td><td>{{ n }}</td></tr>{% endfor %}</table>
<h2>清单{% if result.rows|length > limit %}（前 {{ limit }} 项，完整清单见 CSV）{% endif %}</h2>
<table id="findings"><tr><th>ID</th><th>名称</th><th>类别</th><th>政区</th><th>规则</th><th>级别</th><th>说明</th></tr>
{% for r in result.rows[:limit] %}<tr class="{{ r.finding.severity }}"><td>{{ r.name_id }}</td><td>{{ r.name }}</td>
<td>{{ r.category }}</td><td>{{ r.division_code }}</td><td>{{ r.finding.rule }}</td><td>{{ r.finding.severity }}</td>
<td>{{ r.finding.message }}</td></tr>{% endfor %}</table></body></html>
""")


def write_html(result: AuditResult, path: Path, *, scope: str = "全部登记地名") -> None:
    """The same list as a page: counts per rule, then the findings."""
    path.write_text(_PAGE.render(result=result, scope=scope, limit=HTML_ROWS), encoding="utf-8")
