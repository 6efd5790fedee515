"""Request guards that apply to every route."""

from __future__ import annotations

from fastapi import Request

from data.errors import InvalidInput

RAW_BODY_PATHS = ("/v1/attachments/",)


async def no_nul_characters(request: Request) -> None:
    """422 for a NUL character in the query, a JSON body or a form: PostgreSQL text cannot hold one."""
    if "%00" in request.url.query or "\x00" in request.url.path:
        raise InvalidInput("the query contains a NUL character (%00)",
                           errors=[{"field": "query", "message": "NUL character"}])
    media_type = request.headers.get("content-type", "")
    if request.url.path.startswith(RAW_BODY_PATHS):
        return  # raw file bytes, streamed under a size limit: a NUL is content, not a text field
    if media_type.startswith("application/json"):
        body = await request.body()
        found = b"\\u0000" in body or b"\x00" in body
    elif media_type.startswith("application/x-www-form-urlencoded"):
        form = await request.form()  # parsed once; the route reuses it
        found = any("\x00" in value for value in form.values() if isinstance(value, str))
    else:
        return
    if found:
        raise InvalidInput("the request body contains a NUL character",
                           errors=[{"field": "body", "message": "NUL character"}])
