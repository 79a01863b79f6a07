"""The README's configuration table, rendered from the settings' fields (``python -m
intelliwatt_pipelines.config --markdown``; a test compares it with the README)."""

from __future__ import annotations

from intelliwatt_pipelines.config import FIELDS, env_name, expects
from intelliwatt_pipelines.config.values import UnderHome


def _shown_default(info) -> str:
    extra = info.json_schema_extra or {}
    if "shown" in extra:
        return extra["shown"]
    if isinstance(info.default_factory, UnderHome):
        return f"`{info.default_factory.template}`"
    default = info.default
    if default in ("", ()):
        return "—"
    text = str(default).lower() if isinstance(default, bool) else default
    return f"`{text:g}`" if isinstance(text, float) else f"`{text}`"


def markdown_table() -> str:
    """The README's configuration table, one row per field."""
    rows = ["| variable | default | accepts | meaning |", "|---|---|---|---|"]
    rows += [f"| `{env_name(name)}` | {_shown_default(info)} | {expects(name)} | {info.description} |"
             for name, info in FIELDS.items()]
    return "\n".join(rows) + "\n"
