"""Romanization of place names (domain.md §3, §9 rules 21–24 and 26). Pure: no database."""

from __future__ import annotations

import json
import re
from importlib import resources

import pytest

from data.errors import InvalidInput
from data.sources.china_division import RawDivision
from placenames.categories import UnknownCategory
from placenames.polyphones import review_row, review_rows, write_review
from placenames.romanize import (
    MINORITY_COLUMNS,
    READING_COLUMNS,
    ROLES,
    RomanizationError,
    initials_key,
    minority_table,
    pinyin_key,
    reading_table,
    romanize,
    table_matches,
    valid_syllable,
)

# domain.md §3.2 (1984 rules 1–14, GB/T 16159-2012 examples), §3.3 and §9 rules 21–24, 26.
SPEC_EXAMPLES = [
    ("太行山", None, "Taihang Shan"),
    ("松花江", None, "Songhua Jiang"),
    ("江苏省", None, "Jiangsu Sheng"),
    ("襄樊市", None, "Xiangfan Shi"),
    ("通县", None, "Tong Xian"),
    ("南京路", None, "Nanjing Lu"),
    ("长安街", None, "Chang'an Jie"),
    ("湖州市", None, "Huzhou Shi"),
    ("人民路", None, "Renmin Lu"),
    ("西辽河", None, "Xiliao He"),
    ("景山后街", None, "Jingshan Houjie"),
    ("朝阳门内大街", None, "Chaoyangmennei Dajie"),
    ("南小街", None, "Nan Xiaojie"),
    ("王村", "0702", "Wangcun"),
    ("周口店", "0702", "Zhoukoudian"),
    ("周口店", None, "Zhoukoudian"),
    ("黑龙江省", None, "Heilongjiang Sheng"),
    ("景德镇市", None, "Jingdezhen Shi"),
    ("左权县", None, "Zuoquan Xian"),
    ("张之洞路", None, "Zhangzhidong Lu"),
    ("五指山", None, "Wuzhi Shan"),
    ("第二松花江", None, "Di'er Songhua Jiang"),
    ("二马路", None, "2 Malu"),
    ("经五路", None, "Jing 5 Lu"),
    ("三环路", None, "3 Huanlu"),
    ("1203高地", None, "1203 Gaodi"),
    ("十里堡", None, "Shilipu"),
    ("十里堡", "0702", "Shilipu"),
    ("吴堡", None, "Wubu"),
    ("西安", None, "Xi'an"),
    ("建瓯", None, "Jian'ou"),
    ("天峨", None, "Tian'e"),
    ("盆儿胡同", None, "Penr Hutong"),
    ("北京工人体育馆", None, "Beijing Gongren Tiyuguan"),
    ("郑州市玻璃厂", None, "Zhengzhou Shi Bolichang"),
    ("北京市", None, "Beijing Shi"),
    ("河北省", None, "Hebei Sheng"),
    ("鸭绿江", None, "Yalu Jiang"),
    ("泰山", None, "Tai Shan"),
    ("洞庭湖", None, "Dongting Hu"),
    ("酒仙桥", "0701", "Jiuxianqiao"),
    ("三潭印月", "0701", "Santanyinyue"),
    ("乌鲁木齐", None, "Ürümqi"),
    ("乌鲁木齐市", None, "Ürümqi Shi"),
    ("拉萨", None, "Lhasa"),
    ("呼和浩特", None, "Hohhot"),
    ("西双版纳", None, "Xishuangbanna"),
]

# Real names whose romanization was checked against the sources cited in readings.tsv / minority.tsv.
REAL_NAMES = [
    ("六安市", None, "Lu'an Shi"),
    ("六合区", "320116", "Luhe Qu"),
    ("蚌埠市", None, "Bengbu Shi"),
    ("蚌山区", "340303", "Bengshan Qu"),
    ("洪洞县", None, "Hongtong Xian"),
    ("乐亭县", None, "Laoting Xian"),
    ("乐清市", None, "Yueqing Shi"),
    ("南乐县", None, "Nanle Xian"),
    ("民乐县", None, "Minle Xian"),
    ("蔚县", None, "Yu Xian"),
    ("番禺区", None, "Panyu Qu"),
    ("莘县", None, "Shen Xian"),
    ("莘庄镇", "310112101", "Xinzhuang Zhen"),
    ("单县", None, "Shan Xian"),
    ("铅山县", None, "Yanshan Xian"),
    ("浚县", None, "Xun Xian"),
    ("涡阳县", None, "Guoyang Xian"),
    ("筠连县", None, "Junlian Xian"),
    ("犍为县", None, "Qianwei Xian"),
    ("歙县", None, "She Xian"),
    ("黟县", None, "Yi Xian"),
    ("东阿县", None, "Dong'e Xian"),
    ("吴堡县", None, "Wubu Xian"),
    ("柴沟堡镇", "130728100", "Chaigoubu Zhen"),
    ("瓦窑堡街道", "610681001", "Wayaobu Jiedao"),
    ("十里堡镇", "110118103", "Shilipu Zhen"),
    ("子长市", None, "Zichang Shi"),
    ("长子县", "140428", "Zhangzi Xian"),
    ("长治市", None, "Changzhi Shi"),
    ("成都市", None, "Chengdu Shi"),
    ("都江堰市", None, "Dujiangyan Shi"),
    ("丰都县", None, "Fengdu Xian"),
    ("荥阳市", None, "Xingyang Shi"),
    ("荥经县", None, "Yingjing Xian"),
    ("繁峙县", None, "Fanshi Xian"),
    ("珲春市", None, "Hunchun Shi"),
    ("漯河市", "411100", "Luohe Shi"),
    ("穆棱市", None, "Muling Shi"),
    ("宕昌县", None, "Tanchang Xian"),
    ("崆峒区", None, "Kongtong Qu"),
    ("句容市", None, "Jurong Shi"),
    ("闽侯县", None, "Minhou Xian"),
    ("浒湾镇", "361027101", "Xuwan Zhen"),
    ("浒湾乡", "411523203", "Huwan Xiang"),
    ("浒山街道", "330282004", "Hushan Jiedao"),
    ("大埔县", None, "Dabu Xian"),
    ("黄埔区", None, "Huangpu Qu"),
    ("澄海区", None, "Chenghai Qu"),
    ("澄迈县", None, "Chengmai Xian"),
    ("台州市", None, "Taizhou Shi"),
    ("丽水市", None, "Lishui Shi"),
    ("尉犁县", None, "Yuli Xian"),
    ("尉氏县", None, "Weishi Xian"),
    ("蠡县", None, "Li Xian"),
    ("中牟县", None, "Zhongmu Xian"),
    ("临朐县", None, "Linqu Xian"),
    ("枞阳县", None, "Zongyang Xian"),
    ("泌阳县", None, "Biyang Xian"),
    ("东涌镇", "440115103", "Dongchong Zhen"),
    ("麻涌镇", "441900126", "Machong Zhen"),
    ("龙圩区", "450406", "Longxu Qu"),
    ("栟茶镇", "320623100", "Bingcha Zhen"),
    ("渑池县", None, "Mianchi Xian"),
    ("酂城镇", "411481104", "Cuocheng Zhen"),
    ("厦门市", None, "Xiamen Shi"),
    ("重庆市", None, "Chongqing Shi"),
    ("曲阜市", None, "Qufu Shi"),
    ("台儿庄区", None, "Tai'erzhuang Qu"),
    ("绿春县", None, "Lüchun Xian"),
    ("乌鲁木齐市", "650100", "Ürümqi Shi"),
    ("乌鲁木齐县", "650121", "Ürümqi Xian"),
    ("拉萨市", "540100", "Lhasa Shi"),
    ("呼和浩特市", "150100", "Hohhot Shi"),
    ("新疆维吾尔自治区", "650000", "Xinjiang Uygur Zizhiqu"),
    ("广西壮族自治区", "450000", "Guangxi Zhuangzu Zizhiqu"),
    ("克拉玛依市", "650200", "Karamay Shi"),
    ("吐鲁番市", "650400", "Turpan Shi"),
    ("阿勒泰地区", "654300", "Altay Diqu"),
    ("阿克苏地区", "652900", "Aksu Diqu"),
    ("和田地区", "653200", "Hotan Diqu"),
    ("伊犁哈萨克自治州", "654000", "Ili Kazak Zizhizhou"),
    ("博尔塔拉蒙古自治州", "652700", "Bortala Mongol Zizhizhou"),
    ("巴音郭楞蒙古自治州", "652800", "Bayingolin Mongol Zizhizhou"),
    ("克孜勒苏柯尔克孜自治州", "653000", "Kizilsu Kirgiz Zizhizhou"),
    ("库尔勒市", "652801", "Korla Shi"),
    ("阿图什市", "653001", "Artux Shi"),
    ("喀什地区", "653100", "Kashi Diqu"),
    ("日喀则市", "540200", "Xigazê Shi"),
    ("昌都市", "540300", "Qamdo Shi"),
    ("那曲市", "540600", "Nagqu Shi"),
    ("林芝市", "540400", "Nyingchi Shi"),
    ("阿里地区", "542500", "Ngari Diqu"),
    ("林周县", "540121", "Lhünzhub Xian"),
    ("墨竹工卡县", "540127", "Maizhokunggar Xian"),
    ("巴彦淖尔市", "150800", "Bayannur Shi"),
    ("乌兰察布市", "150900", "Ulanqab Shi"),
    ("锡林郭勒盟", "152500", "Xilin Gol Meng"),
    ("兴安盟", "152200", "Hinggan Meng"),
    ("阿拉善盟", "152900", "Alxa Meng"),
    ("鄂尔多斯市", "150600", "Ordos Shi"),
    ("科尔沁右翼前旗", "152221", "Horqin Youyi Qianqi"),
    ("乌兰浩特市", "152201", "Ulanhot Shi"),
    ("二连浩特市", "152501", "Erenhot Shi"),
    ("果洛藏族自治州", "632600", "Golog Zangzu Zizhizhou"),
    ("玛多县", "632626", "Madoi Xian"),
    ("海西蒙古族藏族自治州", "632800", "Haixi Mengguzu Zangzu Zizhizhou"),
    ("阜新蒙古族自治县", "210921", "Fuxin Mengguzu Zizhixian"),
    ("大通回族土族自治县", "630121", "Datong Huizu Tuzu Zizhixian"),
    ("循化撒拉族自治县", "630225", "Xunhua Salazu Zizhixian"),
    ("海北藏族自治州", "632200", "Haibei Zangzu Zizhizhou"),
    ("西双版纳傣族自治州", "532800", "Xishuangbanna Daizu Zizhizhou"),
    ("兴安县", "450325", "Xing'an Xian"),
]

# 1984 rule 7 as interpreted here: one well-formed numeral before a street 通名 is an ordinal; digit
# strings that name dates (五四, 八一) are spelled.
STREET_NUMBERS = [
    ("五四路", "Wusi Lu"),
    ("八一大道", "Bayi Dadao"),
    ("中山三路", "Zhongshan 3 Lu"),
    ("纬十二路", "Wei 12 Lu"),
    ("一环路", "1 Huanlu"),
    ("第二大街", "Di 2 Dajie"),
    ("三里屯路", "Sanlitun Lu"),
    ("湖南路", "Hunan Lu"),
    ("中山北路", "Zhongshan Beilu"),
]


@pytest.mark.parametrize(("name", "category", "expected"), SPEC_EXAMPLES)
def test_spec_examples(name, category, expected):
    assert romanize(name, category).text == expected


@pytest.mark.parametrize(("name", "code", "expected"), REAL_NAMES)
def test_real_names(name, code, expected):
    assert romanize(name, division_code=code).text == expected


@pytest.mark.parametrize(("name", "code", "expected"), REAL_NAMES)
def test_real_names_rest_on_verified_rows(name, code, expected):
    result = romanize(name, division_code=code)
    used = [entry.source for _, entry in table_matches(name, code)]
    used += [m.source for m in minority_table() if any(s.hanzi == m.hanzi and s.rule == "minority-table"
                                                       for s in result.segments)]
    assert not [source for source in used if "review" in source]


@pytest.mark.parametrize(("name", "expected"), STREET_NUMBERS)
def test_street_numbers(name, expected):
    assert romanize(name, "0801").text == expected


@pytest.mark.parametrize(("name", "sign"), [
    ("西安", "XI'AN"),
    ("长安街", "CHANG'AN JIE"),
    ("乌鲁木齐市", "ÜRÜMQI SHI"),
    ("绿春县", "LÜCHUN XIAN"),
    ("经五路", "JING 5 LU"),
    ("日喀则市", "XIGAZÊ SHI"),
])
def test_sign_text_is_capitals_with_apostrophe(name, sign):
    code = "540200" if name == "日喀则市" else None
    assert romanize(name, division_code=code).sign_text == sign


@pytest.mark.parametrize(("name", "code", "expected"), [
    ("西安", None, "Xī'ān"),
    ("湖州市", None, "Húzhōu Shì"),
    ("吕梁市", None, "Lǚliáng Shì"),
    ("女儿河", None, "Nǚ'ér Hé"),
    ("台州市", None, "Tāizhōu Shì"),
    ("天台县", "331023", "Tiāntāi Xiàn"),
    ("华阴市", "610582", "Huàyīn Shì"),
    ("丽水市", None, "Líshuǐ Shì"),
    ("乌鲁木齐市", None, "Ürümqi Shì"),
])
def test_tones(name, code, expected):
    result = romanize(name, division_code=code, tones=True)
    assert result.text == expected
    assert result.sign_text == romanize(name, division_code=code).sign_text


def test_tones_are_off_by_default_and_never_on_signs():
    assert romanize("西安").text == "Xi'an"
    assert romanize("西安", tones=True).sign_text == "XI'AN"


def test_every_segment_is_capitalised_and_joined_by_spaces():
    result = romanize("新疆维吾尔自治区")
    assert result.text == " ".join(s.text for s in result.segments)
    assert all(s.text[0].isupper() or s.text[0].isdigit() for s in result.segments)
    assert all(s.role in ROLES for s in result.segments)


@pytest.mark.parametrize(("name", "category", "code", "segments"), [
    ("湖州市", None, None, [("湖州", "Huzhou", "specific", "1984-1"), ("市", "Shi", "generic", "1984-1")]),
    ("黑龙江省", None, None, [("黑龙江", "Heilongjiang", "specific", "1984-4"),
                             ("省", "Sheng", "generic", "1984-1")]),
    ("王村", "0702", None, [("王村", "Wangcun", "whole", "1984-3")]),
    ("经五路", None, None, [("经", "Jing", "specific", "1984-1"), ("五", "5", "number", "1984-7"),
                          ("路", "Lu", "generic", "1984-1")]),
    ("二马路", None, None, [("二", "2", "number", "1984-7"), ("马路", "Malu", "generic", "1984-1")]),
    ("第二松花江", None, None, [("第二", "Di'er", "number", "1984-6"),
                               ("松花", "Songhua", "specific", "1984-1"),
                               ("江", "Jiang", "generic", "1984-1")]),
    ("景山后街", None, None, [("景山", "Jingshan", "specific", "1984-4"),
                             ("后街", "Houjie", "generic", "1984-2")]),
    ("郑州市玻璃厂", None, None, [("郑州", "Zhengzhou", "specific", "1984-14"),
                                 ("市", "Shi", "generic", "1984-1"),
                                 ("玻璃厂", "Bolichang", "generic", "1984-14")]),
    ("洪洞县", None, None, [("洪洞", "Hongtong", "specific", "reading-table"),
                           ("县", "Xian", "generic", "1984-1")]),
    ("乌鲁木齐市", None, "650100", [("乌鲁木齐", "Ürümqi", "specific", "minority-table"),
                                   ("市", "Shi", "generic", "1984-1")]),
    ("新疆维吾尔自治区", None, None, [("新疆", "Xinjiang", "specific", "1984-1"),
                                     ("维吾尔", "Uygur", "modifier", "minority-table"),
                                     ("自治区", "Zizhiqu", "generic", "1984-1")]),
    ("察哈尔右翼前旗", None, None, [("察哈尔", "Chaha'er", "specific", "1984-1"),
                                   ("右翼", "Youyi", "modifier", "1984-2"),
                                   ("前旗", "Qianqi", "generic", "1984-2")]),
    ("1203高地", None, None, [("1203", "1203", "number", "1984-7"), ("高地", "Gaodi", "generic", "1984-1")]),
])
def test_segments(name, category, code, segments):
    result = romanize(name, category, division_code=code)
    assert [(s.hanzi, s.text, s.role, s.rule) for s in result.segments] == segments


def test_as_dict_is_json_ready():
    result = romanize("湖州市", "0402")
    data = json.loads(json.dumps(result.as_dict(), ensure_ascii=False))
    assert data["text"] == "Huzhou Shi" and data["sign_text"] == "HUZHOU SHI" and data["category"] == "0402"
    assert data["segments"][0] == {"hanzi": "湖州", "text": "Huzhou", "role": "specific", "rule": "1984-1"}


def test_category_accepts_code_name_or_object():
    from placenames.categories import get_category

    assert romanize("王村", "农村居民点(自然村)").text == "Wangcun"
    assert romanize("王村", get_category("0702")).category == "0702"
    assert romanize("王村").category is None


def test_caller_split_is_kept_and_not_joined():
    assert romanize("上海虹桥站", "0804").text == "Shanghai Hongqiaozhan"
    result = romanize("上海虹桥站", "0804", specific="上海虹桥", generic="站")
    assert result.text == "Shanghai Hongqiao Zhan"
    assert romanize("人民路", specific="人民").text == "Renmin Lu"
    assert romanize("人民路", generic="路").text == "Renmin Lu"


def test_caller_split_must_make_up_the_name():
    with pytest.raises(RomanizationError):
        romanize("人民路", specific="人民", generic="街")


@pytest.mark.parametrize(("name", "expected"), [
    ("盆儿胡同", "Penr Hutong"),
    ("女儿河", "Nü'er He"),
    ("台儿庄区", "Tai'erzhuang Qu"),
])
def test_erhua_only_for_the_written_suffix(name, expected):
    assert romanize(name).text == expected


def test_erhua_at_the_start_of_a_word_is_er():
    assert romanize("儿童公园", "1001").text == "Ertong Gongyuan"


def test_scope_limits_table_entries():
    assert romanize("兴安盟").text == "Xing'an Meng"
    assert romanize("兴安盟", division_code="152200").text == "Hinggan Meng"
    assert romanize("漯河市").text == "Tahe Shi"
    assert romanize("漯河市", division_code="411100").text == "Luohe Shi"


def test_generic_words():
    assert romanize("天津经济技术开发区", "0601").text == "Tianjin Jingji Jishu Kaifaqu"
    assert romanize("英山社区居委会", "0501").text == "Yingshan Shequ Juweihui"
    assert romanize("羊角回族乡", "0404").text == "Yangjiao Huizu Xiang"


@pytest.mark.parametrize(("name", "key", "initials"), [
    ("湖州市", "huzhoushi", "hzs"),
    ("西安", "xian", "xa"),
    ("吕梁市", "lvliangshi", "lls"),
    ("洪洞县", "hongtongxian", "htx"),
    ("盆儿胡同", "penerhutong", "peht"),
    ("1203高地", "1203gaodi", "1203gd"),
    ("乌鲁木齐市", "wulumuqishi", "wlmqs"),
    ("经五路", "jingwulu", "jwl"),
])
def test_search_keys(name, key, initials):
    assert pinyin_key(name) == key
    assert initials_key(name) == initials


def test_search_keys_use_scoped_readings():
    assert pinyin_key("漯河市") == "taheshi"
    assert pinyin_key("漯河市", division_code="411100") == "luoheshi"


@pytest.mark.parametrize("bad", [
    "", "   ", "人民\x00路", "人民\u200b路", "Renmin Lu", "123", "人民 路", "十里堡(北京)", "\ue170村",
])
def test_rejected_names(bad):
    with pytest.raises(RomanizationError):
        romanize(bad)
    with pytest.raises(RomanizationError):
        pinyin_key(bad)


def test_errors_are_invalid_input():
    assert issubclass(RomanizationError, InvalidInput)
    with pytest.raises(RomanizationError):
        romanize("人民路", division_code="11-01")
    with pytest.raises(UnknownCategory):
        romanize("人民路", "9999")


def test_fullwidth_digits_and_codes():
    assert romanize("１２０３高地").text == "1203 Gaodi"
    assert romanize("温泉花园A区").text.endswith("A Qu")


def _data_lines(filename):
    text = resources.files("placenames").joinpath(f"data/{filename}").read_text("utf-8")
    return [line for line in text.splitlines() if line.strip() and not line.startswith("#")]


HAN = re.compile(r"^[\u3400-\u4dbf\u4e00-\u9fff]+$")


def test_readings_table_is_well_formed():
    lines = _data_lines("readings.tsv")
    assert lines[0].split("\t") == list(READING_COLUMNS)
    keys = set()
    for line in lines[1:]:
        hanzi, syllables, scope, source = line.split("\t")
        assert HAN.match(hanzi), line
        assert len(syllables.split()) == len(hanzi), line
        assert all(valid_syllable(s) for s in syllables.split()), line
        assert scope == "" or scope.isdigit(), line
        assert source.strip(), line
        assert (hanzi, scope) not in keys, line
        keys.add((hanzi, scope))
    assert len(reading_table()) == len(lines) - 1 >= 80


def test_minority_table_is_well_formed():
    lines = _data_lines("minority.tsv")
    assert lines[0].split("\t") == list(MINORITY_COLUMNS)
    keys = set()
    for line in lines[1:]:
        hanzi, romanization, language, scope, source = line.split("\t")
        assert HAN.match(hanzi), line
        assert re.match(r"^[A-ZÜÊ][A-Za-zÜüÊê' ]*$", romanization), line
        assert language.strip() and source.strip(), line
        assert scope == "" or scope.isdigit(), line
        assert (hanzi, scope) not in keys, line
        keys.add((hanzi, scope))
    assert len(minority_table()) == len(lines) - 1


@pytest.mark.parametrize(("syllable", "valid"), [
    ("hong", True), ("tong2", True), ("lv4", True), ("lü", True), ("er", True),
    ("xyz", False), ("hong6", False), ("Hong", False), ("", False),
])
def test_valid_syllable(syllable, valid):
    assert valid_syllable(syllable) is valid


def test_polyphone_review_rows(tmp_path):
    row = review_row(RawDivision("141024", "洪洞县", 3))
    assert row.pypinyin == "hong dong xian" and row.covered == "yes" and row.romanization == "Hongtong Xian"
    assert "洞:" in row.alternatives
    assert review_row(RawDivision("110000", "北京市", 1)) is None
    divisions = [RawDivision("141024", "洪洞县", 3), RawDivision("110000", "北京市", 1),
                 RawDivision("450804", "覃塘区", 3), RawDivision("110101001001", "乐平村", 5)]
    rows = list(review_rows(divisions))
    assert [r.name for r in rows] == ["洪洞县", "覃塘区"]
    assert rows[1].covered == "no"
    out = tmp_path / "review.tsv"
    assert write_review(rows, out) == 2
    assert out.read_text("utf-8").splitlines()[1].startswith("code\tname\tpypinyin")


@pytest.mark.parametrize("name, category, expected", [
    ("哈尔滨市", "0402", "Harbin Shi"),
    ("齐齐哈尔市", "0402", "Qiqihar Shi"),
    ("珠穆朗玛峰", "0301", "Qomolangma Feng"),
    ("雅鲁藏布江", "0201", "Yarlung Zangbo Jiang"),
    ("塔里木河", "0201", "Tarim He"),
])
def test_transliterated_names_in_official_use(name, category, expected):
    assert romanize(name, category).text == expected
