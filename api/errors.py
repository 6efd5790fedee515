"""Map every error to an RFC 9457 problem+json response; never a stack trace."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from data.errors import GazetteerError, TooManyRequests

PROBLEM = "application/problem+json"
TYPE_BASE = "https://gazetteer.invalid/problems/"  # stable identifiers, not fetched
log = logging.getLogger("gazetteer.api")


def problem(
    status: int, title: str, detail: str, code: str,
    errors: list[dict[str, str]] | None = None, headers: dict | None = None,
    extra: dict | None = None,
) -> JSONResponse:
    """Build one problem+json response."""
    body = {"type": TYPE_BASE + code, "title": title, "status": status, "detail": detail}
    if errors:
        body["errors"] = errors
    body.update(extra or {})
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _field(loc: tuple) -> str:
    parts = [str(p) for p in loc if p not in ("query", "path", "body", "header", "form")]
    return ".".join(parts) or "request"


async def _domain(_: Request, exc: GazetteerError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    if isinstance(exc, TooManyRequests):
        headers = {"Retry-After": str(exc.retry_after)}
    return problem(exc.status, exc.title, exc.detail, exc.code, exc.errors, headers, exc.extra)


async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
    errors = [{"field": _field(e["loc"]), "message": e["msg"]} for e in exc.errors()]
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return problem(422, "Invalid request", detail, "validation", errors)


async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
    title = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, "HTTP error")
    return problem(exc.status_code, title, str(exc.detail), f"http-{exc.status_code}",
                   headers=getattr(exc, "headers", None))


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem(500, "Internal error", "the server failed; the error was logged", "internal")


def install(app: FastAPI) -> None:
    """Register the handlers on APP."""
    app.add_exception_handler(GazetteerError, _domain)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(Exception, _unexpected)
