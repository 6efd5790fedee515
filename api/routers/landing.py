"""GET /: where to go from here."""

from __future__ import annotations

from fastapi import APIRouter, Request

router = APIRouter(tags=["landing"])


@router.get("/", summary="Landing page with links")
def landing(request: Request) -> dict:
    """Links to the API description, docs, health and an example map."""
    base = str(request.base_url).rstrip("/")
    return {
        "title": "gazetteer",
        "description": "区划地名 service: divisions, place names, addresses, boundaries, maps",
        "links": [
            {"rel": "service-desc", "href": f"{base}/api",
             "type": "application/vnd.oai.openapi+json;version=3.0"},
            {"rel": "service-doc", "href": f"{base}/docs", "type": "text/html"},
            {"rel": "status", "href": f"{base}/health", "type": "application/json"},
            {"rel": "example-map", "href": f"{base}/maps/divisions/330500", "type": "text/html"},
        ],
    }
