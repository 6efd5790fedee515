"""NUL characters never reach PostgreSQL: a clear 422 wherever they come in."""

import pytest


@pytest.mark.parametrize("send", [
    lambda c: c.get("/v1/placenames", params={"q": "湖\x00州"}),
    lambda c: c.get("/v1/romanize", params={"name": "\x00"}),
    lambda c: c.post("/v1/placenames/check", json={"name": "文\u0000路", "category": "0801",
                                                  "division_code": "330502"}),
    lambda c: c.post("/v1/auth/token", data={"username": "a\x00b", "password": "whatever1"}),
])
def test_nul_is_a_clear_422(client, send):
    response = send(client)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert "NUL" in response.json()["detail"]


def test_ordinary_requests_pass_the_guard(client):
    assert client.get("/v1/placenames", params={"q": "湖州"}).status_code == 200
    assert client.post("/v1/auth/token", data={"username": "nobody", "password": "whatever1"}).status_code == 401


@pytest.mark.parametrize("path, params", [
    ("/v1/divisions", {"level": "²"}),               # a digit to str.isdigit(), not to int()
    ("/v1/placenames/99999999999999999999", {}),     # beyond bigint
    ("/v1/placenames", {"after": "1.2.99999999999999999999"}),
])
def test_found_by_fuzzing_are_clear_422s(client, path, params):
    response = client.get(path, params=params)
    assert response.status_code == 422, response.text
