"""deploy/k8s/values.yaml, the Helm values for the official Dagster chart: the run queue's tag limits are
exactly ours and the same as deploy/celery/dagster.yaml's, no secret is written in it (settings come from
Secrets by reference), and the code location is intelliwatt_pipelines.defs, as in workspace.yaml.
Parsed only: the chart itself is not needed (it is validated against the chart's schema by hand)."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
VALUES = ROOT / "deploy" / "k8s" / "values.yaml"
CELERY_INSTANCE = ROOT / "deploy" / "celery" / "dagster.yaml"
MODULE = "intelliwatt_pipelines.defs"
SETTINGS_SECRET = "intelliwatt-env"

# (key, value, limit): one rebuild per home at a time; one SMT API run (the rate limit is account-wide);
# backfills leave run slots for the deliveries.
EXPECTED_LIMITS = sorted([
    ("intelliwatt/esiid", json.dumps({"applyLimitPerUniqueValue": True}), 1),
    ("intelliwatt/vendor-api", json.dumps("smt"), 1),
    # one Koios and one ThunderCloud run at a time (defs/onepwr.py tags them)
    ("intelliwatt/vendor-api", json.dumps("koios"), 1),
    ("intelliwatt/vendor-api", json.dumps("thundercloud"), 1),
    ("dagster/backfill", json.dumps(None), 4),
])

# Environment variable names that hold secrets (or URLs that may embed credentials).
SENSITIVE_ENV = re.compile(r"(_URL$|PASSWORD|PASSPHRASE|TOKEN|KEY|SECRET|SALT)", re.IGNORECASE)
# Keys of the values whose value would be a secret; *SecretName keys name a Secret object instead.
SENSITIVE_KEY = re.compile(r"(password|passwd|passphrase|token|secret|api_?key)", re.IGNORECASE)
URL_WITH_CREDENTIALS = re.compile(r"[a-z][a-z0-9+.-]*://[^/\s@:]*:[^/\s@]+@", re.IGNORECASE)
PASSWORD_ASSIGNMENT = re.compile(r"password\s*=", re.IGNORECASE)


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def canonical(limits: list[dict]) -> list[tuple[str, str, int]]:
    """Tag limits as sorted (key, value as JSON, limit): order-free; an unknown field or a limit that is
    not an integer fails, so a typo cannot pass as a different but equal-looking limit."""
    out = []
    for item in limits:
        assert set(item) <= {"key", "value", "limit"}, f"unexpected fields in {item}"
        assert type(item["limit"]) is int, f"limit must be an integer: {item}"
        out.append((item["key"], json.dumps(item.get("value"), sort_keys=True), item["limit"]))
    return sorted(out)


def k8s_limits(values: dict) -> list[dict]:
    coordinator = values["dagsterDaemon"]["runCoordinator"]
    assert coordinator["enabled"] is True and coordinator["type"] == "QueuedRunCoordinator"
    return coordinator["config"]["queuedRunCoordinator"]["tagConcurrencyLimits"]


def walk(node, path: str = ""):
    """Every (path, key, scalar value) of a YAML document; key is the last mapping key above."""
    if isinstance(node, dict):
        for k, v in node.items():
            if isinstance(v, (dict, list)):
                yield from walk(v, f"{path}/{k}")
            else:
                yield f"{path}/{k}", str(k), v
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk(v, f"{path}[{i}]") if isinstance(v, (dict, list)) else [(f"{path}[{i}]", "", v)]


def env_problems(node, path: str = "") -> list[str]:
    """Sensitive environment variables given as literals: `env` as a mapping or as a list of
    {name, value}, and k8sRunLauncher's `envVars` ("NAME=value")."""
    problems = []
    if isinstance(node, dict):
        for k, v in node.items():
            here = f"{path}/{k}"
            if k == "env" and isinstance(v, dict):
                problems += [f"{here}/{n}" for n in v if SENSITIVE_ENV.search(str(n))]
            elif k == "env" and isinstance(v, list):
                problems += [f"{here}/{e.get('name')}" for e in v if SENSITIVE_ENV.search(str(e.get("name")))
                             and ("value" in e or "secretKeyRef" not in (e.get("valueFrom") or {}))]
            elif k == "envVars" and isinstance(v, list):
                problems += [f"{here}/{e}" for e in v if "=" in str(e) and SENSITIVE_ENV.search(str(e).split("=")[0])]
            problems += env_problems(v, here)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            problems += env_problems(v, f"{path}[{i}]")
    return problems


def secret_problems(doc) -> list[str]:
    """Where a document holds something that looks like a literal secret."""
    problems = env_problems(doc)
    for path, key, value in walk(doc):
        if not isinstance(value, str) or not value:
            continue
        if URL_WITH_CREDENTIALS.search(value) or PASSWORD_ASSIGNMENT.search(value):
            problems.append(f"{path}: credentials in {value!r}")
        elif SENSITIVE_KEY.search(key) and not key.lower().endswith("secretname"):
            problems.append(f"{path}: literal value for {key}")
    return problems


def test_tag_concurrency_limits_are_exactly_ours():
    assert canonical(k8s_limits(load(VALUES))) == EXPECTED_LIMITS


def test_the_comparison_catches_a_changed_limit():
    changed = [dict(item) for item in k8s_limits(load(VALUES))]
    changed[0]["limit"] += 1
    assert canonical(changed) != EXPECTED_LIMITS
    with pytest.raises(AssertionError):
        canonical([{"key": "dagster/backfill", "limit": "4"}])


def test_the_celery_deployment_declares_the_same_limits():
    """deploy/celery/dagster.yaml (Dagster's instance format: tag_concurrency_limits) and the chart's
    values (tagConcurrencyLimits) must not drift: the same runs wait in both deployments."""
    celery = load(CELERY_INSTANCE)["run_coordinator"]
    assert celery["class"] == "QueuedRunCoordinator"
    assert canonical(celery["config"]["tag_concurrency_limits"]) == canonical(k8s_limits(load(VALUES)))


def test_no_literal_secret_and_settings_come_from_the_secret():
    values = load(VALUES)
    assert secret_problems(values) == []
    postgresql = values["postgresql"]
    assert postgresql["enabled"] is False and postgresql["postgresqlPassword"] == ""
    assert values["generatePostgresqlPasswordSecret"] is False and values["global"]["postgresqlSecretName"]
    launcher = values["runLauncher"]
    launcher_config = launcher["config"][launcher["type"][0].lower() + launcher["type"][1:]]
    if launcher["type"] == "CeleryK8sRunLauncher":
        assert values["generateCeleryConfigSecret"] is False, "broker URLs belong in a Secret, not the values"
    for deployment in values["dagster-user-deployments"]["deployments"]:
        assert {"name": SETTINGS_SECRET} in deployment["envSecrets"], deployment["name"]
    assert {"name": SETTINGS_SECRET} in launcher_config["envSecrets"]


@pytest.mark.parametrize("doc", [
    {"postgresql": {"postgresqlPassword": "hunter2"}},
    {"redis": {"brokerUrl": "redis://:hunter2@redis:6379/0"}},
    {"x": {"env": {"INTELLIWATT_WAREHOUSE_URL": "postgresql://app@db/warehouse"}}},
    {"x": {"env": [{"name": "INTELLIWATT_SMT_PASSWORD", "value": "hunter2"}]}},
    {"x": {"env": [{"name": "INTELLIWATT_SMT_PROXY_TOKEN", "valueFrom": {"configMapKeyRef": {"name": "c"}}}]}},
    {"x": {"envVars": ["INTELLIWATT_SMT_EMAIL_KEY=abc"]}},
    {"x": {"args": ["--dsn", "host=db password=hunter2"]}},
])
def test_the_secret_check_finds_literals(doc):
    assert secret_problems(doc)


def test_env_from_a_secret_key_passes():
    doc = {"env": [{"name": "INTELLIWATT_SMT_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}],
           "global": {"postgresqlSecretName": "intelliwatt-dagster-postgresql"}}
    assert secret_problems(doc) == []


def test_the_code_location_is_the_workspace_module():
    deployments = load(VALUES)["dagster-user-deployments"]["deployments"]
    assert deployments
    workspace = [entry["python_module"]["module_name"] for entry in load(ROOT / "workspace.yaml")["load_from"]]
    assert workspace == [MODULE]
    for deployment in deployments:
        args = deployment["dagsterApiGrpcArgs"]
        modules = [args[i + 1] for i, arg in enumerate(args[:-1]) if arg in ("-m", "--module-name")]
        assert modules == [MODULE], args
    assert importlib.util.find_spec(MODULE) is not None
