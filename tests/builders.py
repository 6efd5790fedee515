"""Tiny test-data builders with keyword defaults."""

from sqlalchemy import text
from sqlalchemy.orm import Session


def add_division(session: Session, *, code: str = "339901", level: int = 3, name: str = "测试区",
                 parent_code: str | None = "330500", kind: str = "市辖区",
                 wkt: str | None = None) -> str:
    """Insert one current division (and its locate parts when WKT is given)."""
    session.execute(text(
        "INSERT INTO divisions (code, level, name, parent_code, kind, valid_from, source, geom) "
        "VALUES (:code, :level, :name, :parent, :kind, '2024-01-01', 'test', "
        "ST_Multi(ST_GeomFromText(:wkt, 4490)))"
    ), {"code": code, "level": level, "name": name, "parent": parent_code, "kind": kind,
        "wkt": wkt})
    if wkt:
        session.execute(text(
            "INSERT INTO division_parts (code, level, geom) "
            "SELECT :code, :level, ST_GeomFromText(:wkt, 4490)"
        ), {"code": code, "level": level, "wkt": wkt})
    return code



STAFF_PASSWORD = "long enough pw"


def staff_headers(client, session: Session, role: str, username: str | None = None) -> dict[str, str]:
    """Create an account with ROLE and return the Authorization header of its bearer token."""
    from data.accounts import add_user

    username = username or f"t-{role}"
    add_user(session, username, STAFF_PASSWORD, role)
    token = client.post("/v1/auth/token", data={"username": username, "password": STAFF_PASSWORD}).json()
    return {"Authorization": f"Bearer {token['access_token']}"}
