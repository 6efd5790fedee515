"""/v1/addresses/{code}/plate.svg: the digital door plate (二维码门牌) of an address."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, Response

from addresses.plate import plate_record, plate_svg
from api.deps import SessionDep

router = APIRouter(prefix="/v1/addresses", tags=["addresses"])
SVG = "image/svg+xml"
_PROBLEM = {"application/problem+json": {}}

CodePath = Annotated[str, Path(max_length=40, description="address code: 17, 21, 24, 26 or 30 digits",
                               examples=["330106002051000010001"])]
SizeQuery = Annotated[Literal["large", "medium", "small"],
                      Query(description="plate class: large 大门牌 570×370 mm, medium 中门牌 270×170 mm, "
                                        "small 小门牌 150×90 mm")]


@router.get("/{code}/plate.svg", response_class=Response, summary="The address's door plate with a QR code",
            responses={200: {"content": {SVG: {}}, "description": "the plate as SVG, sizes in millimetres"},
                       404: {"description": "no current address has this code", "content": _PROBLEM},
                       422: {"description": "the code is not an address code, or the size is unknown",
                             "content": _PROBLEM}})
def plate(request: Request, session: SessionDep, code: CodePath, size: SizeQuery = "medium") -> Response:
    """Blue plate, white text, the standard name and number, a QR code linking to the address record."""
    record = plate_record(session, code)
    svg = plate_svg(record, base_url=str(request.base_url), size=size)
    return Response(svg, media_type=SVG, headers={"Cache-Control": "public, max-age=300"})
