"""/v1/facilities: service facilities, types, import, coverage analysis (stub, filled by issue 7)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/v1", tags=["facilities"])
