"""ORM models: the schema's spine. Migrations in `data/migrations` create exactly these tables."""

from __future__ import annotations

import datetime as dt
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Integer,
    SmallInteger,
    String,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

SRID = 4490  # CGCS2000 geographic, the storage CRS of everything


class Base(DeclarativeBase):
    """Declarative base for all tables."""


class Division(Base):
    """One version of an administrative division (province … village committee)."""

    __tablename__ = "divisions"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    code: Mapped[str] = mapped_column(String(12))
    level: Mapped[int] = mapped_column(SmallInteger)
    name: Mapped[str] = mapped_column(Text)
    parent_code: Mapped[str | None] = mapped_column(String(12))
    kind: Mapped[str] = mapped_column(Text)
    placeholder: Mapped[bool] = mapped_column(Boolean, default=False)
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=SRID, spatial_index=False), nullable=True)
    label_point = mapped_column(Geometry("POINT", srid=SRID, spatial_index=False), nullable=True)
    geom_source: Mapped[str | None] = mapped_column(Text)
    geom_approximate: Mapped[bool] = mapped_column(Boolean, default=False)
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date)
    source: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class DivisionPart(Base):
    """Subdivided pieces of current division polygons, for fast point-in-polygon."""

    __tablename__ = "division_parts"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    code: Mapped[str] = mapped_column(String(12))
    level: Mapped[int] = mapped_column(SmallInteger)
    geom = mapped_column(Geometry("POLYGON", srid=SRID, spatial_index=False))


class DivisionEvent(Base):
    """A division change: rename, merge, transfer, create, abolish (old → new codes)."""

    __tablename__ = "division_events"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    event_type: Mapped[str] = mapped_column(Text)
    effective_date: Mapped[dt.date] = mapped_column(Date)
    approval_document: Mapped[str | None] = mapped_column(Text)
    approved_by: Mapped[str | None] = mapped_column(Text)
    old_codes: Mapped[list[str]] = mapped_column(ARRAY(String(12)), default=list)
    new_codes: Mapped[list[str]] = mapped_column(ARRAY(String(12)), default=list)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class Dataset(Base):
    """Provenance of every loaded dataset: source, version, terms, when and how much."""

    __tablename__ = "datasets"

    name: Mapped[str] = mapped_column(Text, primary_key=True)
    version: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(Text)
    terms: Mapped[str] = mapped_column(Text)
    row_count: Mapped[int] = mapped_column(Integer)
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    loaded_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class User(Base):
    """A staff account with one role."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    username: Mapped[str] = mapped_column(Text, unique=True)
    password_hash: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class AuditEntry(Base):
    """One append-only audit record: who did what to which entity, before and after."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    actor: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(Text)
    entity_type: Mapped[str] = mapped_column(Text)
    entity_id: Mapped[str] = mapped_column(Text)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
