"""The Smart Meter Texas API as a Dagster resource: a thin holder of the settings that builds the client
(vendors/smt). In the Definitions as ``smt_api`` (off by default); smt_jobs uses it."""

from __future__ import annotations

import os

import dagster as dg
import httpx

from intelliwatt_pipelines.config import Settings
from intelliwatt_pipelines.vendors.smt.client import SmtApiConfig, SmtClient

PASSWORD_ENV = "INTELLIWATT_SMT_PASSWORD"
PROXY_TOKEN_ENV = "INTELLIWATT_SMT_PROXY_TOKEN"


class SmtApiResource(dg.ConfigurableResource):
    """SMT REST API (``INTELLIWATT_SMT_*``). The password and proxy token are only ever ``EnvVar``s, so
    the UI never shows them; ``enabled`` false (the default) makes every use fail, naming the flag."""

    enabled: bool = False
    base_url: str = "https://services.smartmetertexas.net"
    username: str = ""
    password: str = ""
    requestor_auth_id: str = ""
    service_id: str = ""
    proxy_url: str = ""
    proxy_token: str = ""
    timeout_s: float = 60.0
    attempts: int = 3

    def client(self, http: httpx.Client | None = None) -> SmtClient:
        """A client on ``http`` (a new ``httpx.Client`` when None); tokens are shared by every client of
        the process, so one run asks for one token however many clients it builds."""
        if not self.enabled:
            raise dg.Failure("The SMT API is off: set INTELLIWATT_SMT_API_ENABLED=true")
        try:
            config = SmtApiConfig(
                base_url=self.base_url, username=self.username, password=self.password,
                requestor_auth_id=self.requestor_auth_id, service_id=self.service_id, proxy_url=self.proxy_url,
                proxy_token=self.proxy_token, timeout_s=self.timeout_s, attempts=self.attempts)
        except ValueError as error:
            raise dg.Failure(str(error)) from None
        return SmtClient(config, http)


def _env_secret(name: str):
    """A secret as an EnvVar when set (never a literal the UI could show); empty when unset."""
    return dg.EnvVar(name) if os.environ.get(name, "").strip() else ""


def smt_api_resource(settings: Settings) -> SmtApiResource:
    """The resource from the settings, secrets read from the environment by Dagster."""
    return SmtApiResource(
        enabled=settings.smt_api_enabled, base_url=settings.smt_api_base_url, username=settings.smt_username,
        password=_env_secret(PASSWORD_ENV), requestor_auth_id=settings.smt_requestor_auth_id,
        service_id=settings.smt_service_id, proxy_url=settings.smt_proxy_url,
        proxy_token=_env_secret(PROXY_TOKEN_ENV), timeout_s=settings.smt_timeout_s)
