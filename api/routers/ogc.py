"""OGC API Features Parts 1–3: landing, conformance, collections, items, queryables (stub, filled by issue 7)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["OGC API Features"])
