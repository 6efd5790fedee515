"""The naming rules that need no database (placenames.rules; domain.md §7, §9 rules 1, 2, 7–13, 25)."""

import pytest

from data.errors import InvalidInput
from placenames.categories import get_category
from placenames.rules import (
    LIST_NAMES,
    Finding,
    Proposal,
    check_sign_text,
    check_text,
    homophone_keys,
    load_wordlists,
    validate_name,
)


def findings(name, category, **kwargs):
    return check_text(Proposal(name=name, category=get_category(category), **kwargs))


def codes(name, category, **kwargs):
    return {(f.rule, f.code, f.severity) for f in findings(name, category, **kwargs)}


def rule(n, name, category, **kwargs):
    return [f for f in findings(name, category, **kwargs) if f.rule == n]


def blocking(name, category, **kwargs):
    return [f for f in findings(name, category, **kwargs) if f.severity == "error"]


# --- the finding and proposal types ---------------------------------------------------------------------


def test_finding_as_dict_and_severity_check():
    f = Finding(rule=10, code="exaggerated-word", severity="error", message="m",
                evidence={"word": "中央", "position": 2}, source="JF-table; ZQ-2019")
    assert f.as_dict() == {"rule": 10, "code": "exaggerated-word", "severity": "error", "message": "m",
                           "evidence": {"word": "中央", "position": 2}, "source": "JF-table; ZQ-2019"}
    with pytest.raises(ValueError):
        Finding(rule=1, code="x", severity="fatal", message="m", evidence={}, source="s")


def test_proposal_accepts_a_category_code_and_lists():
    p = Proposal(name="万达广场", category="1101", no_specific_link=["万达", " "])
    assert p.category.code == "1101"
    assert p.no_specific_link == ("万达",)


def test_every_finding_has_a_source_and_a_message():
    for f in findings("M_3宇宙皇庭大厦广场", "1101") + check_sign_text("Peking Road", "Beijing Lu"):
        assert f.source and f.message and f.severity in ("error", "warning", "info")


def test_clean_names_pass():
    for name, category in [("湖滨花园", "0703"), ("人民路", "0801"), ("经五路", "0801"), ("二马路", "0801"),
                           ("朝阳门内大街", "0801"), ("黑龙江省", "0401"), ("西湖", "0202"),
                           ("湖州市", "0402"), ("318国道", "0802"), ("花园路", "0801"), ("十里路", "0801")]:
        assert findings(name, category) == [], name


# --- validate_name -------------------------------------------------------------------------------------


def test_validate_name_strips():
    assert validate_name("  人民路\n") == "人民路"


@pytest.mark.parametrize(("bad", "why"), [
    ("", "empty"), ("   ", "empty"), ("人" * 51, "too long"), ("人民\x07路", "control characters"),
    ("人民\u200b路", "control characters"), ("人民 路", "spaces"), ("Renmin Lu", "no Chinese characters"),
    ("12345", "no Chinese characters"),
])
def test_validate_name_says_why(bad, why):
    with pytest.raises(InvalidInput) as err:
        validate_name(bad)
    assert err.value.errors == [{"field": "name", "message": why}]
    assert err.value.status == 422


def test_fifty_characters_are_fine():
    assert validate_name("人" * 50) == "人" * 50


def test_check_text_validates_and_checks_the_split():
    with pytest.raises(InvalidInput):
        findings("\x07", "0801")
    with pytest.raises(InvalidInput):
        findings("人民路", "0801", specific="人民", generic="街")
    assert findings("人民路", "0801", specific="人民", generic="路") == []


# --- rule 1: 通名 ---------------------------------------------------------------------------------------


def test_rule1_missing_generic():
    assert codes("人民", "0801") == {(1, "missing-generic", "error")}
    assert codes("人民路", "0801") == set()


def test_rule1_missing_generic_is_a_warning_without_duplicate_scope():
    assert codes("华光", "1202") == {(1, "missing-generic", "warning")}


def test_rule1_generic_alone_is_not_a_name():
    assert codes("路", "0801") == {(1, "generic-only", "error")}
    assert codes("小区", "0703") == {(1, "generic-only", "error")}


def test_rule1_given_generic_outside_vocabulary():
    assert (1, "unlisted-generic", "warning") in codes("人民弯", "0801", specific="人民", generic="弯")


# --- rule 2: stacked 通名 -------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "category", "inner"), [
    ("翠苑小区", "0703", "苑"), ("金桂苑公寓", "0703", "苑"), ("阳光花园小区", "0703", "花园"),
    ("国贸大厦广场", "1101", "大厦"), ("中山路街", "0801", "路"),
])
def test_rule2_stacked_generics(name, category, inner):
    (f,) = rule(2, name, category)
    assert (f.code, f.severity, f.evidence["inner_generic"]) == ("stacked-generic", "warning", inner)


@pytest.mark.parametrize(("name", "category"), [
    ("湖滨花园", "0703"), ("朝阳门内大街", "0801"), ("黑龙江省", "0401"), ("花园路", "0801"),
    ("十里路", "0801"), ("体育场路", "0801"), ("港湾小区", "0703"), ("太湖大桥", "0803"),
])
def test_rule2_not_stacked(name, category):
    assert rule(2, name, category) == []


# --- rule 7: persons ------------------------------------------------------------------------------------


def test_rule7_state_leader_is_always_an_error():
    (f,) = rule(7, "毛泽东路", "0801")
    assert (f.code, f.severity, f.evidence) == ("state-leader", "error", {"word": "毛泽东", "position": 0})
    cleared = rule(7, "毛泽东路", "0801", no_specific_link=("毛泽东",))
    assert [(f.code, f.severity) for f in cleared] == [("state-leader", "error")]


def test_rule7_other_person_needs_a_reviewer():
    (f,) = rule(7, "鲁迅路", "0801")
    assert (f.code, f.severity) == ("person-name", "error")
    (f,) = rule(7, "鲁迅路", "0801", no_specific_link=("鲁迅",))
    assert (f.code, f.severity) == ("no-specific-link", "info")


def test_rule7_passes_without_person_names():
    assert rule(7, "解放路", "0801") == []


# --- rule 8: 洋 ----------------------------------------------------------------------------------------


def test_rule8_foreign_place():
    (f,) = rule(8, "曼哈顿广场", "1101")
    assert (f.code, f.severity, f.evidence["word"]) == ("foreign-place", "error", "曼哈顿")
    assert [f.code for f in rule(8, "威尼斯花园", "0703")] == ["foreign-place"]


def test_rule8_foreign_person():
    (f,) = rule(8, "林肯公寓", "0703")
    assert (f.code, f.severity, f.evidence) == ("foreign-person", "error", {"word": "林肯", "position": 0})
    assert [f.code for f in rule(8, "马可波罗大厦", "1101")] == ["foreign-person"]


def test_rule8_ambiguous_word_is_a_warning():
    (f,) = rule(8, "米兰花园", "0703")
    assert f.severity == "warning"


def test_rule8_passes_chinese_names():
    assert rule(8, "湖滨花园", "0703") == []


def test_rules_7_8_skip_listed_exceptions():
    for name, category in [("白求恩国际和平医院", "1201"), ("列宁公园", "1001")]:
        found = findings(name, category)
        assert [(f.code, f.severity) for f in found] == [("listed-exception", "info")], name
    assert [f.code for f in rule(8, "白求恩医院", "1201")] == ["foreign-person"]


# --- rule 9: enterprises ---------------------------------------------------------------------------------


def test_rule9_enterprise_name_and_reviewer_clearance():
    (f,) = rule(9, "万达广场", "1101")
    assert (f.code, f.severity, f.evidence["word"]) == ("enterprise-name", "warning", "万达")
    (f,) = rule(9, "万达广场", "1101", no_specific_link=("万达",))
    assert (f.code, f.severity) == ("no-specific-link", "info")


def test_rule9_ignores_words_running_into_the_generic():
    assert rule(9, "永恒大厦", "1101") == []
    assert rule(9, "湖滨花园", "0703") == []


# --- rule 10: 大 ---------------------------------------------------------------------------------------


def test_rule10_exaggerated_words():
    (f,) = rule(10, "宇宙城", "0703")
    assert (f.code, f.severity, f.evidence) == ("exaggerated-word", "error", {"word": "宇宙", "position": 0})
    assert [f.evidence["word"] for f in rule(10, "盛世中央", "0703")] == ["中央"]
    assert [f.evidence["word"] for f in rule(10, "金科世界城", "0703")] == ["世界"]
    assert rule(10, "湖滨花园", "0703") == []


def test_rule10_only_residential_and_building_names():
    assert rule(10, "中华路", "0801") == []
    assert [f.code for f in rule(10, "中央大厦", "1101")] == ["exaggerated-word"]


def test_rule10_local_word_is_a_warning():
    (f,) = rule(10, "国际花园", "0703")
    assert (f.severity, f.source) == ("warning", "FY-169936")


def test_rule10_exempt_with_an_approval_document():
    document = "国家有关部门批件: 国函〔2020〕1号"
    assert [f.severity for f in rule(10, "欧洲花园", "0703")] == ["error"]
    (f,) = rule(10, "欧洲花园", "0703", approval_documents=(document,))
    assert f.severity == "info" and document in f.message
    assert blocking("欧洲花园", "0703", approval_documents=(document,)) == []


# --- rule 11: feudal ---------------------------------------------------------------------------------


def test_rule11_feudal_words():
    (f,) = rule(11, "皇庭花园", "0703")
    assert (f.code, f.severity, f.evidence["word"]) == ("feudal-word", "error", "皇庭")
    assert [f.severity for f in rule(11, "帝王花园", "0703")] == ["warning"]
    assert rule(11, "湖滨花园", "0703") == []


def test_rule11_historical_exception():
    assert rule(11, "王府井大街", "0801") == []
    assert [f.code for f in rule(11, "王府花园", "0703")] == ["feudal-word"]


# --- rule 12: 怪 ---------------------------------------------------------------------------------------


def test_rule12_letters_and_symbols():
    (f,) = rule(12, "M_3小区", "0703")
    assert (f.code, f.severity) == ("bizarre-characters", "error")
    assert f.evidence["kinds"] == ["latin letters", "symbols", "digits"]
    assert f.evidence["characters"] == "M_3"
    assert [f.code for f in rule(12, "阳光·花园", "0703")] == ["bizarre-characters"]
    assert [f.code for f in rule(12, "SOHO大厦", "1101")] == ["bizarre-characters"]


def test_rule12_chinese_and_digits_without_meaning():
    (f,) = rule(12, "1加1大厦", "1101")
    assert (f.code, f.evidence["kinds"]) == ("bizarre-characters", ["digits mixed with Chinese"])


def test_rule12_digits_only():
    (f,) = rule(12, "8090小区", "0703")
    assert (f.code, f.severity) == ("digits-only", "error")


def test_rule12_route_and_survey_numbers_are_codes():
    assert rule(12, "318国道", "0802") == []
    assert rule(12, "1203山", "0301") == []


def test_rule12_numbered_streets():
    assert rule(12, "经五路", "0801") == []
    assert rule(12, "二马路", "0801") == []
    (f,) = rule(12, "纬1路", "0801")
    assert (f.code, f.severity) == ("ordinal-digits", "warning")


def test_rule12_bizarre_meaning():
    (f,) = rule(12, "黄泉路", "0801")
    assert (f.code, f.severity, f.evidence["word"]) == ("bizarre-meaning", "warning", "黄泉")


def test_rule12_traditional_and_rare_characters():
    (f,) = rule(12, "鳳凰路", "0801")
    assert (f.code, f.severity, f.evidence["simplified"]) == ("traditional-character", "warning", "凤凰路")
    (f,) = rule(12, "堃苑小区", "0703")
    assert (f.code, f.evidence["characters"]) == ("rare-character", "堃")
    assert rule(12, "翠苑小区", "0703") == []


# --- rule 13: 广场 -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("site", "floor", "expected"), [
    (5_000, 50_000, [("square-size", "warning")]),
    (9_999, 99_999, [("square-size", "warning")]),
    (12_000, 50_000, []),
    (5_000, 120_000, []),
    (None, None, [("square-area-missing", "info")]),
    (5_000, None, [("square-area-missing", "info")]),
    (None, 150_000, []),
])
def test_rule13_square_size(site, floor, expected):
    found = rule(13, "东方广场", "1101", site_area_m2=site, floor_area_m2=floor)
    assert [(f.code, f.severity) for f in found] == expected


def test_rule13_areas_must_be_numbers():
    assert [f.code for f in rule(13, "东方广场", "1101", site_area_m2="5000", floor_area_m2=50_000.0)] == [
        "square-size"]
    with pytest.raises(InvalidInput):
        Proposal(name="东方广场", category="1101", site_area_m2=-1)
    with pytest.raises(InvalidInput):
        Proposal(name="东方广场", category="1101", floor_area_m2="large")


def test_rule13_only_buildings_called_square():
    assert rule(13, "东方大厦", "1101", site_area_m2=100, floor_area_m2=100) == []


# --- rule 25: signs -----------------------------------------------------------------------------------


def test_rule25_english_generic():
    (f,) = check_sign_text("Renmin Road")
    assert (f.rule, f.code, f.severity, f.evidence) == (25, "english-word", "error",
                                                        {"word": "Road", "position": 7})
    assert [f.code for f in check_sign_text("RENMIN RD.")] == ["english-word"]


def test_rule25_wade_giles():
    (f,) = check_sign_text("Peking Lu")
    assert (f.code, f.evidence["word"]) == ("wade-giles", "Peking")
    assert [f.code for f in check_sign_text("Ch'ang'an Jie")] == ["wade-giles"]
    assert [f.code for f in check_sign_text("Hsinhua Lu")] == ["wade-giles"]
    assert [f.code for f in check_sign_text("Chungshan Lu")] == ["wade-giles"]


def test_rule25_good_signs():
    assert check_sign_text("RENMIN LU", "Renmin Lu") == []
    assert check_sign_text("Rénmín Lù", "Renmin Lu") == []
    assert check_sign_text("XI'AN LU", "Xi’an Lu") == []
    assert check_sign_text("Chang'an Jie") == []
    assert check_sign_text("Jing 5 Lu", "Jing 5 Lu") == []
    assert check_sign_text("Hongkou Lu") == []


def test_rule25_mismatch():
    (f,) = check_sign_text("Renmin Jie", "Renmin Lu")
    assert (f.code, f.message.endswith("(sign text does not match the standard romanization)")) == (
        "sign-mismatch", True)
    assert [f.code for f in check_sign_text("XIAN LU", "Xi'an Lu")] == ["sign-mismatch"]
    with pytest.raises(InvalidInput):
        check_sign_text("  ")


def test_rule25_through_check_text():
    found = findings("人民路", "0801", sign_text="Renmin Road")
    assert [(f.rule, f.code) for f in found] == [(25, "english-word")]
    assert findings("人民路", "0801", sign_text="Renmin Lu") == []


# --- homophones (FS-172294) -------------------------------------------------------------------------


def same(a, b, cities=()):
    """Both ways, as placenames.checks uses it: the stored key of one name among the keys of the other."""
    from placenames.romanize import pinyin_key

    forth = pinyin_key(b) in homophone_keys(a, cities)
    back = pinyin_key(a) in homophone_keys(b, cities)
    assert forth == back, (a, b)
    return forth


def test_homophones_ignore_tones():
    assert homophone_keys("湖州") == homophone_keys("胡州")
    assert same("湖州路", "胡州路")


def test_homophones_new_and_big_prefixes():
    assert same("新城镇", "城镇")
    assert same("大王村", "王村")
    assert not same("人民路", "人民街")


def test_homophones_prefix_is_one_step():
    assert not same("新华路", "大华路")


def test_homophones_city_prefix():
    assert same("湖州人民路", "人民路", ["湖州"])
    assert same("湖州市人民路", "人民路", ["湖州"])
    assert same("湖州新人民路", "人民路", ["湖州市"])
    assert not same("湖州人民路", "人民路")


def test_homophone_removal_keeps_two_characters():
    assert not same("大道", "道")
    assert not same("新村", "村")


# --- word lists -----------------------------------------------------------------------------------------


def test_packaged_lists_have_sources_and_entries():
    words = load_wordlists()
    sizes = words.sizes()
    assert set(sizes) == set(LIST_NAMES)
    assert all(sizes.values())
    for name in LIST_NAMES:
        assert all(e.source and "—" not in e.source for e in words.entries(name)), name
    annex = "宇宙 中央 天下 世界 环球 欧洲 澳洲 美洲 中国 中华 全国 万国 特区 首府 小镇 国际"
    assert set(annex.split()) <= words.words("exaggerated")
    assert {"皇帝", "皇庭", "御府", "帝都", "王府", "相府"} <= words.words("feudal")
    assert load_wordlists() is words


def test_extra_dir_extends_and_trims_lists(tmp_path):
    (tmp_path / "exaggerated.txt").write_text("# source: 本市地名办 2024\n至尊\n-小镇\n", "utf-8")
    (tmp_path / "enterprises.txt").write_text("# source: 本市商标名录\n天天 error  # a chain\n", "utf-8")
    words = load_wordlists(tmp_path)
    assert load_wordlists(str(tmp_path)) is words
    (f,) = check_text(Proposal(name="至尊花园", category=get_category("0703")), words=words)
    assert (f.rule, f.severity, f.source) == (10, "error", "本市地名办 2024")
    assert "小镇" not in words.words("exaggerated") and "宇宙" in words.words("exaggerated")
    (f,) = check_text(Proposal(name="天天大厦", category=get_category("1101")), words=words)
    assert (f.rule, f.severity) == (9, "error")
    assert check_text(Proposal(name="至尊花园", category=get_category("0703"))) == []


@pytest.mark.parametrize(("filename", "text"), [
    ("exaggerated.txt", "至尊\n"),
    ("exaggerated.txt", "# source: x\n至尊 fatal\n"),
    ("superlatives.txt", "# source: x\n至尊\n"),
])
def test_extra_dir_mistakes_are_reported(tmp_path, filename, text):
    (tmp_path / filename).write_text(text, "utf-8")
    with pytest.raises(ValueError):
        load_wordlists(tmp_path)


def test_extra_dir_must_exist(tmp_path):
    with pytest.raises(ValueError):
        load_wordlists(tmp_path / "missing")
