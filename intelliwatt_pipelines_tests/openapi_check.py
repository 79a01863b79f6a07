"""Every JSON response a test client gets must match what the app's /openapi.json declares.

conftest's autouse ``openapi_checked_clients`` wraps ``TestClient.send``: each JSON response of a
documented operation is validated against the schema declared for its path, method and status (a
status the operation does not declare is a mismatch too), and a mismatch fails the test at the
request. Responses of undocumented paths (/docs, /openapi.json, unknown URLs) and non-JSON bodies
are not checked: the document says nothing about them.
"""

from __future__ import annotations

from functools import lru_cache

import httpx
import jsonschema
import orjson
import referencing
import referencing.jsonschema
from starlette.routing import Match

SPEC_URI = "urn:intelliwatt:openapi"


class ResponseMismatch(AssertionError):
    """A response the OpenAPI document does not describe."""


@lru_cache(maxsize=64)
def _registry(spec_json: bytes) -> referencing.Registry:
    resource = referencing.Resource.from_contents(orjson.loads(spec_json),
                                                  default_specification=referencing.jsonschema.DRAFT202012)
    return referencing.Registry().with_resource(SPEC_URI, resource)


def _pointer(*parts: str) -> str:
    return "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


def _template(app, method: str, path: str) -> str | None:
    """The documented path template ("/api/v1/esiids/{esiid}/intervals") a request was routed to."""
    scope = {"type": "http", "path": path, "method": method, "root_path": ""}
    for route in getattr(app, "routes", []):
        documented = getattr(route, "include_in_schema", False) and hasattr(route, "path_format")
        if documented and route.matches(scope)[0] == Match.FULL:
            return route.path_format
    return None


def schema_errors(spec: dict, method: str, template: str, status: int, body) -> list[str]:
    """What is wrong with ``body`` as the ``status`` response of ``method template`` (empty: nothing)."""
    responses = spec["paths"][template][method.lower()]["responses"]
    key = str(status) if str(status) in responses else f"{str(status)[0]}XX" if f"{str(status)[0]}XX" in responses \
        else "default" if "default" in responses else None
    if key is None:
        return [f"status {status} is not documented (documented: {', '.join(sorted(responses))})"]
    content = responses[key].get("content") or {}
    if "application/json" not in content:
        return [f"status {status} documents no JSON body (documented: {', '.join(sorted(content)) or 'none'})"]
    if "schema" not in content["application/json"]:
        return []
    registry = _registry(orjson.dumps(spec, option=orjson.OPT_SORT_KEYS))
    where = _pointer("paths", template, method.lower(), "responses", key, "content", "application/json", "schema")
    schema = {"$ref": f"{SPEC_URI}#/{where}"}
    validator = jsonschema.Draft202012Validator(schema, registry=registry,
                                                format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    return [f"{'/'.join(map(str, e.absolute_path)) or '(body)'}: {e.message[:300]}"
            for e in sorted(validator.iter_errors(body), key=lambda e: list(map(str, e.absolute_path)))[:10]]


def check(app, request: httpx.Request, response: httpx.Response) -> None:
    """Raise ResponseMismatch if ``response`` is JSON from a documented operation and does not match."""
    if response.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        return
    method, path = request.method, request.url.path
    template = _template(app, method, path)
    spec = app.openapi() if template else None
    if not spec or template not in spec.get("paths", {}) or method.lower() not in spec["paths"][template]:
        return
    errors = schema_errors(spec, method, template, response.status_code, orjson.loads(response.content))
    if errors:
        raise ResponseMismatch(f"{method} {path} -> {response.status_code} does not match the OpenAPI document "
                               f"({template}):\n  " + "\n  ".join(errors) + f"\nbody: {response.text[:500]}")
