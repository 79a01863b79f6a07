"""``POST /api/v1/readings``: 1PWR's IoT meters push readings one at a time (vendor-apis.md §3.1, 1).

Never one Dagster run per reading: each accepted reading becomes one JSON line in a spool file per
meter and hour, ``<INTELLIWATT_IOT_SPOOL>/<meter_id>/<YYYYMMDDHH>.jsonl`` (the hour of the reading's
own timestamp), and ``iot_spool_sensor`` seals closed hours into raw files (``ingest.iot_spool``).

The spool protocol, shared with that sealer (the API may not import ingest): a writer opens with
O_APPEND, takes ``flock(LOCK_EX)`` and writes its lines in one ``write``; a file whose link count is
0 under the lock was sealed and removed meanwhile, so the writer opens the path again (a new file).
The sealer reads, captures and unlinks under the same lock, so no line is lost between its read
and its unlink.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
from pathlib import Path
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request, Security
from fastapi.security import APIKeyHeader
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictStr,
    ValidationError,
    WithJsonSchema,
    field_validator,
)
from starlette.concurrency import run_in_threadpool

from intelliwatt_pipelines.api import models
from intelliwatt_pipelines.api.auth import secret_matches
from intelliwatt_pipelines.api.errors import ApiError, friendly_validation
from intelliwatt_pipelines.api.relay import read_bounded
from intelliwatt_pipelines.api.routing import NOT_ACCEPTABLE, accepts_json, render

# The Lambda posts one reading (a few hundred bytes); an array of a few thousand is still far below.
MAX_BODY_BYTES = 1 << 20
# A subset of bounds.METER_PATTERN that is also a safe directory name: no "." or ".." (a leading
# alphanumeric), no slash.
METER_ID = r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,39}$"
IOT_KEY_HEADER = APIKeyHeader(name="X-IoT-Key", auto_error=False, scheme_name="IoTKey",
                              description="INTELLIWATT_IOT_KEY, the 1PWR IoT meters' shared secret.")
# JSON numbers only (strict: an integer is a number, "3.01 kWh" is not): the Lambda sends floats (it
# strips the units), and a string would reach the parser as one.
Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]
Text = Annotated[StrictStr, Field(max_length=200)]
# Its type in the payload is not published: "0"/"1" in the S3 copies; numbers and booleans pass too.
RELAY_SCHEMA = {"anyOf": [{"type": "boolean"}, {"type": "integer"}, {"type": "string", "maxLength": 16}],
                "description": "Relay state, e.g. \"1\" or \"0\"."}


def _relay(value: Any) -> Any:
    if isinstance(value, (bool, int)) or (isinstance(value, str) and len(value) <= 16):
        return value
    raise ValueError("should be a boolean, an integer or a short string such as \"1\"")


class MeterReading(BaseModel):
    """One reading as the replaced system's ``POST /api/meters/reading`` took it (acdb-api ``ingest.py``).
    Fields not named here are kept as posted: the spool holds the objects exactly as they came."""

    model_config = ConfigDict(extra="allow")
    meter_id: Annotated[StrictStr, Field(pattern=METER_ID, description="1Meter id, e.g. 23022673 or 000023022673.")]
    thing_name: Text | None = None
    timestamp: Annotated[StrictStr, Field(pattern=r"^[0-9]{12}$", description="YYYYMMDDHHMM, meter-local time.")]
    energy_active: Annotated[Number, Field(description="Cumulative register, kWh.")]
    energy_integrated: Number | None = Field(None, description="Firmware-integrated kWh (resets on reboot).")
    power_active: Annotated[Number, Field(description="W.")]
    voltage: Number
    current: Number
    relay: Annotated[Any, AfterValidator(_relay), WithJsonSchema(RELAY_SCHEMA)]
    frequency: Number
    firmware_version: Text | None = None

    @field_validator("timestamp")
    @classmethod
    def _a_real_minute(cls, value: str) -> str:
        reading_time(value)  # 202602301200 has the right shape but no such day
        return value


class ReadingsAccepted(BaseModel):
    accepted: int = Field(description="Readings spooled.")
    meters: int = Field(description="Distinct meters among them.")
    files: int = Field(description="Meter-hour spool files they went to.")
    corrId: str


def reading_time(stamp: str) -> dt.datetime:
    """``YYYYMMDDHHMM`` as a naive datetime (ValueError for no such minute)."""
    return dt.datetime(int(stamp[:4]), int(stamp[4:6]), int(stamp[6:8]), int(stamp[8:10]), int(stamp[10:12]))


def require_iot_key(request: Request, key: str | None = Security(IOT_KEY_HEADER)) -> None:
    """404 while push ingestion is off (no key configured: the route is as good as absent), 401 for
    a missing or wrong key. Constant-time comparison; the key never reaches a log or a body."""
    secret = request.app.state.settings.iot_key
    if not secret:
        raise ApiError(404, "not_found", "push ingestion is off (INTELLIWATT_IOT_KEY is not set)")
    if not secret_matches(key, [secret]):
        raise ApiError(401, "unauthorized", "this route needs a valid X-IoT-Key header")


def parse_readings(body: bytes, future_days: int, now: dt.datetime) -> list[dict]:
    """The posted objects (one, or a JSON array of them), each checked as a MeterReading; 422 naming
    every bad one. All or nothing: a sender retrying a rejected batch must not duplicate half of it."""
    try:
        posted = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ApiError(422, "invalid_parameter", "body: not JSON (one reading object or an array of them)") from None
    items = posted if isinstance(posted, list) else [posted]
    if not items:
        raise ApiError(422, "invalid_parameter", "body: an empty array (no readings)")
    latest = now + dt.timedelta(days=future_days)
    problems = []
    for i, item in enumerate(items):
        where = f"reading {i}: " if isinstance(posted, list) else ""
        try:
            reading = MeterReading.model_validate(item)
        except ValidationError as error:
            problems.append(where + friendly_validation(error.errors()))
            continue
        # A far-future hour would sit in the spool unsealed until then; the parser would refuse it anyway.
        if reading_time(reading.timestamp) > latest:
            problems.append(where + f"timestamp: more than {future_days} day(s) in the future")
    if problems:
        raise ApiError(422, "invalid_parameter", "; ".join(problems[:20]))
    return items


def spool_lines(readings: list[dict]) -> dict[tuple[str, str], bytes]:
    """(meter_id, YYYYMMDDHH) -> that file's new lines, in posted order."""
    lines: dict[tuple[str, str], list[bytes]] = {}
    for reading in readings:
        lines.setdefault((reading["meter_id"], reading["timestamp"][:10]), []).append(orjson.dumps(reading) + b"\n")
    return {key: b"".join(chunk) for key, chunk in lines.items()}


def append_spool(path: Path, data: bytes) -> None:
    """Append ``data`` (whole lines) to a spool file by the protocol above, and flush it to disk
    before the 202 (as an upload is answered once its bytes are safe)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if os.fstat(fd).st_nlink == 0:
                continue  # sealed and removed while this writer waited: open the path again
            new_file = os.fstat(fd).st_size == 0
            if os.write(fd, data) != len(data):  # a short write (disk full): the sealer drops a torn line
                raise OSError(f"short write to the IoT spool file {path.name}")
            os.fsync(fd)
        finally:
            os.close(fd)  # releases the lock
        if new_file:  # the new directory entry must survive a crash too
            _fsync_dir(path.parent)
        return


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def spool_readings(spool: Path, readings: list[dict]) -> dict:
    files = spool_lines(readings)
    for (meter, hour), data in files.items():
        append_spool(spool / meter / f"{hour}.jsonl", data)
    return {"accepted": len(readings), "meters": len({meter for meter, _ in files}), "files": len(files)}


_READING_SCHEMA = MeterReading.model_json_schema()
READINGS_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "oneOf": [_READING_SCHEMA, {"type": "array", "minItems": 1, "items": _READING_SCHEMA}]}}}}}
ERRORS = {status: {"model": models.Error} for status in (401, 404, 413, 422)}

router = APIRouter(tags=["readings"])


@router.post("/api/v1/readings", status_code=202, response_model=ReadingsAccepted,
             responses={**ERRORS, **NOT_ACCEPTABLE}, openapi_extra=READINGS_BODY,
             dependencies=[Depends(require_iot_key), Depends(accepts_json)])
async def post_readings(request: Request):
    """Take one MeterReading object or a JSON array of them (1PWR's IoT meters, header X-IoT-Key) and
    append each to its meter-hour spool file; 202 with the counts once they are on disk. A bad
    reading rejects the whole request (422) and spools nothing. Closed hours become raw files within
    minutes (iot_spool_sensor) and are normalized from there."""
    settings = request.app.state.settings
    body = await read_bounded(request, MAX_BODY_BYTES)
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    readings = await run_in_threadpool(parse_readings, body, settings.reading_future_days, now)
    counts = await run_in_threadpool(spool_readings, Path(settings.iot_spool), readings)
    return render(counts, request, 202)
