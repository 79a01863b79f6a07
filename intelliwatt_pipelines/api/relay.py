"""The upload relay: request bodies streamed into the raw store, never held whole in memory.

Multipart bodies are parsed as they arrive; the file part goes straight into a hashing spool on the
raw store's file system, so when the last byte is in, keeping it is an fsync and a rename. The
limits (size, upload rates) are checked as early as the body allows. The uploader can then follow
its upload with ``upload_status_for``.
"""

from __future__ import annotations

import base64
import binascii
import re
import zlib

import orjson
from pydantic import ValidationError
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from intelliwatt_pipelines.api.auth import is_admin
from intelliwatt_pipelines.api.errors import ApiError, friendly_validation
from intelliwatt_pipelines.api.models import InlineUpload
from intelliwatt_pipelines.api.routing import valid_esiid
from intelliwatt_pipelines.bounds import METER_RE
from intelliwatt_pipelines.cdm.tables import UPLOAD_ROLES
from intelliwatt_pipelines.cdm.upload_status import upload_status
from intelliwatt_pipelines.cdm.uploads import (
    UploadLimits,
    UploadMeta,
    accept_upload,
    check_quota,
    key_hash,
    normalize_account_key,
)
from intelliwatt_pipelines.kinds import HEAD_BYTES  # what detect_kind looks at

FIELDS = ("role", "accountKey", "esiid", "meter", "sha256")
SHA256_RE = re.compile(r"^[0-9a-fA-F]{64}$")
FIELD_MAX_BYTES = 256
OTHER_PARTS_MAX_BYTES = 64 << 10  # parts with names we do not use are read and dropped, up to this
MAX_PARTS = 16


def safe_filename(name: str | None) -> str:
    """The last path component, reduced to [A-Za-z0-9._-], no leading dots: it can name nothing
    outside the folder it is put in."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = re.sub(r"[^A-Za-z0-9._\-]+", "_", base).lstrip(".")[:200]
    return base or "upload"


class _Form:
    """python-multipart callbacks: small text fields kept, the one file part written to a spool."""

    def __init__(self, store, max_bytes: int):
        self.store, self.max_bytes = store, max_bytes
        self.fields: dict[str, str] = {}
        self.spool, self.filename, self.head = None, None, b""
        self.parts, self._headers, self._name, self._value = 0, {}, b"", b""
        self._part: str | None = None
        self._buffer = bytearray()
        self.file_started = self.ended = False
        self.other_bytes = 0

    def callbacks(self) -> dict:
        return {"on_part_begin": self._begin, "on_header_field": self._hfield, "on_header_value": self._hvalue,
                "on_header_end": self._hend, "on_headers_finished": self._headers_done,
                "on_part_data": self._data, "on_part_end": self._end, "on_end": self._finished}

    def _finished(self):
        self.ended = True  # the closing boundary was seen: the body is whole

    def _begin(self):
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise ApiError(422, "invalid_body", f"too many form parts (at most {MAX_PARTS})")
        self._headers, self._part, self._buffer = {}, None, bytearray()

    def _hfield(self, data, start, end):
        self._name += data[start:end]

    def _hvalue(self, data, start, end):
        self._value += data[start:end]

    def _hend(self):
        self._headers[self._name.lower()] = self._value
        self._name, self._value = b"", b""

    def _headers_done(self):
        _, params = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = params.get(b"name", b"").decode("latin-1")
        if name == "file":
            if self.spool is not None:
                raise ApiError(422, "invalid_body", "send exactly one file part")
            self.filename = safe_filename(params.get(b"filename", b"").decode("utf-8", "replace"))
            self.spool, self.file_started = self.store.spool(), True
        self._part = name

    def _data(self, data, start, end):
        chunk = data[start:end]
        if self._part == "file":
            if self.spool.size + len(chunk) > self.max_bytes:
                raise ApiError(413, "too_large", f"file is larger than the {self.max_bytes}-byte limit")
            if len(self.head) < HEAD_BYTES:
                self.head += chunk[:HEAD_BYTES - len(self.head)]
            self.spool.write(chunk)
        elif self._part in FIELDS:
            self._buffer += chunk
            if len(self._buffer) > FIELD_MAX_BYTES:
                raise ApiError(422, "invalid_body", f"{self._part}: longer than {FIELD_MAX_BYTES} bytes")
        else:
            self.other_bytes += len(chunk)
            if self.other_bytes > OTHER_PARTS_MAX_BYTES:
                raise ApiError(422, "invalid_body", "unexpected form parts are too large")

    def _end(self):
        if self._part in FIELDS:
            try:
                self.fields[self._part] = self._buffer.decode("utf-8").strip()
            except UnicodeDecodeError:
                raise ApiError(422, "invalid_body", f"{self._part}: not UTF-8 text") from None

    def discard(self):
        if self.spool is not None:
            self.spool.discard()


def presented_key_hash(request: Request) -> str | None:
    """Hash of the API key the request authenticated with; None when the admin token did (the route's
    auth dependency has already checked that one of the two is valid)."""
    if is_admin(request, request.headers.get("x-admin-token")):
        return None
    return key_hash(request.headers.get("x-api-key", ""))


def upload_meta(fields: dict[str, str], filename: str, via: str, corr_id: str, key: str | None) -> UploadMeta:
    role, account = fields.get("role", ""), fields.get("accountKey", "")
    if role not in UPLOAD_ROLES:
        raise ApiError(422, "invalid_parameter", "role: must be admin or customer")
    if not normalize_account_key(account) or len(account) > 200:
        raise ApiError(422, "invalid_parameter", "accountKey: required (not only blank or invisible characters), "
                                                 "at most 200 characters")
    esiid, meter = fields.get("esiid") or None, fields.get("meter") or None
    if esiid:
        valid_esiid(esiid)
    if meter and not METER_RE.match(meter):
        raise ApiError(422, "invalid_parameter", "meter: letters, digits, '.', '_' or '-', at most 40")
    return UploadMeta(role=role, account_key=account, filename=filename, via=via, esiid=esiid, meter=meter,
                      correlation_id=corr_id, key_hash=key)


def declared_sha256(fields: dict[str, str]) -> str | None:
    """The optional sha256 field: the file's hash as the client computed it (checked against the bytes)."""
    value = fields.get("sha256") or None
    if value is not None and not SHA256_RE.match(value):
        raise ApiError(422, "invalid_parameter", "sha256: must be 64 hexadecimal digits")
    return value.lower() if value else None


def _multipart_boundary(request: Request, max_bytes: int) -> bytes:
    """The multipart boundary, refusing other bodies and a declared length over the limit up front."""
    kind, params = parse_options_header(request.headers.get("content-type", ""))
    if kind != b"multipart/form-data" or not params.get(b"boundary"):
        raise ApiError(422, "invalid_body", "send multipart/form-data with a file part and role, accountKey fields")
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > max_bytes + (1 << 20):
        raise ApiError(413, "too_large", f"file is larger than the {max_bytes}-byte limit")
    return params[b"boundary"]


def _require_whole_file(form: "_Form") -> None:
    """The body was complete and held a non-empty part named 'file'."""
    if not form.ended:  # python-multipart's finalize() does not check this itself
        raise ApiError(422, "invalid_body", "the multipart body ended before its closing boundary")
    if form.spool is None:
        raise ApiError(422, "invalid_body", "file: the multipart body has no part named 'file'")
    if form.spool.size == 0:
        raise ApiError(422, "invalid_body", "file: is empty")


async def receive_multipart(request: Request, *, store, max_bytes: int, authorize, limits: UploadLimits, engine):
    """Stream a multipart upload into a spool. Returns (spooled, head, meta); the caller keeps it."""
    boundary = _multipart_boundary(request, max_bytes)
    form, corr, key = _Form(store, max_bytes), request.state.corr_id, presented_key_hash(request)
    parser = MultipartParser(boundary, form.callbacks())
    checked = False
    try:
        async for chunk in request.stream():
            parser.write(chunk)
            if form.file_started and not checked and {"role", "accountKey"} <= form.fields.keys():
                # The fields came first: refuse before the bytes are read, not after.
                meta = upload_meta(form.fields, form.filename, "multipart", corr, key)
                authorize(meta.role)
                # At the limit, what may be a repeat (same sha256 declared, else same file name) reads
                # on: a repeat takes no slot, and only its bytes tell.
                await run_in_threadpool(check_quota, engine, meta, limits, declared_sha256(form.fields))
                checked = True
        parser.finalize()
        _require_whole_file(form)
        meta = upload_meta(form.fields, form.filename, "multipart", corr, key)
        authorize(meta.role)
        declared = declared_sha256(form.fields)
        spooled = await run_in_threadpool(form.spool.finish)  # the fsync off the event loop
        if declared and declared != spooled[1]:
            raise ApiError(422, "invalid_body", "sha256: does not match the file received (sent whole?)")
        return spooled, form.head, meta
    except MultipartParseError as exc:
        form.discard()
        raise ApiError(422, "invalid_body", f"malformed multipart body: {exc}") from None
    except BaseException:
        form.discard()
        raise


async def read_bounded(request: Request, max_bytes: int) -> bytes:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise ApiError(413, "too_large", f"request body is larger than {max_bytes} bytes")
    return bytes(body)


def decode_inline(payload: InlineUpload, max_bytes: int) -> bytes:
    """base64 (then gunzip, bounded) and check the declared size."""
    try:
        data = base64.b64decode(payload.content_b64, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(422, "invalid_parameter", "content_b64: not valid base64") from None
    if payload.encoding == "base64+gzip":
        inflater = zlib.decompressobj(wbits=31)
        try:
            out = inflater.decompress(data, max_bytes + 1)
        except zlib.error:
            raise ApiError(422, "invalid_parameter", "content_b64: not valid gzip") from None
        if len(out) > max_bytes or inflater.unconsumed_tail:
            raise ApiError(413, "too_large", f"content expands beyond the {max_bytes}-byte limit")
        if not inflater.eof or inflater.unused_data:
            raise ApiError(422, "invalid_parameter", "content_b64: gzip stream is truncated or has trailing data")
        data = out
    if len(data) > max_bytes:
        raise ApiError(413, "too_large", f"file is larger than the {max_bytes}-byte limit")
    if len(data) != payload.sizeBytes:
        raise ApiError(422, "invalid_parameter",
                       f"sizeBytes: says {payload.sizeBytes} but the content decodes to {len(data)} bytes")
    return data


def parse_inline(body: bytes) -> InlineUpload:
    try:
        return InlineUpload.model_validate(orjson.loads(body))
    except orjson.JSONDecodeError:
        raise ApiError(422, "invalid_body", "body: not JSON") from None
    except ValidationError as exc:
        raise ApiError(422, "invalid_body", friendly_validation(exc.errors())) from None


def keep_inline(engine, store, data: bytes, payload: InlineUpload, corr_id: str, limits: UploadLimits):
    spool = store.spool()
    try:
        spool.write(data)
        spooled = spool.finish()
    except BaseException:
        spool.discard()
        raise
    account = payload.accountKey if normalize_account_key(payload.accountKey or "") else "inline"
    meta = UploadMeta(role="admin", account_key=account, filename=safe_filename(payload.filename),
                      via="inline", esiid=payload.esiid, meter=payload.meter, correlation_id=corr_id)
    return accept_upload(engine, store, spooled, data[:HEAD_BYTES], meta, limits)


def upload_status_for(engine, request: Request, upload_id: int) -> dict:
    """The status of an upload the caller made; 404 alike when there is none and when another API key
    made it (a 403 would tell that it exists)."""
    with engine.connect() as conn:
        found = upload_status(conn, upload_id, presented_key_hash(request))
    if found is None:
        raise ApiError(404, "not_found", f"no upload {upload_id} made with this API key")
    return found
