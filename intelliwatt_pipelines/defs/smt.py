"""The Smart Meter Texas API as a Dagster resource: a thin holder of the settings that builds the client
(vendors/smt). In the Definitions as ``smt_api`` (off by default); smt_jobs uses it."""

from __future__ import annotations

import os

import dagster as dg
import httpx

from intelliwatt_pipelines.config import Settings
from intelliwatt_pipelines.vendors.smt.client import SmtApiConfig, SmtClient

# On every job that calls SMT's API: the run queue's limit on this tag (deploy/celery/dagster.yaml,
# deploy/k8s/values.yaml) keeps those runs to one at a time, as SMT limits calls per account.
SMT_API_TAGS = {"intelliwatt/vendor-api": "smt"}
PASSWORD_ENV = "INTELLIWATT_SMT_PASSWORD"
PROXY_TOKEN_ENV = "INTELLIWATT_SMT_PROXY_TOKEN"
EMAIL_KEY_ENV = "INTELLIWATT_SMT_EMAIL_KEY"
# feature -> (its flag field, what a failure says): each SMT job and asset is behind one (§2.4)
FEATURES = {"api": ("enabled", "SMT API", "INTELLIWATT_FLAG_SMT_API"),
            "agreements": ("agreements_enabled", "SMT agreements", "INTELLIWATT_FLAG_SMT_AGREEMENTS"),
            "backfill": ("backfill_enabled", "SMT backfills", "INTELLIWATT_FLAG_SMT_BACKFILL")}


class SmtApiResource(dg.ConfigurableResource):
    """SMT REST API (``INTELLIWATT_SMT_*``). The password, proxy token and e-mail key are only ever
    ``EnvVar``s, so the UI never shows them; a feature whose flag is off (the default) fails every use,
    naming the flag."""

    enabled: bool = False
    agreements_enabled: bool = False
    backfill_enabled: bool = False
    email_key: str = ""
    base_url: str = "https://services.smartmetertexas.net"
    username: str = ""
    password: str = ""
    requestor_auth_id: str = ""
    service_id: str = ""
    proxy_url: str = ""
    proxy_token: str = ""
    timeout_s: float = 60.0
    attempts: int = 3

    def client(self, http: httpx.Client | None = None, *, feature: str = "api") -> SmtClient:
        """A client for ``feature`` (api, agreements, backfill) on ``http`` (a new ``httpx.Client`` when
        None); tokens are shared by every client of the process, so one run asks for one token however
        many clients it builds."""
        field, name, flag = FEATURES[feature]
        if not getattr(self, field):
            raise dg.Failure(f"{name} disabled by {flag} (set it to true)")
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
        enabled=settings.flag_smt_api, agreements_enabled=settings.flag_smt_agreements,
        backfill_enabled=settings.flag_smt_backfill, email_key=_env_secret(EMAIL_KEY_ENV), base_url=settings.smt_api_base_url, username=settings.smt_username,
        password=_env_secret(PASSWORD_ENV), requestor_auth_id=settings.smt_requestor_auth_id,
        service_id=settings.smt_service_id, proxy_url=settings.smt_proxy_url,
        proxy_token=_env_secret(PROXY_TOKEN_ENV), timeout_s=settings.smt_timeout_s)
