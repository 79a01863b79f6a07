"""The ThunderCloud v0 client (vendor-apis.md §3.1 3-4): the customers snapshot
(``GET /api/v0/customers?customers_only=true&reading_details=true``) and the history files
(``GET /history/list.json``, then ``GET /history/download/{filename}``), each with the
``Authentication-Token`` header. Every answer, whatever its status, is handed to ``keep(filename, bytes)``
(the raw store) before anything reads it; a non-2xx answer then raises ``ThunderCloudError``."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from urllib.parse import quote

import httpx

from intelliwatt_pipelines.vendors.thundercloud.answers import CUSTOMERS_PARAMS, CUSTOMERS_PATH, TOKEN_HEADER

HISTORY_LIST_PATH = "/history/list.json"
HISTORY_DOWNLOAD_PATH = "/history/download/{filename}"
# A listed name becomes part of a URL path and of a raw file's name: a plain file name only.
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,200}")

_ERROR_NAME = re.compile(r"_http[0-9]{3}(\.[^.]*)?$")

Keep = Callable[[str, bytes], None]


class ThunderCloudError(RuntimeError):
    """A non-2xx answer (already kept), or a history list that is not one."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


def history_names(body: bytes) -> list[str]:
    """The file names of ``/history/list.json``. Its shape is not documented publicly: a list of names,
    a list of objects with ``filename``/``name``/``file``, or either under ``files``. Names that are not
    plain file names are dropped (they would reach a URL path)."""
    try:
        doc = json.loads(body)
    except ValueError as exc:
        raise ThunderCloudError(f"history list is not JSON ({exc})") from None
    items = doc.get("files", doc.get("data")) if isinstance(doc, dict) else doc
    if not isinstance(items, list):
        raise ThunderCloudError("history list holds no list of files")
    names = [item if isinstance(item, str) else next(
        (item[k] for k in ("filename", "name", "file") if isinstance(item, dict) and isinstance(item.get(k), str)),
        None) for item in items]
    return sorted({n for n in names if n and _SAFE_NAME.fullmatch(n) and ".." not in n})


def error_name(filename: str, status: int) -> str:
    """``a.json`` -> ``a_http429.json``: an error answer is kept under a name that says so, so nothing
    takes it for a good answer of its kind."""
    stem, dot, ext = filename.rpartition(".")
    return f"{stem}_http{status}.{ext}" if dot else f"{filename}_http{status}"


def is_error_name(filename: str) -> bool:
    return bool(_ERROR_NAME.search(filename))


def _stamp(at: dt.datetime) -> str:
    return at.astimezone(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


class ThunderCloudClient:
    def __init__(self, base_url: str, token: str, http: httpx.Client | None = None, *, timeout_s: float = 60.0,
                 now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.timezone.utc)):
        self.base_url = base_url.rstrip("/")
        self._token, self._now = token, now
        self._own = http is None
        self._http = http or httpx.Client(timeout=timeout_s)

    def _get(self, path: str, filename: str, keep: Keep, params: dict | None = None) -> bytes:
        response = self._http.get(self.base_url + path, params=params, headers={TOKEN_HEADER: self._token})
        ok = response.is_success
        # An error answer is kept under a name that says so, so nothing takes it for a snapshot.
        keep(filename if ok else error_name(filename, response.status_code), response.content)
        if not ok:
            raise ThunderCloudError(f"ThunderCloud {path.split('?')[0]} answered HTTP {response.status_code}",
                                    response.status_code)
        return response.content

    def customers(self, keep: Keep) -> bytes:
        """The customers snapshot, kept as ``thundercloud_customers_<UTC stamp>.json``."""
        return self._get(CUSTOMERS_PATH, f"thundercloud_customers_{_stamp(self._now())}.json", keep, CUSTOMERS_PARAMS)

    def history_list(self, keep: Keep) -> list[str]:
        """The history files ThunderCloud offers; the list is kept as ``thundercloud_history_list_<stamp>.json``."""
        return history_names(self._get(HISTORY_LIST_PATH, f"thundercloud_history_list_{_stamp(self._now())}.json",
                                       keep))

    def history_file(self, name: str, keep: Keep) -> bytes:
        """One history file (daily parquet), kept as ``thundercloud_history_<name>``."""
        if not _SAFE_NAME.fullmatch(name) or ".." in name:
            raise ThunderCloudError("not a plain history file name")
        return self._get(HISTORY_DOWNLOAD_PATH.format(filename=quote(name, safe="")),
                         history_raw_name(name), keep)

    def close(self) -> None:
        if self._own:
            self._http.close()

    def __enter__(self) -> ThunderCloudClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def history_raw_name(name: str) -> str:
    """The raw file name a downloaded history file is kept under."""
    return f"thundercloud_history_{name}"
