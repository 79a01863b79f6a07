"""When the SMT lifecycle runs (vendor-apis.md §2.4): four schedules on America/Chicago time and the
backfill sensor. Each is behind its feature flag: off, it starts STOPPED and a tick (one forced from the
UI, say) requests nothing and says which flag; on, it starts RUNNING and a tick requests one run.
"""


import datetime as dt
import hashlib
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import dagster as dg

from intelliwatt_pipelines.bounds import CENTRAL_TZ
from intelliwatt_pipelines.cdm import smt_backfills
from intelliwatt_pipelines.cdm.smt_backfills import months_before
from intelliwatt_pipelines.config import Settings
from intelliwatt_pipelines.defs.logs import redacted_errors
from intelliwatt_pipelines.defs.resources import WarehouseResource
from intelliwatt_pipelines.defs.smt_jobs import SMT_ENERGYDATA_JOB
from intelliwatt_pipelines.defs.smt_lifecycle import (
    SMT_AGREEMENTS_JOB,
    SMT_BACKFILL_JOB,
    SMT_GAP_SWEEP_JOB,
    SMT_SUBSCRIPTIONS_JOB,
)


@dataclass(frozen=True)
class Cadence:
    """One schedule: its cron (Chicago time), job, flag (a Settings field and its variable) and purpose."""

    name: str
    cron: str
    job: str
    flag: str
    description: str

    @property
    def flag_env(self) -> str:
        return "INTELLIWATT_" + self.flag.upper()


CADENCES = (
    Cadence("smt_agreement_status_schedule", "0 * * * *", SMT_AGREEMENTS_JOB, "flag_smt_agreements",
            "Hourly: every SMT agreement's status from one /v2/myagreements/ call (asset smt_agreements)."),
    Cadence("smt_subscriptions_schedule", "20 5 * * *", SMT_SUBSCRIPTIONS_JOB, "flag_smt_agreements",
            "Daily 05:20 Central: the CSP's subscriptions from /v2/Mysubscriptions/ (asset smt_subscriptions)."),
    Cadence("smt_monthly_reads_schedule", "0 7 * * *", SMT_ENERGYDATA_JOB, "flag_smt_api",
            "Daily 07:00 Central: monthly reads of the last INTELLIWATT_SMT_MONTHLY_READS_MONTHS months, up to two "
            "days ago, for every ESIID with an active agreement (smt_energydata_fetch_job); identical answers "
            "are one raw file."),
    Cadence("gap_sweep_schedule", "0 8 * * *", SMT_GAP_SWEEP_JOB, "flag_smt_backfill",
            "Daily 08:00 Central: the gap sweep (interval_day_ledger): one backfill request per real gap in the "
            "last INTELLIWATT_SMT_GAP_LOOKBACK_DAYS days before SMT's delivery lag, never twice for a day."),
)


def run_config(cadence: Cadence, settings: Settings, at: dt.datetime) -> dict:
    """The run a tick at ``at`` requests: the monthly pull's window, the sweep's days."""
    if cadence.job == SMT_ENERGYDATA_JOB:
        end = at.astimezone(ZoneInfo(CENTRAL_TZ)).date() - dt.timedelta(days=2)  # SMT's usual delivery lag
        start = months_before(end, settings.smt_monthly_reads_months) + dt.timedelta(days=1)
        return {"ops": {"smt_energydata_fetched": {"config": {
            "active_agreements": True, "start": start.isoformat(), "end": end.isoformat(),
            "include_monthly": True, "include_interval": False}}}}
    if cadence.job == SMT_GAP_SWEEP_JOB:
        return {"ops": {"smt_gaps_swept": {"config": {"lookback_days": settings.smt_gap_lookback_days,
                                                      "lag_days": settings.smt_delivery_lag_days}}}}
    return {}


def build_schedule(cadence: Cadence, settings: Settings) -> dg.ScheduleDefinition:
    enabled = bool(getattr(settings, cadence.flag))

    @dg.schedule(name=cadence.name, cron_schedule=cadence.cron, job_name=cadence.job,
                 execution_timezone=CENTRAL_TZ, description=f"{cadence.description} Needs {cadence.flag_env}=true.",
                 default_status=dg.DefaultScheduleStatus.RUNNING if enabled else dg.DefaultScheduleStatus.STOPPED,
                 tags={"intelliwatt/schedule": cadence.name})
    def smt_schedule(context: dg.ScheduleEvaluationContext):
        if not enabled:
            return dg.SkipReason(f"{cadence.name} disabled by {cadence.flag_env}")
        at = context.scheduled_execution_time or dt.datetime.now(dt.timezone.utc)
        return dg.RunRequest(run_key=f"{cadence.name}:{at.isoformat()}", run_config=run_config(cadence, settings, at))

    return smt_schedule


def build_smt_schedules(settings: Settings) -> list[dg.ScheduleDefinition]:
    return [build_schedule(cadence, settings) for cadence in CADENCES]


BACKFILL_SENSOR_DESCRIPTION = (
    "Every minute: when an SMT agreement has turned active with no history request yet, or an open request is "
    "due its 15-minute report-status poll, launches smt_backfill_job. A request becomes delivered when an "
    "ingested file's coverage spans its window. Needs INTELLIWATT_FLAG_SMT_BACKFILL=true.")


def build_backfill_sensor(settings: Settings) -> dg.SensorDefinition:
    enabled = settings.flag_smt_backfill

    @dg.sensor(name="smt_backfill_sensor", job_name=SMT_BACKFILL_JOB, minimum_interval_seconds=60,
               description=BACKFILL_SENSOR_DESCRIPTION,
               default_status=dg.DefaultSensorStatus.RUNNING if enabled else dg.DefaultSensorStatus.STOPPED)
    @redacted_errors
    def smt_backfill_sensor(context: dg.SensorEvaluationContext, warehouse: WarehouseResource):
        if not enabled:
            return dg.SkipReason("smt_backfill_sensor disabled by INTELLIWATT_FLAG_SMT_BACKFILL")
        now = dt.datetime.now(dt.timezone.utc)
        with warehouse.engine().connect() as conn:
            due = smt_backfills.enrollments_due(conn, now.astimezone(ZoneInfo(CENTRAL_TZ)).date())
            polls = smt_backfills.due_for_poll(conn, now)
        if not due and not polls:
            return dg.SkipReason("no agreement awaits its history request and no request is due a poll")
        work = sorted([f"a{d['authorization_id']}" for d in due] + [f"r{p.id}" for p in polls])
        # The same work within one 15-minute slot is one run, however many ticks see it.
        slot = int(now.timestamp()) // 900
        key = hashlib.sha256(f"{slot}:{','.join(work)}".encode()).hexdigest()[:32]
        return dg.RunRequest(run_key=key, tags={"intelliwatt/agreements_due": str(len(due)),
                                                "intelliwatt/polls_due": str(len(polls))})

    return smt_backfill_sensor
