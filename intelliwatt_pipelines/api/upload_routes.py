"""The upload routes: multipart uploads, the legacy inline JSON contract and an upload's status.

Bodies are streamed by ``relay``; acceptance (limits, the ESIID scan, registration) is ``cdm.uploads``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, FastAPI, Path, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from intelliwatt_pipelines.api import models
from intelliwatt_pipelines.api.auth import is_admin, require_admin, require_consumer
from intelliwatt_pipelines.api.errors import ApiError
from intelliwatt_pipelines.api.relay import (
    decode_inline,
    keep_inline,
    parse_inline,
    read_bounded,
    receive_multipart,
    upload_status_for,
)
from intelliwatt_pipelines.api.routing import ERRORS, MAX_ID, UPLOAD_ERRORS, accepts_json, render
from intelliwatt_pipelines.cdm.uploads import UploadLimits, accept_upload

MULTIPART_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file", "role", "accountKey"], "properties": {
        "file": {"type": "string", "format": "binary"},
        "role": {"type": "string", "enum": ["admin", "customer"]},
        "accountKey": {"type": "string", "maxLength": 200},
        "esiid": {"type": "string", "description": "For files that name no ESIID."},
        "meter": {"type": "string"},
        "sha256": {"type": "string", "pattern": "^[0-9a-fA-F]{64}$",
                   "description": "Optional: the file's SHA-256; the upload is refused if the bytes differ. "
                                  "Sent before the file, it lets a renamed repeat through at the upload limit."}}}}}}}


def upload_routes(app: FastAPI) -> None:
    settings, engine, store = app.state.settings, app.state.engine, app.state.store
    limits = UploadLimits.from_settings(settings)

    @app.post("/api/v1/uploads", status_code=202, response_model=models.UploadAccepted, responses={
        **UPLOAD_ERRORS, 200: {"model": models.UploadAccepted, "description": "A repeat: this API key already "
                               "uploaded these bytes for this account (upload_id is that upload; no limit used)"}},
              dependencies=[Depends(require_consumer), Depends(accepts_json)], openapi_extra=MULTIPART_BODY,
              tags=["uploads"])
    async def upload(request: Request):
        """Stream a usage file into the raw store; 202 with its raw_file id once the bytes are safe.
        Fields: file, role (admin needs x-admin-token), accountKey, optional esiid, meter and sha256.
        The same file again from the same API key and account is a repeat: 200 with the earlier upload."""
        def authorize(role: str) -> None:
            if role == "admin" and not is_admin(request, request.headers.get("x-admin-token")):
                raise ApiError(401, "unauthorized", "role admin needs a valid x-admin-token header")

        spooled, head, meta = await receive_multipart(request, store=store, max_bytes=settings.upload_max_bytes,
                                                      authorize=authorize, limits=limits, engine=engine)
        accepted = await run_in_threadpool(accept_upload, engine, store, spooled, head, meta, limits)
        return _accepted(request, accepted)

    @app.post("/api/v1/admin/smt/inline", status_code=202, response_model=models.UploadAccepted,
              responses=UPLOAD_ERRORS, dependencies=[Depends(require_admin), Depends(accepts_json)], tags=["uploads"],
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/json": {"schema": models.InlineUpload.model_json_schema()}}}})
    async def inline(request: Request):
        """The legacy inline JSON contract (base64, optionally gzip first); counted as role admin."""
        body = await read_bounded(request, settings.upload_max_bytes * 4 // 3 + (1 << 16))
        payload = await run_in_threadpool(parse_inline, body)  # decoding 100 MB must not stall the loop
        data = await run_in_threadpool(decode_inline, payload, settings.upload_max_bytes)
        accepted = await run_in_threadpool(keep_inline, engine, store, data, payload, request.state.corr_id,
                                           limits)
        return _accepted(request, accepted)

    @app.get("/api/v1/uploads/{upload_id}", response_model=models.UploadStatus, responses=ERRORS,
             dependencies=[Depends(require_consumer), Depends(accepts_json)], tags=["uploads"])
    def upload_status(request: Request, upload_id: Annotated[int, Path(ge=1, le=MAX_ID)]):
        """An upload made with this x-api-key (the admin token sees any): its status, rows and error.
        Another key's upload is a 404, like one that does not exist."""
        return render(upload_status_for(app.state.read_engine, request, upload_id), request)


def _accepted(request: Request, accepted) -> Response:
    captured = accepted.captured
    # Built on the configured base URL, never the client-chosen Host header (relative without one).
    status_url = f"{request.app.state.settings.public_base_url.rstrip('/')}/api/v1/uploads/{accepted.upload_id}"
    response = render({"raw_file_id": captured.raw_file_id, "upload_id": accepted.upload_id, "sha256": captured.sha256,
                       "size_bytes": accepted.size_bytes, "status": captured.status, "duplicate": not captured.new,
                       "repeat": accepted.repeat, "status_url": status_url}, request, 200 if accepted.repeat else 202)
    response.headers["Location"] = status_url
    return response
