"""The administrative prefix index: which divisions an address names, and where that prefix ends.

All current divisions of levels 1–4 go into one Aho-Corasick automaton under their full names,
their customary short forms (浙江, 杭州, 柯桥, 延边州, 红河州, 科左中旗 …), their former names
(`data/renames.tsv`, dated) and development-zone names (`data/zones.tsv` plus the 功能区 rows of the
table). Villages (level 5, 612k short names) stay out of it: they are looked up only right after a
resolved township or county. `AdminIndex.resolve` picks, among all matches, the highest-scoring chain
of divisions that are each other's ancestors, so a name inside a road (北海市重庆路) or a name that
contradicts the rest (青海西宁 ≠ 海西州) loses to a consistent reading.
"""

from __future__ import annotations

import csv
import gc
import re
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import ahocorasick
from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from addresses.normalize import normalize

DATA = Path(__file__).with_name("data")
LEVEL_NAMES = (None, "province", "city", "county", "town", "village")
MUNICIPALITIES = ("11", "12", "31", "50")

# Kinds of index entries and what each costs against a full name (scores are in characters).
FULL, ALIAS, OLD, OLD_ALIAS, ZONE, EXTRA, GENERIC, OLD_PART, OLD_PART_ALIAS = range(9)
PENALTY = {FULL: 0.0, ALIAS: 0.5, OLD: 0.6, OLD_ALIAS: 0.8, ZONE: 0.3, EXTRA: 0.3, GENERIC: 0.5, OLD_PART: 0.9,
           OLD_PART_ALIAS: 1.1}
FORMER = (OLD, OLD_ALIAS, OLD_PART, OLD_PART_ALIAS)
LEAD_PENALTY = 0.3   # per character before the first division: "收货地址：" costs little, a road a lot
GAP_PENALTY = 0.5    # per unexplained character between two divisions of the chain

# Which suffix a kind of division drops for its short form (the first that leaves two characters).
ALIAS_SUFFIXES = {
    "省": ("省",), "直辖市": ("市",), "自治区": ("自治区",), "特别行政区": ("特别行政区",),
    "地级市": ("市",), "地区": ("地区",), "盟": ("盟",), "自治州": ("自治州",),
    "市辖区": ("新区", "区"), "县": ("县",), "县级市": ("市",), "旗": ("旗",), "自治县": ("自治县",),
    "自治旗": ("自治旗",), "林区": ("林区",), "特区": ("特区",),
}
ETHNIC = sorted((
    "蒙古 回 藏 维吾尔 苗 彝 壮 布依 朝鲜 满 侗 瑶 白 土家 哈尼 哈萨克 傣 黎 傈僳 佤 畲 高山 拉祜 水 东乡 "
    "纳西 景颇 柯尔克孜 土 达斡尔 仫佬 羌 布朗 撒拉 毛南 仡佬 锡伯 阿昌 普米 塔吉克 怒 乌孜别克 俄罗斯 "
    "鄂温克 德昂 保安 裕固 京 塔塔尔 独龙 鄂伦春 赫哲 门巴 珞巴 基诺").split(), key=len, reverse=True)
# Short forms that are ordinary words or cover several places in one city; never indexed.
BAD_ALIASES = frozenset({"市中", "城区", "郊区", "矿区", "新区", "开发", "高新", "经济"})
# Township-level names that are generic words: found inside every 某某街道 or 某经济开发区, so they
# are looked up only right after their county, never through the automaton.
GENERIC_TOWNS = frozenset({"街道", "城区", "林场", "苗圃", "开发区", "经济开发区", "高新区", "工业园区",
                           "社区建设办公室", "县直辖村级区划"})
GENERIC_TOWN_AT = re.compile("|".join(sorted(GENERIC_TOWNS, key=len, reverse=True)))
# A match followed by these is a road named after the place (北京路, 四川北路, 中山东大街, 湖州街). A 通名
# followed by another is part of a road's 专名, not the end of one (东街村 before 东街路), unless that
# other starts a word (北京路路口).
ROAD_AFTER = re.compile(r"[东西南北中]?(?:路|街(?!道)|大道|大街|巷|弄|胡同|道(?=\d|$|号))"
                        r"(?![乡镇村]|(?:[路巷弄]|街(?!道))(?![口边旁侧段]))")
ROAD_OF_ITS_OWN = re.compile(r"[\u3400-\u9fff]{1,12}?(?:路|街(?!道)|大道|大街|巷|弄|胡同)(?=\d|$|[,，])")
ROAD_HEADS = frozenset("东西南北中路街大巷弄胡道")
ROAD_SOON = re.compile(r"[\u4e00-\u9fff]{0,3}?(?:路|街(?!道)|大道|巷)")
ABSORB = frozenset("省市区县州盟旗")
TOWN_SUFFIX = re.compile(r"街道办事处|街道办|街道|街办|办事处|镇|乡|苏木")
VILLAGE_SUFFIX = re.compile(
    r"(?:社区居民委员会|社区居委会|居民委员会|村民委员会|社区|居委会|村委会|居委|村委|村)")
COMMITTEE = ("居民委员会", "村民委员会", "居委会", "村委会", "委员会")
# Cheap look-aheads: only text that ends in a township or village word within a few characters is
# worth building (and searching) the per-county tables for.
TOWN_HINT = re.compile(r"[\u3400-\u9fff]{1,10}?(?:街道|街办|办事处|镇|乡|苏木)")
# A township written without its suffix is taken only right after a county written short, and only
# when a road (or nothing) follows: 萧山宁围市心北路99号, 鄞州钟公庙.
BARE_TOWN_HINT = re.compile(r"[\u3400-\u9fff]{2,4}?(?=[\u3400-\u9fff]{1,6}?(?:路|街|大道|巷)(?:\d|$)|$)")
BARE_TOWN_AFTER = re.compile(r"[\u3400-\u9fff]{1,6}?(?:路|街|大道|巷)(?:\d|$)|$")
# 生活区/管理区: the village-level units of state farms and reclamation areas (萧山农业对外综合开发生活区).
VILLAGE_HINT = re.compile(r"[\u3400-\u9fff]{1,12}?(?:村|社区|居委)|[\u3400-\u9fff]{1,21}?(?:生活区|管理区)")
OWN_NAME = ("生活区", "管理区")
# Division names hold no digits, so the prefix ends where a number starts after Chinese text
# (a phone number or a number in the first four characters does not end it).
_DIGIT = re.compile(r"(?<=[\u3400-\u9fff])\d")
RESOLVED_CACHE = 20_000  # entries per cache level; cleared when full (~20 MB at most)
SEPARATORS = frozenset(",，、;；:：.。()（）[]【】<>《》/\\|'\"“”‘’-_")


@dataclass(slots=True)
class AdminMatch:
    """The administrative prefix of one normalised address."""

    nodes: dict[int, int] = field(default_factory=dict)        # level → node id (the whole chain)
    spans: dict[int, tuple[int, int]] = field(default_factory=dict)  # level → normalised [start, end)
    end: int = 0                                                 # where the remainder starts
    village: tuple[str, str] | None = None                       # (code, name)
    warnings: list[dict] = field(default_factory=list)
    ambiguous: bool = False
    alternatives: list[tuple[int, int]] = field(default_factory=list)  # (node, kind): other readings
    old_names: list[tuple[int, int, int]] = field(default_factory=list)  # (level, start, end)
    described: dict | None = None                              # the parser's field values, cached
    chain_end: int = 0                                           # end of the last chain match
    context_free: bool = False                                   # nothing after chain_end was read
    short_county: bool = False                                   # the county was written short (萧山)


class AdminIndex:
    """Divisions of levels 1–4 in an automaton, villages per township, built once per process."""

    def __init__(self, rows: list[tuple], villages: dict[str, str], *, signature: tuple = ()) -> None:
        self.signature = signature
        self.codes: list[str] = []
        self.levels: list[int] = []
        self.names: list[str] = []
        self.kinds: list[str] = []
        self.placeholder: list[bool] = []
        self.anc: list[tuple[int, ...]] = []
        self.children: list[list[int]] = []
        self.by_code: dict[str, list[int]] = defaultdict(list)
        self.twin: dict[int, int] = {}        # prefecture → its county-level copy (东莞, 中山, 儋州, 嘉峪关)
        self.sole_child: dict[int, int] = {}  # municipality → its only prefecture placeholder (市辖区)
        self._villages = villages             # town code → packed "NNNkname\x1f…"
        self._town_cores: dict[int, dict[str, list[tuple[int, bool]]]] = {}
        self._village_keys: dict[object, dict[str, list[tuple[str, str, bool, str]]]] = {}
        self._chains: dict[int, dict[int, int]] = {}
        self._resolved: dict[str, AdminMatch] = {}
        self._by_matches: dict[tuple, AdminMatch] = {}
        self._lock = threading.Lock()
        self._add_nodes(rows)
        self.automaton = self._build_automaton()

    # ---- building -------------------------------------------------------------------------

    def _add_nodes(self, rows: list[tuple]) -> None:
        by_code_level: dict[tuple[str, int], int] = {}
        for code, level, name, parent_code, kind, placeholder in rows:
            node = len(self.codes)
            self.codes.append(code)
            self.levels.append(level)
            self.names.append(name)
            self.kinds.append(kind)
            self.placeholder.append(placeholder)
            self.children.append([])
            self.by_code[code].append(node)
            by_code_level[(code, level)] = node
            parent = by_code_level.get((parent_code, level - 1)) if level > 1 else None
            chain = list(self.anc[parent]) if parent is not None else [-1] * 5
            chain[level] = node
            self.anc.append(tuple(chain))
            if parent is not None:
                self.children[parent].append(node)
                if level == 3 and placeholder and code == parent_code:
                    self.twin[parent] = node
                if level == 3 and placeholder and self.names[parent] == name:
                    self.twin[parent] = node
        for node, kids in enumerate(self.children):
            if self.levels[node] == 1 and len(kids) == 1 and self.placeholder[kids[0]]:
                self.sole_child[node] = kids[0]

    def _preferences(self) -> list[tuple]:
        """Sort keys for same-named candidates, the documented tie-break when nothing else decides:
        shallower first (辽阳 is the city before the county), then municipalities, then provincial
        capitals (prefecture codes ending in 01), then the larger place (more villages below it)."""
        size = [0] * len(self.codes)
        for town, packed in self._villages.items():
            for node in self.by_code.get(town, ()):
                count = packed.count("\x1f") + 1
                for above in self.anc[node][1:4]:
                    if above >= 0:
                        size[above] += count
        return [(level, 0 if code[:2] in MUNICIPALITIES else 1 if code[2:4] == "01" else 2, -size[n], code)
                for n, (code, level) in enumerate(zip(self.codes, self.levels, strict=True))]

    def _build_automaton(self) -> ahocorasick.Automaton:
        entries: dict[str, dict[int, int]] = defaultdict(dict)

        def add(key: str, node: int, kind: int) -> None:
            key = normalize(key)
            if len(key) < 2 or (kind != FULL and key in BAD_ALIASES):
                return
            known = entries[key].get(node)
            if known is None or PENALTY[kind] < PENALTY[known]:
                entries[key][node] = kind

        for node, name in enumerate(self.names):
            level = self.levels[node]
            if self.placeholder[node] and level == 2:
                add(name, node, GENERIC)
                continue
            if level == 4 and name in GENERIC_TOWNS:
                continue
            add(name, node, FULL)
            if level <= 3 and not self.placeholder[node]:
                for alias in self._aliases(node):
                    add(alias, node, ALIAS)
        self._add_zones(add)
        self._add_table("aliases.tsv", add, EXTRA)
        self._add_renames(add)
        self._drop_sibling_collisions(entries)
        automaton = ahocorasick.Automaton()
        preferences = self._preferences()
        for key, nodes in entries.items():
            value = self._entry(key, nodes, preferences)
            if value is not None:
                automaton.add_word(key, value)
        automaton.make_automaton()
        return automaton

    def _aliases(self, node: int) -> list[str]:
        """Short forms by the division's kind: 浙江, 杭州, 柯桥, 浦东, 延边/延边州, 景宁/景宁县, 神农架."""
        name, kind = self.names[node], self.kinds[node]
        for suffix in ALIAS_SUFFIXES.get(kind, ()):
            if not name.endswith(suffix) or len(name) - len(suffix) < 2:
                continue
            if suffix == "旗" and (name[-2] in "前中后左右" or name.endswith("联合旗")):
                return []
            core = _strip_ethnic(name[: -len(suffix)])
            if suffix.startswith("自治") and self.levels[node] >= 2:
                core = core.removesuffix("族")  # 鄂温克族自治旗 → 鄂温克, 鄂温克旗
                return [core, core + suffix[-1]]
            return [core]
        return []

    def _drop_sibling_collisions(self, entries: dict[str, dict[int, int]]) -> None:
        """An alias two children of one parent share says nothing: drop it for both."""
        for nodes in entries.values():
            parents: dict[int, list[int]] = defaultdict(list)
            for node, kind in nodes.items():
                if kind == ALIAS:
                    parents[self.anc[node][self.levels[node] - 1] if self.levels[node] > 1 else -1].append(node)
            for siblings in parents.values():
                if len(siblings) > 1 and len({self.codes[n] for n in siblings}) > 1:
                    for node in siblings:
                        del nodes[node]

    def _entry(self, key: str, nodes: dict[int, int], preferences: list[tuple]) -> tuple | None:
        if not nodes:
            return None
        per_level: dict[int, int] = defaultdict(int)
        for node, kind in nodes.items():
            if kind not in FORMER:
                per_level[self.levels[node]] += 1
        ordered = sorted(nodes, key=lambda n: (PENALTY[nodes[n]], preferences[n])) if len(nodes) > 1 \
            else list(nodes)
        kinds = tuple(nodes[n] for n in ordered)
        needs_parent = tuple(self._needs_parent(n, nodes[n], per_level) for n in ordered)
        penalties = tuple(PENALTY[k] for k in kinds)
        # value[5]: what is left when the match turns out to be part of a road name (only full
        # names survive): None = nothing, True = all of it.
        fulls = [i for i, k in enumerate(kinds) if k == FULL]
        full_only: tuple | bool | None = None
        if fulls and len(fulls) < len(kinds):
            full_only = (len(key), tuple(ordered[i] for i in fulls), tuple(0.0 for _ in fulls),
                         tuple(needs_parent[i] for i in fulls), tuple(FULL for _ in fulls), True, None)
        elif fulls:
            full_only = True
        # value[6]: for a township name many places share (城关镇 ×88), its candidates by ancestor,
        # so a chain looks up the few below its county instead of testing them all.
        under = None
        if len(ordered) > 4 and all(self.levels[n] == 4 for n in ordered):
            grouped: dict[int, list[int]] = defaultdict(list)
            for k, n in enumerate(ordered):
                for above in self.anc[n][1:4]:
                    if above >= 0:
                        grouped[above].append(k)
            under = {above: tuple(ks) for above, ks in grouped.items()}
        return (len(key), tuple(ordered), penalties, needs_parent, kinds, full_only, under)

    def _needs_parent(self, node: int, kind: int, per_level: dict[int, int]) -> bool:
        level = self.levels[node]
        if kind in (GENERIC, OLD_ALIAS, OLD_PART_ALIAS):
            return True
        if kind == FULL:
            return level == 4 and per_level[4] > 1
        if kind in (ALIAS, ZONE, EXTRA):
            # Two same-named counties (象山, 江北) are a tie to flag; three or more (和平, 新华, 城东)
            # make the short form a common word that must be backed by a parent or a township.
            return per_level[level] > 2 and level >= 3
        return False

    def _add_zones(self, add) -> None:
        short = (("高新技术产业开发区", ("高新区", "高新技术开发区")), ("高新技术产业园区", ("高新区",)),
                 ("经济技术开发区", ("经开区", "经济开发区")), ("高新技术开发区", ("高新区",)))
        provinces = {self.names[n]: n for n in range(len(self.names)) if self.levels[n] == 1}
        prefixes = sorted({p for name in provinces for p in (name, *(_core_province(name),))}, key=len,
                          reverse=True)
        for node, kind in enumerate(self.kinds):
            if kind != "功能区(统计用)":
                continue
            forms = {self.names[node]}
            for long, shorts in short:
                for form in list(forms):
                    if long in form:
                        forms.update(form.replace(long, s) for s in shorts)
            city = self.anc[node][2]
            city_names = (self.names[city], self.names[city][:-1]) if city >= 0 else ()
            for form in forms:
                for prefix in prefixes:
                    if form.startswith(prefix) and len(form) - len(prefix) >= 4:
                        form = form[len(prefix):]
                        add(form, node, ZONE)
                        break
                add(form, node, ZONE)
                for city_name in city_names:
                    if city_name and form.startswith(city_name) and len(form) - len(city_name) >= 3:
                        add(form[len(city_name):], node, GENERIC)
                        break
        self._add_table("zones.tsv", add, ZONE)

    def _add_table(self, filename: str, add, kind: int) -> None:
        for row in _read_tsv(DATA / filename):
            node = self._node_for(row["code"])
            if node is not None:
                add(row["alias"], node, kind)

    def _add_renames(self, add) -> None:
        for row in _read_tsv(DATA / "renames.tsv"):
            node = self._node_for(row["new_code"])
            if node is None:
                continue
            old = row["old_name"]
            main = row["share"] == "main"
            add(old, node, OLD if main else OLD_PART)
            for suffix in ("地区", "市", "区", "县"):
                if old.endswith(suffix) and len(old) - len(suffix) >= 2:
                    add(old[: -len(suffix)], node, OLD_ALIAS if main else OLD_PART_ALIAS)
                    break

    def _node_for(self, code: str) -> int | None:
        nodes = [n for n in self.by_code.get(code, ()) if not self.placeholder[n]]
        return min(nodes, key=lambda n: self.levels[n]) if nodes else None

    # ---- lookups at parse time --------------------------------------------------------------

    def forget(self) -> None:
        """Drop the caches of resolved prefixes (a benchmark starts each run cold)."""
        self._resolved.clear()
        self._by_matches.clear()

    def resolve(self, s: str) -> AdminMatch:
        """The best consistent chain of divisions at the start of normalised text S.

        The answer depends only on the text before the first number, so it is cached under that
        prefix: address lists repeat their provinces, districts and streets endlessly. The cached
        object is shared; callers must not change it.
        """
        digit = _DIGIT.search(s, 4)
        limit = digit.start() if digit else len(s)
        key = s[:limit]
        result = self._resolved.get(key)
        if result is None:
            result = self._resolve(s, limit)
            if len(self._resolved) >= RESOLVED_CACHE:
                self._resolved.clear()
            self._resolved[key] = result
        return result

    def _resolve(self, s: str, limit: int) -> AdminMatch:
        matches = self._matches(s, limit)
        if not matches:
            return AdminMatch()
        # Second-level cache: texts that agree up to the end of their last division name and have
        # the same matches get the same answer, provided nothing after the chain is read (no
        # 市/区 to absorb, no township or village next) — the usual case of many roads in one town.
        last = 0
        for _, end, _ in matches:
            if end > last:
                last = end
        key = (s[:last], *[id(value) for _, end, value in matches if end > last - 5])
        known = self._by_matches.get(key)
        if known is not None and self._context_free(s, known):
            return known
        result = self._compute(s, matches)
        if result.context_free:
            if len(self._by_matches) >= RESOLVED_CACHE:
                self._by_matches.clear()
            self._by_matches[key] = result
        return result

    def _context_free(self, s: str, result: AdminMatch) -> bool:
        """Nothing after RESULT's chain would have changed it for text S."""
        if not result.nodes:
            return True
        end = result.chain_end
        if end < len(s) and s[end] in ABSORB:
            return False
        pos = _skip_separators(s, end)
        level = max(result.nodes)
        return not (self._town_hint(s, pos, level, result.short_county)
                    or (level in (3, 4) and VILLAGE_HINT.match(s, pos)))

    @staticmethod
    def _town_hint(s: str, pos: int, level: int, short_county: bool) -> bool:
        """A township may be written at POS after a division of LEVEL."""
        return level in (2, 3) and bool(
            TOWN_HINT.match(s, pos) or GENERIC_TOWN_AT.match(s, pos)
            or (level == 3 and short_county and BARE_TOWN_HINT.match(s, pos)))

    def _compute(self, s: str, matches: list[tuple[int, int, tuple]]) -> AdminMatch:
        result = AdminMatch()
        chain, best, scores = self._plain_chain(matches) or self._best_chain(matches)
        if not chain:
            result.context_free = True
            return result
        chosen = self._apply_chain(s, matches, chain, best, scores, result)
        self._below(s, result)
        if len(chain) < len(matches):
            self._check_prefix(s, matches, chain, chosen, result)
        self._check_missing(chosen, result)
        for level, start, end in result.old_names:
            node = result.nodes.get(level)
            if node is not None:
                result.warnings.append(_warning("错误", LEVEL_NAMES[level],
                                                f"“{s[start:end]}”是旧称，今为{self.names[node]}"))
        return result

    def _matches(self, s: str, limit: int) -> list[tuple[int, int, tuple]]:
        """Automaton matches up to LIMIT, the longest per start, road names removed."""
        n = len(s)
        found: dict[int, tuple[int, tuple]] = {}
        for last, value in self.automaton.iter(s, 0, limit):
            end = last + 1
            rest = value[5]
            # Only short forms can be part of a road name; full names (value[5] is True) stay.
            if rest is not True and end < n and s[end] in ROAD_HEADS and ROAD_AFTER.match(s, end):
                if rest is None:
                    continue
                value = rest
            start = end - value[0]
            known = found.get(start)
            if known is None or known[0] < end:
                found[start] = (end, value)
        return [(start, end, value) for start, (end, value) in sorted(found.items())]

    def _plain_chain(self, matches: list[tuple[int, int, tuple]]) -> tuple[list, float, dict] | None:
        """The common case without search: matches back to back from the first character, each
        with a candidate below the one before (浙江省杭州市西湖区…). None when that does not hold.

        Matches overlapping the chain (市南 in 深圳市南山区) cannot join it and are passed over; a
        later match that could extend the chain after a gap sends the case to `_best_chain`. The
        chain found is what `_best_chain` would pick: it covers every character up to its end with
        the lowest-penalty fitting candidates (they are ordered by penalty).
        """
        levels, anc = self.levels, self.anc
        pos, prev, parent, best, above = 0, -1, -1, 0.0, 0
        chain = []
        for i, (start, end, value) in enumerate(matches):
            nodes = value[1]
            if start != pos:
                if start > pos and prev >= 0:
                    for x in nodes:
                        if levels[x] > above and anc[x][above] == prev:
                            return None
                continue
            k = -1
            if prev < 0:
                if value[6] is not None:
                    return None
                needs_parent = value[3]
                for kk in range(len(nodes)):
                    if not needs_parent[kk]:
                        k = kk
                        break
            else:
                penalties = value[2]
                for kk in (value[6].get(prev, ()) if value[6] is not None else range(len(nodes))):
                    x = nodes[kk]
                    if levels[x] > above and anc[x][above] == prev:
                        if k < 0:
                            k = kk
                        elif penalties[kk] == penalties[k] and not self._related(nodes[k], x):
                            return None  # two equally good readings below: let the search weigh them
            if k < 0:
                return None
            chain.append((i, k))
            best += value[0] - value[2][k]
            parent, prev, pos = prev, nodes[k], end
            above = levels[prev]
        if not chain:
            return None
        last_i, last_k = chain[-1]
        value = matches[last_i][2]
        if len(value[1]) == 1:
            return chain, best, {last_i: [best]}
        row = []
        for kk, x in enumerate(value[1]):
            fits = (parent < 0 and not value[3][kk]) or (
                parent >= 0 and levels[x] > levels[parent] and anc[x][levels[parent]] == parent)
            row.append(best - value[2][kk] + value[2][last_k] if fits else -1e9)
        return chain, best, {last_i: row}

    def _best_chain(self, matches: list[tuple[int, int, tuple]]) -> tuple[list, float, list]:
        """Highest-scoring chain of matches whose divisions are each other's ancestors.

        Dynamic programming over the matches in start order: a state (match, candidate) extends the
        best earlier state, among those that end before it starts, whose division is an ancestor of
        the candidate. `ready` holds, per ancestor node, the best such state's score + GAP × its end,
        so each candidate costs one dictionary look-up per level above it. A name that needs support
        (a short form several places share, 朝阳 → 朝阳区 of Beijing or of Changchun) may head a chain
        only if something below it follows (朝阳三里屯街道); it may not end one alone.
        """
        levels, anc = self.levels, self.anc
        scores: list[list[float]] = []
        backs: list[list[tuple[int, int] | None]] = []
        ready: dict[int, tuple[float, tuple[int, int]]] = {}
        waiting: list[tuple[int, float, int, tuple[int, int]]] = []
        best, best_at = 0.0, None
        for i, (start, end, value) in enumerate(matches):
            if waiting:
                still = []
                for item in waiting:
                    if item[0] <= start:
                        known = ready.get(item[2])
                        if known is None or item[1] > known[0]:
                            ready[item[2]] = (item[1], item[3])
                    else:
                        still.append(item)
                waiting = still
            klen, nodes, penalties, needs_parent = value[0], value[1], value[2], value[3]
            if value[6] is not None:
                # A shared township name: only readings below a division already in a chain count.
                row = [-1e9] * len(nodes)
                back = [None] * len(nodes)
                for above, (score, arg) in ready.items():
                    for k in value[6].get(above, ()):
                        top = score + klen - penalties[k] - GAP_PENALTY * start
                        if top > row[k]:
                            row[k], back[k] = top, arg
                for k, top in enumerate(row):
                    if top > -1e8:
                        waiting.append((end, top + GAP_PENALTY * end, nodes[k], (i, k)))
                        if top > best:
                            best, best_at = top, (i, k)
                scores.append(row)
                backs.append(back)
                continue
            row = []
            back = []
            for k, x in enumerate(nodes):
                gain = klen - penalties[k]
                top = gain - LEAD_PENALTY * start
                alone = needs_parent[k]
                arg = None
                if ready:
                    ax = anc[x]
                    for level in range(1, levels[x]):
                        known = ready.get(ax[level])
                        if known is not None and (known[0] + gain - GAP_PENALTY * start > top or alone):
                            top, arg = known[0] + gain - GAP_PENALTY * start, known[1]
                            alone = False
                row.append(-1e9 if alone else top)
                back.append(arg)
                waiting.append((end, top + GAP_PENALTY * end, x, (i, k)))
                if top > best and not alone:
                    best, best_at = top, (i, k)
            scores.append(row)
            backs.append(back)
        if best_at is None:
            return [], 0.0, scores
        chain = []
        at: tuple[int, int] | None = best_at
        while at is not None:
            chain.append(at)
            at = backs[at[0]][at[1]]
        chain.reverse()
        return chain, best, scores

    def _related(self, a: int, b: int) -> bool:
        la, lb = self.levels[a], self.levels[b]
        if la == lb:
            return a == b
        return self.anc[a][lb] == b if la > lb else self.anc[b][la] == a

    def _apply_chain(self, s: str, matches, chain, best: float, scores, result: AdminMatch) -> list:
        chosen = []
        for i, k in chain:
            start, end, value = matches[i]
            chosen.append((start, end, value[1][k], value[4][k]))
        last_i, last_k = chain[-1]
        last_value = matches[last_i][2]
        deepest = last_value[1][last_k]
        if len(last_value[1]) > 1:
            # Other readings of the last match: same-named counties with no deciding context (ties),
            # or former names whose successor the township after it may pick.
            row = scores[last_i]
            for kk, x in enumerate(last_value[1]):
                if kk == last_k or row[kk] < best - 1.0 or self._related(x, deepest):
                    continue
                result.alternatives.append((x, last_value[4][kk]))
                if abs(row[kk] - best) < 1e-9:
                    result.ambiguous = True
        start, end, node, kind = chosen[-1]
        result.chain_end = end
        result.short_county = self.levels[node] == 3 and kind != FULL
        end = self._absorb(s, end, kind)
        chosen[-1] = (start, end, node, kind)
        spans = result.spans
        for start, end, node, kind in chosen:
            level = self.levels[node]
            if level not in spans:
                spans[level] = (start, end)
            if kind in FORMER:
                result.old_names.append((level, start, end))
        self._set_nodes(result, deepest)
        result.end = end
        return chosen

    def _absorb(self, s: str, end: int, kind: int) -> int:
        """Take a 市/区/县 written after a short form (萧山市, 广西省) — unless it starts a road (萧山市心北路)."""
        if kind != FULL and end < len(s) and s[end] in ABSORB and not ROAD_SOON.match(s, end + 1):
            return end + 1
        return end

    def _set_nodes(self, result: AdminMatch, deepest: int) -> None:
        nodes = self._chains.get(deepest)
        if nodes is None:
            below = self.sole_child.get(self.twin.get(deepest, deepest), self.twin.get(deepest, deepest))
            nodes = {lvl: n for lvl, n in enumerate(self.anc[below]) if lvl and n >= 0}
            self._chains[deepest] = nodes  # shared: callers read, never change it
        result.nodes = nodes

    def _check_prefix(self, s: str, matches, chain, chosen, result: AdminMatch) -> None:
        """Other divisions inside the prefix: repeats are 冗余, contradictions 冲突."""
        in_chain = {i for i, _ in chain}
        chain_nodes = [node for *_, node, _ in chosen]
        first = chosen[0][0]
        covered = [(start, end) for start, end, *_ in chosen]
        covered += [span for level, span in result.spans.items() if level >= 4]
        for i, (start, end, value) in enumerate(matches):
            if i in in_chain or any(start < e and end > b for b, e in covered):
                continue
            # A suffix-less full name (永乐) that starts a road after the prefix is the road's.
            adjacent = start == result.end and value[4][0] in (FULL, OLD, OLD_PART) and not (
                end < len(s) and s[end] in ROAD_HEADS and ROAD_AFTER.match(s, end))
            if end > result.end and not adjacent:
                continue
            if start < first and value[3][0]:
                continue
            level = self.levels[value[1][0]]
            if any(node in chain_nodes or self.twin.get(node) in chain_nodes
                   or any(self.twin.get(c) == node for c in chain_nodes) for node in value[1]):
                result.warnings.append(_warning("冗余", LEVEL_NAMES[level], f"“{s[start:end]}”重复"))
            elif any(self._related(node, c) for node in value[1] for c in chain_nodes):
                result.warnings.append(_warning("冗余", LEVEL_NAMES[level],
                                                f"“{s[start:end]}”与其他区划重复"))
            elif not any(value[3]):
                result.warnings.append(_warning(
                    "冲突", LEVEL_NAMES[level],
                    f"“{s[start:end]}”与{self.names[chain_nodes[-1]]}不属同一区划"))
            else:
                continue
            if adjacent:
                result.end = end

    def _check_missing(self, chosen, result: AdminMatch) -> None:
        levels = [self.levels[node] for *_, node, _ in chosen]
        if levels[-1] - levels[0] + 1 == len(levels):
            return
        levels = sorted({*levels, *(3 for *_, node, _ in chosen if node in self.twin)})
        for above, below in zip(levels, levels[1:], strict=False):
            for level in range(above + 1, below):
                node = result.nodes.get(level)
                if node is None or self.placeholder[node] or self.kinds[node] == "功能区(统计用)":
                    continue
                result.warnings.append(_warning("缺失", LEVEL_NAMES[level],
                                                f"缺少{self.names[node]}这一级"))

    # ---- below the automaton: townships and villages next to their parent ---------------------

    def _below(self, s: str, result: AdminMatch) -> None:
        if not result.nodes:
            return
        level = max(result.nodes)
        pos = _skip_separators(s, result.end)
        town_hint = self._town_hint(s, pos, level, result.short_county)
        if not town_hint and not (level in (3, 4) and VILLAGE_HINT.match(s, pos)):
            result.context_free = result.end == result.chain_end
            return
        kinds = {self.twin.get(a, a): kind for a, kind in result.alternatives}
        parents = [result.nodes[level], *kinds]
        if town_hint:
            hits = [(parent, hit) for parent in parents
                    if (hit := self.town_at(parent, s, pos, bare=result.short_county))]
            if hits:
                town, end = hits[0][1]
                result.ambiguous = result.ambiguous and len(hits) > 1
                if kinds.get(hits[0][0]) in FORMER and 3 in result.spans:
                    result.old_names = [o for o in result.old_names if o[0] != 3]
                    result.old_names.append((3, *result.spans[3]))
                self._set_nodes(result, town)
                result.spans[4] = (pos, end)
                result.end = end
                pos = _skip_separators(s, end)
                level, parents = 4, [town]
        if level in (3, 4) and VILLAGE_HINT.match(s, pos):
            hits_v = [hit for parent in parents if (hit := self.village_at(parent, s, pos))]
            town = self._node_for(hits_v[0][0][:9]) if hits_v else None
            if town is not None:
                code, name, end = hits_v[0]
                result.ambiguous = result.ambiguous and len(hits_v) > 1
                self._set_nodes(result, town)
                result.village = (code, name)
                result.spans[5] = (pos, end)
                result.end = end

    def town_at(self, parent: int, s: str, pos: int, *, bare: bool = False) -> tuple[int, int] | None:
        """A township of PARENT (county or city) written at POS with any town suffix, or with none
        when BARE and a road follows: (node, end)."""
        cores = self._town_cores.get(parent)
        if cores is None:
            cores = self._build_town_cores(parent)
        longest = cores.get("", 0)
        for size in range(min(longest, len(s) - pos), 1, -1):
            found = cores.get(s[pos:pos + size])
            if not found:
                continue
            end = pos + size
            own = [town for town, owns_suffix in found if owns_suffix]
            m = TOWN_SUFFIX.match(s, end)
            if m is not None:
                end = m.end()
            elif not own and bare and self.levels[parent] == 3 and BARE_TOWN_AFTER.match(s, end):
                own = [town for town, _ in found]
            elif not own:
                continue
            towns = own if m is None else [town for town, _ in found]
            if len(towns) != 1:
                towns = [t for t in towns if normalize(self.names[t]) == s[pos:end]]
            if len(towns) != 1 or (end < len(s) and s[end] in ROAD_HEADS and ROAD_AFTER.match(s, end)):
                continue
            return towns[0], end
        return None

    def _build_town_cores(self, parent: int) -> dict:
        towns: list[int] = []
        stack = [parent]
        while stack:
            node = stack.pop()
            for kid in self.children[node]:
                (towns.append(kid) if self.levels[kid] == 4 else stack.append(kid))
        cores: dict = defaultdict(list)
        for town in towns:
            name = normalize(self.names[town])
            m = re.search(r"(?:街道办事处|街道|镇|乡|苏木)$", name)
            if m is None or m.start() < 2:
                cores[name].append((town, True))
                continue
            core = _strip_ethnic(name[: m.start()], require_zu=True)
            owns_suffix = core[-1] in "镇乡街"
            cores[core].append((town, owns_suffix))
        cores = dict(cores)
        cores[""] = max((len(k) for k in cores), default=0)
        with self._lock:
            self._town_cores[parent] = cores
        return cores

    def village_at(self, parent: int, s: str, pos: int) -> tuple[str, str, int] | None:
        """A village/community of PARENT (town or county) at POS: (12-digit code, name, end)."""
        keys = self._village_keys.get(parent)
        if keys is None:
            keys = self._build_village_keys(parent)
        longest = keys.get("", 0)
        for size in range(min(longest, len(s) - pos), 1, -1):
            found = keys.get(s[pos:pos + size])
            if not found:
                continue
            end = pos + size
            m = VILLAGE_SUFFIX.match(s, end)
            candidates = [f for f in found if m is not None or not f[2]]
            if not candidates:
                continue
            if m is not None:
                end = m.end()
                wanted = "v" if "村" in m.group() else "c"
            else:
                # 劳村 names the 劳村村委会 rather than the 劳村居委会 of the same town.
                wanted = "v" if s[end - 1] == "村" else "c" if s.endswith(("社区", "居委"), pos, end) else ""
            if wanted and len(candidates) > 1:
                typed = [f for f in candidates if f[3] == wanted]
                candidates = typed or candidates
            if len({f[0] for f in candidates}) != 1:
                continue
            if end < len(s) and s[end] in ROAD_HEADS and _names_road(s, end):
                continue
            return candidates[0][0], candidates[0][1], end
        return None

    def _build_village_keys(self, parent: int) -> dict:
        towns = [parent] if self.levels[parent] == 4 else \
            [k for k in self.children[parent] if self.levels[k] == 4]
        keys: dict = defaultdict(list)
        for town in towns:
            packed = self._villages.get(self.codes[town])
            if not packed:
                continue
            for item in packed.split("\x1f"):
                code, vtype, name = self.codes[town] + item[:3], item[3], item[4:]
                for key, needs_suffix in _village_forms(normalize(name)):
                    keys[key].append((code, name, needs_suffix, vtype))
        keys = dict(keys)
        keys[""] = max((len(k) for k in keys), default=0)
        with self._lock:
            self._village_keys[parent] = keys
        return keys


def _names_road(s: str, end: int) -> bool:
    """The 通名 at END makes a road of the name before it (前进村 + 东路5号), rather than starting
    a road of its own with a number (路边村 + 路边路5号)."""
    m = ROAD_AFTER.match(s, end)
    return m is not None and not ROAD_OF_ITS_OWN.match(s, m.end())


def _village_forms(name: str) -> list[tuple[str, bool]]:
    """Keys for one village/community name: (key, needs a 村/社区 suffix after it).

    台湾村村民委员会 → 台湾村 (as written), 台湾 (+ suffix); 外伍村委会 → 外伍 (+ suffix);
    苏村委会 → 苏村 (the committee of 苏村); 上保社区 → 上保社区, 上保 (+ suffix).
    """
    stem, committee = name, ""
    for suffix in COMMITTEE:
        if stem.endswith(suffix) and len(stem) > len(suffix):
            stem, committee = stem[: -len(suffix)], suffix
            break
    for own in ("社区", "村", "居委"):
        if stem.endswith(own):
            core = stem[: -len(own)]
            return [(stem, False), (core, True)] if len(core) >= 2 else [(stem, False)]
    if not committee and stem.endswith(OWN_NAME):
        return [(stem, False)]
    forms = [(stem, True)] if len(stem) >= 2 else []
    if committee.startswith("村"):
        forms.append((stem + "村", False))
    return forms


def _strip_ethnic(core: str, require_zu: bool = False) -> str:
    """红河哈尼族彝族 → 红河, 博尔塔拉蒙古 → 博尔塔拉; never below two characters."""
    changed = True
    while changed:
        changed = False
        for people in ETHNIC:
            for form in (people + "族", people):
                if form == people and (len(people) == 1 or require_zu):
                    continue
                if core.endswith(form) and len(core) - len(form) >= 2:
                    core = core[: -len(form)]
                    changed = True
                    break
            if changed:
                break
    return core


def _core_province(name: str) -> str:
    for suffix in ("特别行政区", "自治区", "省", "市"):
        if name.endswith(suffix):
            return _strip_ethnic(name[: -len(suffix)])
    return name


def _skip_separators(s: str, pos: int) -> int:
    while pos < len(s) and s[pos] in SEPARATORS:
        pos += 1
    return pos


def _warning(kind: str, component: str | None, message: str) -> dict:
    return {"kind": kind, "component": component, "message": message}


def _read_tsv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as f:
        lines = [line for line in f if line.strip() and not line.startswith("#")]
    return list(csv.DictReader(lines, delimiter="\t"))


# ---- loading and the per-process cache --------------------------------------------------------

_CACHE: dict[str, AdminIndex] = {}
_CACHE_LOCK = threading.Lock()
_SIGNATURE = text("SELECT (SELECT max(id) FROM divisions), (SELECT max(id) FROM division_events)")
_DIVISIONS = text(
    "SELECT code, level, name, parent_code, kind, placeholder FROM divisions "
    "WHERE valid_to IS NULL AND level <= 4 ORDER BY level, code")
_VILLAGES = text(
    "SELECT parent_code, string_agg(right(code, 3) || CASE WHEN kind IN ('村委会', '类似村委会') "
    "THEN 'v' ELSE 'c' END || name, chr(31)) FROM divisions "
    "WHERE valid_to IS NULL AND level = 5 GROUP BY parent_code")


def load_index(db: Session | Connection) -> AdminIndex:
    """Build a fresh index from the current divisions (about two seconds for the national table)."""
    signature = tuple(db.execute(_SIGNATURE).one())
    rows = [tuple(r) for r in db.execute(_DIVISIONS)]
    villages = dict(db.execute(_VILLAGES).all())
    return AdminIndex(rows, villages, signature=signature)


def admin_index(db: Session | Connection) -> AdminIndex:
    """The index for DB's database, built once per process; rebuilt when divisions change.

    A change is seen through the largest `divisions.id` and `division_events.id` (every change
    through `boundaries.changes` inserts one of them); both are index look-ups, so checking on
    every call costs one short query.
    """
    bind = db.get_bind() if isinstance(db, Session) else db
    key = str(bind.engine.url)
    signature = tuple(db.execute(_SIGNATURE).one())
    index = _CACHE.get(key)
    if index is not None and index.signature == signature:
        return index
    with _CACHE_LOCK:
        index = _CACHE.get(key)
        if index is None or index.signature != signature:
            index = load_index(db)
            _CACHE[key] = index
            # The index is a few hundred thousand long-lived objects: keep them out of the cyclic
            # collector, whose full passes over them otherwise stall a parse for ~100 ms now and then.
            gc.collect()
            gc.freeze()
    return index
