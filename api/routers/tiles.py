"""Vector tiles: per-collection OGC API Tiles, the multi-layer tile set, TileJSON (stub, filled by issue 7)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["OGC API Tiles"])
