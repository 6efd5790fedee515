"""Reading uploaded files with a size limit (refused before anything is stored)."""

from __future__ import annotations

from fastapi import UploadFile

from data.errors import InvalidInput

READ_CHUNK = 1024 * 1024


async def read_limited(file: UploadFile, limit: int) -> bytes:
    """The upload's bytes, or a 422 as soon as it passes LIMIT bytes."""
    chunks, size = [], 0
    while chunk := await file.read(READ_CHUNK):
        size += len(chunk)
        if size > limit:
            raise InvalidInput(f"the file is over the {limit / (1024 * 1024):g} MiB limit",
                               errors=[{"field": "file", "message": "too large"}])
        chunks.append(chunk)
    return b"".join(chunks)
