"""The run queue's limits (deploy/celery/dagster.yaml) and the tags the jobs carry for them."""

import dataclasses
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_job_calling_smt_carries_the_tag_the_run_queue_limits(settings):
    """The run queue's SMT cap (deploy/celery/dagster.yaml) only holds if every SMT API job is tagged."""
    import yaml

    from intelliwatt_pipelines.defs.definitions import build_defs
    from intelliwatt_pipelines.defs.smt import SMT_API_TAGS

    limits = yaml.safe_load((ROOT / "deploy" / "celery" / "dagster.yaml").read_text())["run_coordinator"]["config"]
    (key, value), = SMT_API_TAGS.items()
    assert {"key": key, "value": value, "limit": 1} in limits["tag_concurrency_limits"]
    jobs = {job.name: job for job in build_defs(settings).resolve_all_job_defs()}
    # (not Dagster's implicit job of UI materializations, which no definition can tag)
    smt_jobs = {name for name, job in jobs.items() if "smt_api" in job.required_resource_keys
                and not name.startswith("__")}
    assert {"smt_energydata_fetch_job", "smt_agreements_job", "smt_backfill_job"} <= smt_jobs
    assert {name for name in smt_jobs if jobs[name].tags.get(key) != value} == set()


def test_the_1pwr_jobs_carry_the_tags_their_one_at_a_time_limits_match(settings):
    """Koios (a daily request budget per organization) and an on-site ThunderCloud: one run each at a time, in
    both deployments' run queues, and every job using their resource carries the tag."""
    import yaml

    from intelliwatt_pipelines.defs.definitions import build_defs
    from intelliwatt_pipelines.defs.onepwr import KOIOS_JOB, THUNDERCLOUD_JOB

    celery = yaml.safe_load((ROOT / "deploy" / "celery" / "dagster.yaml").read_text())["run_coordinator"]["config"]
    k8s = yaml.safe_load((ROOT / "deploy" / "k8s" / "values.yaml").read_text())["dagsterDaemon"]["runCoordinator"]
    k8s_limits = k8s["config"]["queuedRunCoordinator"]["tagConcurrencyLimits"]
    lesotho = dataclasses.replace(settings, market="lesotho")  # the 1PWR jobs exist in its markets only
    jobs = {job.name: job for job in build_defs(lesotho).resolve_all_job_defs()}
    assert KOIOS_JOB not in {job.name for job in build_defs(settings).resolve_all_job_defs()}  # Texas: none
    for resource, job_name in (("koios", KOIOS_JOB), ("thundercloud", THUNDERCLOUD_JOB)):
        limit = {"key": "intelliwatt/vendor-api", "value": resource, "limit": 1}
        assert limit in celery["tag_concurrency_limits"] and limit in k8s_limits
        using = {name for name, job in jobs.items() if resource in job.required_resource_keys
                 and not name.startswith("__")}
        assert job_name in using
        assert {name for name in using if jobs[name].tags.get("intelliwatt/vendor-api") != resource} == set()
