"""The digital door plate: the record behind it, the SVG (text, escaping, sizes, QR code) and the route."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import pytest
import segno
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from addresses.plate import QR_BORDER, QR_ERROR, SIZES, check_code, plate_record, plate_svg, record_url
from api.deps import get_session
from data.errors import InvalidInput, NotFound
from placenames.romanize import romanize
from tests.address_builders import (
    add_building,
    add_compound,
    add_plate,
    add_room,
    add_standard_name,
    add_street,
    add_unit,
    close,
)

NS = {"svg": "http://www.w3.org/2000/svg"}
BASE = "https://gazetteer.example"
PLATE_PATH = "/v1/addresses/{code}/plate.svg"


@pytest.fixture
def plate_client(settings, engine, session: Session) -> Iterator[TestClient]:
    """The app with the plate router included (once app.py includes it, the existing route is used)."""
    from api.app import create_app
    from api.routers.address_plates import router

    app = create_app(settings, engine)
    if not any(getattr(r, "path", "") == PLATE_PATH for r in app.routes):
        app.include_router(router)

    def _session() -> Iterator[Session]:
        with session.begin_nested():
            yield session

    app.dependency_overrides[get_session] = _session
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def tree(connection):
    street = add_street(connection, name="文一路")
    plate = add_plate(connection, street, 100, suffix="之1")
    building = add_building(connection, plate, 3)
    unit = add_unit(connection, building, 2)
    room = add_room(connection, unit, 301)
    return street, plate, building, unit, room


def texts(root) -> dict[str, str]:
    return {t.get("class"): "".join(t.itertext()) for t in root.iter(f"{{{NS['svg']}}}text")}


def qr_matrix(root) -> list[list[int]]:
    """The QR modules the SVG draws, read back from its path (quiet zone stripped)."""
    group = root.find(".//svg:g[@class='qr']", NS)
    size = int(group.find("svg:rect", NS).get("width"))
    grid = [[0] * size for _ in range(size)]
    for x, y, width in re.findall(r"M(\d+) (\d+)h(\d+)v1h-\d+z", group.find("svg:path", NS).get("d")):
        for col in range(int(x), int(x) + int(width)):
            grid[int(y)][col] = 1
    return [row[QR_BORDER:size - QR_BORDER] for row in grid[QR_BORDER:size - QR_BORDER]]


def expected_matrix(url: str) -> list[list[int]]:
    return [list(row) for row in segno.make(url, error=QR_ERROR, micro=False).matrix]


# ---------------------------------------------------------------- the record


def test_record_of_a_plate(connection, tree):
    street, plate, *_ = tree
    record = plate_record(connection, plate.code)
    assert (record.code, record.level, record.street_name, record.number_text) == (
        plate.code, "plate", "文一路", "100号之1")
    assert record.romanization == romanize("文一路", "0801").sign_text
    assert record.full_address == plate.full_address and record.full_address.endswith("文一路100号之1")


@pytest.mark.parametrize("index", [2, 3, 4])
def test_building_unit_and_room_show_their_door_plate(connection, tree, index):
    plate, element = tree[1], tree[index]
    record = plate_record(connection, element.code)
    assert (record.code, record.requested_code, record.number_text) == (plate.code, element.code, "100号之1")


def test_building_in_a_compound_shows_the_compound(connection):
    compound = add_compound(connection, name="阳光小区")
    building = add_building(connection, compound, 1)
    record = plate_record(connection, add_room(connection, building, 101).code)
    assert (record.code, record.level, record.street_name, record.number_text) == (
        compound.code, "compound", "阳光小区", "")


def test_registered_romanization_wins(connection):
    name_id = add_standard_name(connection, "文一路")
    connection.exec_driver_sql("UPDATE place_names SET romanization = 'Wenyi Lu' WHERE name_id = %s", (name_id,))
    plate = add_plate(connection, add_street(connection, place_name_id=name_id), 7)
    assert plate_record(connection, plate.code).romanization == "WENYI LU"


def test_unknown_and_retired_codes_are_not_found(connection, tree):
    plate = tree[1]
    with pytest.raises(NotFound, match="no address"):
        plate_record(connection, "9" * 21)
    close(connection, plate)
    with pytest.raises(NotFound, match="retired"):
        plate_record(connection, plate.code)


def test_orphan_has_no_plate(connection, tree):
    street, plate, building, *_ = tree
    close(connection, plate)
    with pytest.raises(NotFound, match="no current plate"):
        plate_record(connection, building.code)


@pytest.mark.parametrize("code", ["", "123", "1" * 22, "3301060020510000１0001", "33010600205100001000a",
                                  " " + "1" * 21, "1" * 21 + "\n"])
def test_malformed_codes_are_refused_with_the_field(code):
    with pytest.raises(InvalidInput) as err:
        check_code(code)
    assert err.value.errors[0]["field"] == "code" and "17, 21, 24, 26 or 30" in err.value.detail


# ---------------------------------------------------------------- the SVG


@pytest.mark.parametrize("size", list(SIZES))
def test_svg_is_a_blue_plate_with_text_and_the_code(connection, tree, size):
    plate = tree[1]
    record = plate_record(connection, plate.code)
    root = ET.fromstring(plate_svg(record, base_url=BASE, size=size))
    s = SIZES[size]
    assert root.tag == f"{{{NS['svg']}}}svg"
    assert root.get("viewBox") == f"0 0 {s.width} {s.height}" and root.get("width") == f"{s.width}mm"
    background = root.find("svg:rect", NS)
    assert background.get("fill") == "#1d4e9e"
    shown = texts(root)
    assert shown["name"] == "文一路" and shown["number"] == "100号之1" and shown["code"] == plate.code
    assert (shown.get("romanization") == record.romanization) is s.romanized
    assert root.find("svg:g", NS).get("fill") == "#fff"
    assert root.find("svg:title", NS).text == record.full_address


@pytest.mark.parametrize("size", list(SIZES))
def test_qr_code_links_to_the_address_record(connection, tree, size):
    record = plate_record(connection, tree[4].code)    # a room: its door plate's record
    root = ET.fromstring(plate_svg(record, base_url=BASE + "/", size=size))
    url = f"{BASE}/v1/addresses/{record.code}"
    assert record_url(BASE + "/", record.code) == url
    assert qr_matrix(root) == expected_matrix(url)
    assert qr_matrix(root) != expected_matrix(url + "0")
    assert root.find("svg:a", NS).get("href") == url
    group = root.find(".//svg:g[@class='qr']", NS)
    scale = float(re.search(r"scale\(([\d.]+)\)", group.get("transform")).group(1))
    assert scale * int(group.find("svg:rect", NS).get("width")) == pytest.approx(SIZES[size].qr, abs=0.01)


def test_qr_code_decodes_to_the_url(connection, tree):
    zxingcpp = pytest.importorskip("zxingcpp", reason="zxing-cpp (pip) is not installed: QR decoding skipped; "
                                   "the module-by-module comparison with segno still runs")
    np = pytest.importorskip("numpy")
    record = plate_record(connection, tree[1].code)
    root = ET.fromstring(plate_svg(record, base_url=BASE))
    matrix = np.array(qr_matrix(root), dtype=np.uint8)
    image = np.pad(1 - matrix, QR_BORDER, constant_values=1).repeat(8, axis=0).repeat(8, axis=1) * 255
    decoded = zxingcpp.read_barcodes(image)
    assert [d.text for d in decoded] == [f"{BASE}/v1/addresses/{record.code}"]


def test_text_is_escaped(connection):
    street = add_street(connection, name="和平&<路>\"", named=False)
    record = plate_record(connection, add_plate(connection, street, 1).code)
    svg = plate_svg(record, base_url=BASE)
    assert "&<" not in svg and "和平&amp;&lt;路&gt;" in svg
    root = ET.fromstring(svg)
    assert texts(root)["name"] == "和平&<路>\"" and "romanization" not in texts(root)
    assert root.get("aria-label") == record.full_address


def test_long_names_are_fitted_to_the_plate(connection):
    street = add_street(connection, name="中山东路南段延伸线辅路")
    record = plate_record(connection, add_plate(connection, street, 12345, suffix="之12").code)
    root = ET.fromstring(plate_svg(record, base_url=BASE, size="small"))
    for t in root.iter(f"{{{NS['svg']}}}text"):
        if t.get("class") in ("name", "number"):
            size, length = float(t.get("font-size")), t.get("textLength")
            width = float(length) if length else size * sum(1 if ord(c) > 0x2e80 else 0.6 for c in t.text)
            qr_left = SIZES["small"].width - SIZES["small"].qr
            assert float(t.get("x")) + width < qr_left


def test_compound_plate_has_no_number(connection):
    compound = add_compound(connection, name="阳光小区")
    record = plate_record(connection, add_building(connection, compound, 1).code)
    shown = texts(ET.fromstring(plate_svg(record, base_url=BASE)))
    assert shown["name"] == "阳光小区" and "number" not in shown


def test_unknown_size_is_refused(connection, tree):
    with pytest.raises(InvalidInput) as err:
        plate_svg(plate_record(connection, tree[1].code), base_url=BASE, size="huge")
    assert err.value.errors[0]["field"] == "size"


# ---------------------------------------------------------------- the route


def test_route_serves_the_svg(plate_client, tree):
    plate = tree[1]
    response = plate_client.get(f"/v1/addresses/{tree[4].code}/plate.svg", params={"size": "large"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("image/svg+xml")
    root = ET.fromstring(response.text)
    assert root.get("viewBox") == "0 0 570 370"
    url = f"http://testserver/v1/addresses/{plate.code}"
    assert root.find("svg:a", NS).get("href") == url and qr_matrix(root) == expected_matrix(url)
    assert texts(root)["code"] == plate.code


def test_route_default_size_is_medium(plate_client, tree):
    root = ET.fromstring(plate_client.get(f"/v1/addresses/{tree[1].code}/plate.svg").text)
    assert root.get("viewBox") == "0 0 270 170"


@pytest.mark.parametrize(("path", "status", "field"), [
    ("/v1/addresses/12345/plate.svg", 422, "code"),
    ("/v1/addresses/abc/plate.svg", 422, "code"),
    (f"/v1/addresses/{'9' * 21}/plate.svg", 404, None),
    (f"/v1/addresses/{'9' * 30}/plate.svg?size=huge", 422, "size"),
])
def test_route_errors_are_problems(plate_client, path, status, field):
    response = plate_client.get(path)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["detail"]
    if field:
        assert field in {e["field"] for e in body["errors"]}
