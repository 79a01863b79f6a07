"""ERCOT MIS requests and the document list's parse (vendor-apis.md §2.6). Pure."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

BASE_URL = "https://www.ercot.com"
REPORT_TYPE_ID = "203"  # TDSP ESI ID EXTRACT
DOC_LIST_PATH = "/misapp/servlets/IceDocListJsonWS"
DOWNLOAD_PATH = "/misdownload/servlets/mirDownload"


@dataclass(frozen=True)
class MisDocument:
    """One entry of the document list."""

    doc_id: str
    constructed_name: str
    friendly_name: str
    publish_date: dt.datetime  # aware, as ERCOT gives it (Central time offset)
    content_size: int | None


def doc_list_url(base_url: str) -> tuple[str, dict[str, str]]:
    return base_url.rstrip("/") + DOC_LIST_PATH, {"reportTypeId": REPORT_TYPE_ID}


def download_url(base_url: str, doc_id: str) -> tuple[str, dict[str, str]]:
    if not doc_id.isdigit():
        raise ValueError("an ERCOT DocID is digits only")
    return base_url.rstrip("/") + DOWNLOAD_PATH, {"doclookupId": doc_id}


def _publish_date(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise ValueError(f"PublishDate without an offset: {text!r}")
    return value


def _size(text) -> int | None:
    try:
        return int(text)
    except (TypeError, ValueError):
        return None


def parse_doc_list(content: bytes | str) -> list[MisDocument]:
    """``{"ListDocsByRptTypeRes":{"DocumentList":[{"Document":{…}}, …]}}`` -> documents (an empty or
    missing list -> none). Entries without a DocID, names or PublishDate are skipped."""
    data = json.loads(content)
    entries = ((data or {}).get("ListDocsByRptTypeRes") or {}).get("DocumentList") or []
    if isinstance(entries, dict):  # a one-document list may come as the object itself
        entries = [entries]
    documents = []
    for entry in entries:
        d = (entry or {}).get("Document") or {}
        if not all(d.get(k) for k in ("DocID", "ConstructedName", "FriendlyName", "PublishDate")):
            continue
        documents.append(MisDocument(doc_id=str(d["DocID"]), constructed_name=d["ConstructedName"],
                                     friendly_name=d["FriendlyName"], publish_date=_publish_date(d["PublishDate"]),
                                     content_size=_size(d.get("ContentSize"))))
    return documents
