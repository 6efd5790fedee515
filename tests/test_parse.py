"""The address parser against the real divisions table: every failure class of
reference-systems §3.2/§3.6, the remainder grammar, warnings, and hostile input."""

import random

import pytest
from sqlalchemy import text

from addresses.admin import admin_index
from addresses.parse import COMPONENTS, ParsedAddress, parse, parse_one
from tests.builders import add_division


@pytest.fixture(scope="module")
def index(engine):
    with engine.connect() as conn:
        return admin_index(conn)


def codes(p: ParsedAddress) -> tuple:
    return (p.province_code, p.city_code, p.county_code, p.town_code, p.village_code)


def kinds(p: ParsedAddress) -> list[str]:
    return [w["kind"] for w in p.warnings]


def parts(p: ParsedAddress) -> dict:
    return {name: getattr(p, name) for name in COMPONENTS if getattr(p, name) is not None}


# ---- administrative prefix --------------------------------------------------------------------

@pytest.mark.parametrize(("address", "expected"), [
    # suffix-less counties and towns written without province or city
    ("杭州萧山宁围街道市心北路99号", ("330000", "330100", "330109", "330109013", None)),
    ("宁波鄞州首南街道天童南路588号", ("330000", "330200", "330212", "330212006", None)),
    ("绍兴柯桥柯桥街道湖西路8号", ("330000", "330600", "330603", "330603001", None)),
    ("萧山区宁围街道", ("330000", "330100", "330109", "330109013", None)),
    # starting at the township
    ("宁围街道市心北路99号", ("330000", "330100", "330109", "330109013", None)),
    # municipalities: the prefecture is the 市辖区 placeholder
    ("上海市徐汇区虹漕路461号58号楼5楼", ("310000", "310100", "310104", None, None)),
    ("北京朝阳区东三环中路1号", ("110000", "110100", "110105", None, None)),
    ("重庆市城口县", ("500000", "500200", "500229", None, None)),
    # county-level cities directly under the province
    ("湖北省潜江市园林街道", ("420000", "429000", "429005", "429005001", None)),
    ("仙桃市", ("420000", "429000", "429004", None, None)),
    ("湖北天门", ("420000", "429000", "429006", None, None)),
    ("河南济源", ("410000", "419000", "419001", None, None)),
    ("海南省五指山市", ("460000", "469000", "469001", None, None)),
    ("新疆石河子", ("650000", "659000", "659001", None, None)),
    # prefectures without counties
    ("东莞市南城街道", ("440000", "441900", "441900", "441900004", None)),
    ("广东中山石岐街道", ("440000", "442000", "442000", "442000001", None)),
    ("海南儋州那大镇", ("460000", "460400", "460400", "460400100", None)),
    ("甘肃省嘉峪关市雄关街道", ("620000", "620200", "620201", "620201001", None)),
    # same-named counties decided by their parent
    ("吉林省长春市朝阳区", ("220000", "220100", "220104", None, None)),
    ("南昌市西湖区", ("360000", "360100", "360103", None, None)),
    ("福州鼓楼区", ("350000", "350100", "350102", None, None)),
    ("徐州市鼓楼区", ("320000", "320300", "320302", None, None)),
    ("舟山普陀区", ("330000", "330900", "330903", None, None)),
    ("上海普陀区", ("310000", "310100", "310107", None, None)),
    # abbreviations without 省/市
    ("浙江杭州西湖区", ("330000", "330100", "330106", None, None)),
    ("广东广州", ("440000", "440100", None, None, None)),
    ("山东青岛", ("370000", "370200", None, None, None)),
    ("辽宁辽阳", ("210000", "211000", None, None, None)),
    # autonomous prefectures, leagues, banners
    ("延边州延吉市", ("220000", "222400", "222401", None, None)),
    ("吉林延边延吉市", ("220000", "222400", "222401", None, None)),
    ("红河哈尼族彝族自治州个旧市", ("530000", "532500", "532501", None, None)),
    ("云南省红河县", ("530000", "532500", "532529", None, None)),
    ("内蒙古兴安盟乌兰浩特市", ("150000", "152200", "152201", None, None)),
    ("呼伦贝尔鄂温克旗", ("150000", "150700", "150724", None, None)),
    ("科左中旗", ("150000", "150500", "150521", None, None)),
    ("阿拉善左旗", ("150000", "152900", "152921", None, None)),
    # development zones
    ("江苏省苏州工业园区", ("320000", "320500", "320576", None, None)),
    ("杭州经济技术开发区白杨街道", ("330000", "330100", "330114", "330114002", None)),
    ("杭州高新区", ("330000", "330100", "330108", None, None)),
])
def test_divisions(index, address, expected):
    assert codes(parse_one(address, index)) == expected


@pytest.mark.parametrize(("address", "expected", "road"), [
    ("上海市陕西南路100号", ("310000", "310100", None), "陕西南路"),
    ("上海四川北路1号", ("310000", "310100", None), "四川北路"),
    ("广州市北京路88号", ("440000", "440100", None), "北京路"),
    ("北海市重庆路5号", ("450000", "450500", None), "重庆路"),
    ("杭州市湖州街8号", ("330000", "330100", None), "湖州街"),
    ("台湾风情街3号", (None, None, None), "台湾风情街"),
])
def test_place_names_inside_roads_are_roads(index, address, expected, road):
    p = parse_one(address, index)
    assert (p.province_code, p.city_code, p.county_code) == expected
    assert p.road == road


def test_names_that_contain_other_names(index):
    assert parse_one("青海西宁", index).city_code == "630100"          # not 海西州
    assert parse_one("红河哈尼族彝族自治州", index).county_code is None  # not 红河县
    assert parse_one("红河哈尼族彝族自治州", index).city_code == "532500"


@pytest.mark.parametrize(("address", "county", "town"), [
    ("湖北省襄樊市樊城区", "420606", None),
    ("杭州市江干区下沙街道", "330114", "330114001"),   # 江干区 was split: 下沙 went to 钱塘区
    ("杭州市江干区丁兰街道", "330102", "330102017"),   # … 丁兰 to 上城区
    ("杭州市下城区武林街道", "330105", "330105013"),
    ("萧山市宁围镇", "330109", "330109013"),           # old county and old township suffix
    ("杭州市余杭区临平街道", "330113", "330113001"),   # before 2021 临平 was in 余杭区
])
def test_former_names_resolve_to_current_codes(index, address, county, town):
    p = parse_one(address, index)
    assert (p.county_code, p.town_code) == (county, town)
    if "樊" in address:
        assert p.city_code == "420600" and p.city_name == "襄阳市"
    assert "错误" in kinds(p)
    assert any("旧称" in w["message"] for w in p.warnings)


def test_same_named_county_alone_is_flagged_ambiguous(index):
    p = parse_one("朝阳区东三环中路1号", index)
    assert p.ambiguous and p.county_code == "110105"  # documented preference: the municipality
    p = parse_one("西湖区文三路100号", index)
    assert p.ambiguous and p.county_code in ("330106", "360103")
    for decided in ("北京市朝阳区", "长春朝阳区", "杭州市西湖区"):
        assert not parse_one(decided, index).ambiguous


def test_a_township_decides_a_short_form(index):
    p = parse_one("朝阳三里屯街道工体北路8号", index)
    assert (p.county_code, p.town_code) == ("110105", "110105004")


def test_resolving_upward_fills_the_chain_but_not_the_texts(index):
    p = parse_one("柯桥区", index)
    assert codes(p)[:3] == ("330000", "330600", "330603")
    assert (p.province, p.city, p.county) == (None, None, "柯桥区")
    assert (p.province_name, p.city_name, p.county_name) == ("浙江省", "绍兴市", "柯桥区")
    assert p.level == "county"


def test_placeholder_names(index):
    beijing = parse_one("北京市海淀区", index)
    assert (beijing.city_code, beijing.city_name) == ("110100", "北京市")
    qianjiang = parse_one("潜江市", index)
    assert (qianjiang.city_code, qianjiang.city_name) == ("429000", None)
    dongguan = parse_one("东莞市南城街道", index)
    assert (dongguan.county_code, dongguan.county_name, dongguan.town_name) == ("441900", "东莞市", "南城街道")


def test_village_inside_its_township(engine, index):
    with engine.connect() as conn:
        code, name = conn.execute(text(
            "SELECT code, name FROM divisions WHERE valid_to IS NULL AND level = 5 "
            "AND parent_code = '330109013' AND name LIKE '%社区' ORDER BY code LIMIT 1")).one()
    p = parse_one(f"杭州市萧山区宁围街道{name}市心北路99号", index)
    assert (p.town_code, p.village_code, p.village_name, p.level) == ("330109013", code, name, "village")
    assert p.village == name and p.road == "市心北路"
    # a village name needs its 村/社区 to count; a road named like it is a road
    core = name.removesuffix("社区")
    assert parse_one(f"杭州市萧山区宁围街道{core}路1号", index).village_code is None


def test_village_found_from_the_county(engine, index):
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT code, name FROM divisions v WHERE valid_to IS NULL AND level = 5 AND code LIKE '330603%' "
            "AND name LIKE '%村委会' AND NOT EXISTS (SELECT 1 FROM divisions o WHERE o.valid_to IS NULL "
            "AND o.level = 5 AND o.code LIKE '330603%' AND o.name = v.name AND o.code <> v.code) "
            "ORDER BY code LIMIT 1")).one()
    code, name = rows
    village = name.removesuffix("村委会") + "村"
    p = parse_one(f"绍兴市柯桥区{village}15号", index)
    assert (p.village_code, p.town_code) == (code, code[:9])
    assert p.village == village and p.roadno == "15号"


# ---- warnings ---------------------------------------------------------------------------------

def test_conflicting_divisions(index):
    p = parse_one("北京市上海市海淀区中关村大街1号", index)
    assert p.county_code == "110108" and "冲突" in kinds(p)
    p = parse_one("浙江省南京市鼓楼区", index)
    assert p.county_code == "320106" and "冲突" in kinds(p)


def test_repeated_divisions(index):
    p = parse_one("北京市北京市海淀区", index)
    assert p.county_code == "110108" and kinds(p) == ["冗余"]
    p = parse_one("浙江省浙江省杭州市", index)
    assert p.city_code == "330100" and "冗余" in kinds(p)


def test_missing_levels(index):
    p = parse_one("浙江省西湖区文三路", index)
    assert p.city_code == "330100" and kinds(p) == ["缺失"]
    assert p.warnings[0]["component"] == "city"
    assert kinds(parse_one("杭州市西湖区文三路", index)) == []       # nothing between
    assert kinds(parse_one("北京市海淀区", index)) == []             # 市辖区 is never written
    assert kinds(parse_one("湖北省潜江市", index)) == []
    assert kinds(parse_one("文三路100号", index)) == ["缺失"]         # no division at all


def test_errors(index):
    assert "错误" in kinds(parse_one("杭州市西湖区文三路0号", index))
    assert "错误" in kinds(parse_one("12345678", index))
    p = parse_one("杭州市西湖区" + "文" * 5000, index)
    assert p.county_code == "330106"
    assert any("过长" in w["message"] for w in p.warnings)


# ---- the remainder ----------------------------------------------------------------------------

@pytest.mark.parametrize(("address", "expected"), [
    ("浙江省杭州市西湖区文三路100号3幢2单元301室",
     {"road": "文三路", "roadno": "100号", "houseno": "3幢", "cellno": "2单元", "roomno": "301室"}),
    ("上海市徐汇区虹漕路461号58号楼5楼",
     {"road": "虹漕路", "roadno": "461号", "houseno": "58号楼", "floorno": "5楼"}),
    ("上海市长宁区鹤庆路358弄81号", {"road": "鹤庆路", "roadno": "358弄81号"}),
    ("杭州市西湖区文三路123-1号", {"road": "文三路", "roadno": "123-1号"}),
    ("温州市鹿城区解放街123号之1", {"road": "解放街", "roadno": "123号之1"}),
    ("杭州市上城区解放路8号附1", {"road": "解放路", "roadno": "8号附1"}),
    ("杭州市余杭区文一西路998号海创园5号楼", {"road": "文一西路", "roadno": "998号", "poi": "海创园",
                                           "houseno": "5号楼"}),
    ("宁波市鄞州区天童南路588号国贸中心A座1502室", {"road": "天童南路", "roadno": "588号", "poi": "国贸中心",
                                                "houseno": "A座", "roomno": "1502室"}),
    ("杭州市拱墅区阳光小区3-2-301", {"poi": "阳光小区", "houseno": "3", "cellno": "2", "roomno": "301"}),
    ("杭州市滨江区江南大道100号世纪花园5栋2单元502",
     {"road": "江南大道", "roadno": "100号", "poi": "世纪花园", "houseno": "5栋", "cellno": "2单元",
      "roomno": "502"}),
    ("杭州市上城区西湖文化广场19号F5", {"poi": "西湖文化广场", "roadno": None, "floorno": None, "roomno": None}),
    ("杭州市拱墅区莫干山路100号耀江大厦12层1001房",
     {"road": "莫干山路", "roadno": "100号", "poi": "耀江大厦", "floorno": "12层", "roomno": "1001房"}),
    ("绍兴市柯桥区柯桥街道联合村3组15号", {"roadno": "3组15号"}),
])
def test_remainder_components(index, address, expected):
    p = parse_one(address, index)
    for name, value in expected.items():
        assert getattr(p, name) == value, (name, parts(p))


# A road 通名 followed by another 通名 belongs to the 专名; a village does not take the road's 专名.
@pytest.mark.parametrize(("address", "expected"), [
    ("浙江省杭州市临安区锦城街道横街村横街路1号", {"village": "横街村", "road": "横街路", "roadno": "1号"}),
    ("浙江省杭州市建德市寿昌镇红路村红路路16号", {"village": "红路村", "road": "红路路", "roadno": "16号"}),
    ("浙江省杭州市萧山区瓜沥镇孙家弄村孙家弄路22号", {"village": "孙家弄村", "road": "孙家弄路", "roadno": "22号"}),
    ("浙江省杭州市余杭区仓前街道永乐村永乐路7号", {"village": "永乐村", "road": "永乐路", "roadno": "7号"}),
    ("浙江省杭州市淳安县千岛湖镇马路村马路村路16号", {"village": "马路村", "road": "马路村路", "roadno": "16号"}),
    ("浙江省杭州市萧山区义桥镇復兴村復兴路6号", {"village": "復兴村", "road": "復兴路", "roadno": "6号"}),
    ("浙江省杭州市萧山区围垦区萧山农业对外综合开发生活区白鹭东巷18号", {"road": "白鹭东巷", "roadno": "18号"}),
    # variants of the same patterns
    ("杭州市上城区中街路8号", {"road": "中街路", "roadno": "8号"}),
    ("杭州市上城区后巷弄3号", {"road": "后巷弄", "roadno": "3号"}),
    ("杭州市滨江区江南大道街5号", {"road": "江南大道街", "roadno": "5号"}),
    ("宁波市鄞州区东街路阳光小区3幢", {"road": "东街路", "roadno": None, "poi": "阳光小区", "houseno": "3幢"}),
    ("浙江省杭州市建德市杨村桥镇路边村路边路5号", {"village": "路边村", "road": "路边路", "roadno": "5号"}),
    ("浙江省杭州市淳安县千岛湖镇马路村路16号", {"village": None, "road": "马路村路", "roadno": "16号"}),
    ("浙江省杭州市余杭区仓前街道永乐路7号", {"village": None, "road": "永乐路", "roadno": "7号"}),
    ("杭州市西湖区翠苑街道学院路路口", {"road": "学院路"}),               # 路口 is no second 通名
    ("杭州市上城区解放路幸福里3幢", {"road": "解放路", "poi": "幸福里", "houseno": "3幢"}),
    ("杭州市上城区文二巷1号", {"road": "文二巷", "roadno": "1号"}),        # 二 before 巷 is a name here
])
def test_road_names_with_generics_inside(index, address, expected):
    p = parse_one(address, index)
    for name, value in expected.items():
        assert getattr(p, name) == value, (name, parts(p))
    assert p.warnings == []
    for name, (start, end) in p.spans.items():
        assert address[start:end] == getattr(p, name)


def test_villages_before_roads_named_after_them(engine, index):
    with engine.connect() as conn:
        def village(town: str, name: str) -> str:
            return conn.execute(text("SELECT code FROM divisions WHERE valid_to IS NULL AND level = 5 "
                                     "AND parent_code = :town AND name = :name"), {"town": town, "name": name}).scalar_one()
        dongjie = village("330112108", "东街村委会")
        shenghuoqu = village("330109501", "萧山农业对外综合开发生活区")
        laocun = village("330182112", "劳村村委会")
    p = parse_one("浙江省杭州市临安区昌化镇东街村东街路16号1幢", index)
    assert (p.village, p.village_code, p.road, p.roadno, p.houseno) == ("东街村", dongjie, "东街路", "16号", "1幢")
    assert p.poi is None
    p = parse_one("浙江省杭州市萧山区围垦区萧山农业对外综合开发生活区白鹭东巷18号", index)
    assert (p.village, p.village_code, p.level) == ("萧山农业对外综合开发生活区", shenghuoqu, "village")
    # 劳村 is both a 村委会 and a 居委会 of 大同镇: written with 村, it is the village
    p = parse_one("浙江省杭州市建德市大同镇劳村劳村路3号", index)
    assert (p.village, p.village_code, p.road, p.roadno) == ("劳村", laocun, "劳村路", "3号")


def test_what_the_generic_chain_leaves_alone(index):
    assert parse_one("北京路路口", index).province_code is None              # 路口 is a word: 北京路 is a road
    assert parse_one("杭州市上城区解放路三巷5号", index).normalized == "杭州市上城区解放路3巷5号"  # a lane number


def test_components_are_read_as_written(index):
    raw = "浙江省 杭州市，西湖區 文三路１２３號 華星時代廣場Ａ座１００１"
    p = parse_one(raw, index)
    assert codes(p)[:3] == ("330000", "330100", "330106")
    assert (p.county, p.road, p.roadno, p.poi, p.houseno, p.roomno) == (
        "西湖區", "文三路", "１２３號", "華星時代廣場", "Ａ座", "１００１")
    assert p.normalized == "浙江省杭州市,西湖区文三路123号华星时代广场A座1001"
    for name, (start, end) in p.spans.items():
        assert raw[start:end] == getattr(p, name)


def test_chinese_numerals(index):
    p = parse_one("杭州市西湖区文三路二十三号三单元五楼", index)
    assert (p.roadno, p.cellno, p.floorno) == ("二十三号", "三单元", "五楼")
    assert p.remainder == "文三路23号3单元5楼"


def test_remainder_is_what_follows_the_divisions(index):
    p = parse_one("浙江省杭州市西湖区文三路100号", index)
    assert p.remainder == "文三路100号" and p.level == "county"
    p = parse_one("杭州市西湖区某某街道文三路100号", index)
    assert p.remainder == "文三路100号"
    assert any(w["component"] == "town" for w in p.warnings)


# ---- batch behaviour and hostile input --------------------------------------------------------

def test_parse_keeps_order_and_length(index):
    texts = ["杭州市西湖区", "", "上海市徐汇区", "杭州市西湖区"]
    results = parse(texts, index)
    assert [r.text for r in results] == texts
    assert [r.county_code for r in results] == ["330106", None, "310104", "330106"]


@pytest.mark.parametrize("hostile", [
    "", " ", "1234567", "😀😀😀", "\x00\x01\x02", "a\udc80b", "臺灣省臺北市", "###---", "号号号楼楼单元",
    "文" * 10_000, "一" * 10_000 + "号", "北京" * 3000, "，" * 500, "-1-2-3-4-5", "0号0幢0单元0室",
])
def test_hostile_input_never_raises(index, hostile):
    p = parse_one(hostile, index)
    assert p.text == hostile
    assert all(w["kind"] in ("冲突", "冗余", "缺失", "错误") for w in p.warnings)
    for name, (start, end) in p.spans.items():
        assert hostile[start:end] == getattr(p, name)


def test_non_text_is_a_warning(index):
    p = parse_one(None, index)  # type: ignore[arg-type]
    assert p.text == "" and "错误" in kinds(p)


def test_random_input_never_raises_and_spans_hold(index):
    rng = random.Random(5)
    alphabet = ("浙江省杭州市西湖区萧山宁围街道文三路号幢单元室楼层村社区北京上海重庆路东西南北中一二三十"
                "０１２３４56789-#ＡB ，,()（）😀\x00\u3000臺灣區")
    for _ in range(3_000):
        raw = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        p = parse_one(raw, index)
        assert p.text == raw
        for name, (start, end) in p.spans.items():
            assert raw[start:end] == getattr(p, name), (raw, name)
        if p.county_code:
            assert p.county_code.startswith(p.province_code[:2])


def test_to_dict_has_every_field(index):
    d = parse_one("杭州市西湖区文三路100号", index).to_dict()
    assert d["county_code"] == "330106" and d["road"] == "文三路"
    assert set(d) >= {*COMPONENTS, "text", "normalized", "level", "remainder", "spans", "warnings", "ambiguous",
                      "province_code", "village_name"}


def test_parsed_address_is_frozen(index):
    p = parse_one("杭州市西湖区", index)
    with pytest.raises(AttributeError):
        p.county_code = "110105"  # type: ignore[misc]


# ---- the index ------------------------------------------------------------------------------

def test_index_is_built_once_and_rebuilt_when_divisions_change(session):
    first = admin_index(session)
    assert admin_index(session) is first
    add_division(session, code="330199", level=3, name="测试新区", parent_code="330100", kind="市辖区")
    second = admin_index(session)
    assert second is not first
    assert parse_one("杭州市测试新区文三路1号", second).county_code == "330199"
    assert parse_one("杭州市测试新区文三路1号", first).county_code is None


def test_caches_never_change_an_answer(index):
    heads = ["浙江省杭州市萧山区", "杭州萧山", "萧山", "杭州市余杭区", "杭州市江干区", "宁波鄞州", "东莞市", "北京市朝阳区",
             "朝阳", "西湖区", "杭州", ""]
    middles = ["宁围街道", "宁围", "", "城厢街道", "临平街道", "下沙", "南城街道", "三里屯街道", "湖畔社区", "市"]
    tails = ["市心北路99号", "路1号", "文三路", "村5号", "社区", "", "市心路", "镇", "区2号", "北京东路3号"]
    texts = [h + m + t for h in heads for m in middles for t in tails]
    alone = []
    for t in texts:
        index.forget()
        alone.append(parse_one(t, index).to_dict())
    index.forget()
    together = [p.to_dict() for p in parse(texts + texts, index)]
    assert together[: len(texts)] == alone
    assert together[len(texts):] == alone


def test_township_without_suffix_only_after_a_short_county(index):
    assert parse_one("萧山宁围市心北路99号", index).town_code == "330109013"
    assert parse_one("鄞州钟公庙", index).town_code == "330212002"
    assert parse_one("杭州市萧山区宁围市心北路99号", index).town_code is None   # written in full: no guessing
    assert parse_one("杭州市西湖区西溪湿地", index).town_code is None
    assert parse_one("萧山宁围路1号", index).town_code is None                 # a road named after it
