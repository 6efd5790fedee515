"""Response models: they document the API and validate what it sends."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from api.paging import Page


class DivisionRefOut(BaseModel):
    """A division as a link."""

    code: str = Field(examples=["330502"])
    name: str = Field(examples=["吴兴区"])
    level: int = Field(ge=1, le=5)
    level_name: str = Field(examples=["county"])
    kind: str = Field(examples=["市辖区"])


class DivisionOut(DivisionRefOut):
    """One division with its parent chain (province first, itself last)."""

    placeholder: bool
    parent_code: str | None
    valid_from: str
    source: str
    chain: list[DivisionRefOut]
    children: int = Field(description="number of real child units (placeholders looked through)")
    has_geometry: bool
    geometry_source: str | None
    geometry_approximate: bool = Field(description="true for the approximate demo polygons")
    geometry: dict[str, Any] | None = Field(None, description="GeoJSON, CRS84, with ?geometry=true")
    label_point: dict[str, Any] | None = None


DivisionPage = Page[DivisionRefOut]


class LocationOut(BaseModel):
    """The divisions containing a point."""

    lon: float
    lat: float
    province: DivisionRefOut | None
    prefecture: DivisionRefOut | None
    county: DivisionRefOut | None
    chain: list[DivisionRefOut]


class TokenOut(BaseModel):
    """An OAuth2 bearer token."""

    access_token: str
    token_type: str = "bearer"
    expires_in: int = Field(description="seconds")


class UserIn(BaseModel):
    """A new staff account."""

    username: str = Field(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
    password: str = Field(min_length=8, max_length=256)
    role: str = Field(examples=["reviewer"])


class UserOut(BaseModel):
    """A staff account."""

    username: str
    role: str
    active: bool
