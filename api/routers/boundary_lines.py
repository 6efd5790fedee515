"""boundaries routes (being written)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/v1/boundaries", tags=["boundaries"])
