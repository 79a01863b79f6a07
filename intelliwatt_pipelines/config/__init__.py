"""Settings: one typed model of every variable the package reads, with type, default, bounds and meaning.

Every setting is an environment variable; nothing secret lives in code. The defaults put the
SQLite warehouse, the raw store, the inbox and the Dagster home under ``INTELLIWATT_HOME``
(``./.intelliwatt``) so a fresh checkout runs with no configuration at all. An empty variable
means its default. A bad value fails at start with ``SettingsError``, one line per variable naming
it and what it expects; the README's configuration table is rendered from the same fields
(``python -m intelliwatt_pipelines.config --markdown``).

``Settings`` is a pydantic dataclass, so code and tests derive variants with ``dataclasses.replace``
(validated like the environment); pydantic-settings reads the environment. The value types (what
each kind of variable accepts) are in ``config.values``, the README table's rendering in ``config.table``.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

from annotated_types import Ge, Gt, Le
from pydantic import ConfigDict, Field, TypeAdapter, ValidationError, create_model
from pydantic.dataclasses import dataclass
from pydantic_settings import BaseSettings, SettingsConfigDict

from intelliwatt_pipelines import bounds
from intelliwatt_pipelines.config.core import DEFAULT_SOURCE_PRECEDENCE, CoreSettings
from intelliwatt_pipelines.config.values import Expects
from intelliwatt_pipelines.config.vendors import FLAGS, VendorSettings

__all__ = ["CENTRAL_TZ", "DEFAULT_SOURCE_PRECEDENCE", "FLAGS", "CoreSettings", "Settings", "SettingsError",
           "current", "env_name", "expects", "flags"]

CENTRAL_TZ = bounds.CENTRAL_TZ  # stated once, in bounds; kept here for its importers
PREFIX = "INTELLIWATT_"


class SettingsError(ValueError):
    """Bad settings: one line per variable, naming it and what it expects."""


@dataclass(frozen=True, config=ConfigDict(validate_default=True, extra="forbid"))
class Settings(VendorSettings):
    """Every setting: the platform's own (``config.core``), then the vendors' and the flags (``config.vendors``)."""

    @classmethod
    def from_env(cls) -> Settings:
        """The settings from the environment; SettingsError names every bad variable."""
        raw = _Environment().model_dump(exclude_none=True)
        given = {name: value.strip() for name, value in raw.items() if value.strip()}
        try:
            return cls(**given)
        except ValidationError as error:
            raise SettingsError(_lines(error, given)) from None


FIELDS = Settings.__pydantic_fields__


def env_name(name: str) -> str:
    """The environment variable of a field."""
    return (FIELDS[name].json_schema_extra or {}).get("env", PREFIX + name.upper())


def expects(name: str) -> str:
    """What a field's value must look like, in words."""
    info = FIELDS[name]
    words = next((m.text for m in info.metadata if isinstance(m, Expects)), None)
    if words:
        return words
    if get_origin(info.annotation) is Literal:
        return "one of " + ", ".join(get_args(info.annotation))
    noun = {int: "an integer", float: "a number", Path: "a path"}.get(info.annotation, "text")
    low = next((f"{m.ge:g}" for m in info.metadata if isinstance(m, Ge)), None)
    above = next((f"{m.gt:g}" for m in info.metadata if isinstance(m, Gt)), None)
    high = next((f"{m.le:g}" for m in info.metadata if isinstance(m, Le)), None)
    if low is not None and high is not None:
        return f"{noun} between {low} and {high}"
    if low is not None:
        return f"{noun} of at least {low}"
    return f"{noun} above {above}" if above is not None else noun


def _secret(name: str) -> bool:
    return bool((FIELDS[name].json_schema_extra or {}).get("secret"))


def _lines(error: ValidationError, given: dict[str, str], field: str | None = None) -> str:
    """One line per bad field; ``field`` when the error is of that one field's value alone."""
    lines: dict[str, str] = {}
    for item in error.errors():
        name = field or str(item["loc"][0])
        if item["type"] == "default_factory_not_called":
            continue  # a consequence of another field's error, reported on its own line
        value = "" if _secret(name) else f"={str(given.get(name, item.get('input')))[:80]!r}"
        lines.setdefault(name, f"bad setting {env_name(name)}{value}: expected {expects(name)}")
    return "\n".join(lines.values())


class _EnvironmentBase(BaseSettings):
    # Case-sensitive like os.environ; an empty variable means the default.
    model_config = SettingsConfigDict(case_sensitive=True, env_ignore_empty=True, extra="ignore")


# Every field's variable as raw text: pydantic-settings reads the environment, Settings validates.
_Environment = create_model("_Environment", __base__=_EnvironmentBase, **{
    name: (str | None, Field(None, validation_alias=env_name(name))) for name in FIELDS})


@cache
def _adapter(name: str) -> TypeAdapter:
    info = FIELDS[name]
    return TypeAdapter(Annotated[info.annotation, *info.metadata] if info.metadata else info.annotation)


def current(name: str) -> Any:
    """One setting as the environment has it now, validated by its field: for code that holds no
    Settings (log masking, a raw store opened inside a Dagster resource). Fields with a plain default."""
    value = os.environ.get(env_name(name), "").strip()
    try:
        return _adapter(name).validate_python(value or FIELDS[name].default)
    except ValidationError as error:
        raise SettingsError(_lines(error, {name: value}, name)) from None


def flags(settings: Settings) -> dict[str, bool]:
    """Each feature flag by its variable name, as ``settings`` has it."""
    return {env_name(name): getattr(settings, name) for name in FLAGS}
