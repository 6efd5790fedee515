"""GET /: the OGC API landing page, with the service's other entry points as extra links."""

from __future__ import annotations

from fastapi import APIRouter, Request

from api.paging import public_base_url
from maps import ogc_documents

router = APIRouter(tags=["landing"])


@router.get("/", summary="Landing page (OGC API) with links")
def landing(request: Request) -> dict:
    """Links to the API description, conformance, collections, docs, health and an example map."""
    return ogc_documents.landing_page(public_base_url(request))
