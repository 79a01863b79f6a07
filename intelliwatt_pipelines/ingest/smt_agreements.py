"""The agreement side of the SMT lifecycle (vendor-apis.md §2.2), each call stored (``smt_exchange``):

- ``refresh``: one ``/v2/myagreements/`` call for the whole CSP, every status mapped and upserted, then a
  subscription for agreements that became active;
- ``authorize``: a new agreement for one ESIID (the meter number from ``smt_meter_info`` unless given;
  the REP's PUCT number required), then its subscription when SMT says it is already active;
- ``terminate`` and ``unsubscribe`` for one ESIID (the cancel flow);
- ``refresh_subscriptions``: ``/v2/Mysubscriptions/``, the numbers recorded.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from intelliwatt_pipelines.cdm import smt_authorizations as auths
from intelliwatt_pipelines.cdm.meter_info import meter_number_for
from intelliwatt_pipelines.ingest import contact_email
from intelliwatt_pipelines.ingest.smt_exchange import Caller, SmtStepError
from intelliwatt_pipelines.pii import mask
from intelliwatt_pipelines.vendors.smt import answers, lifecycle
from intelliwatt_pipelines.vendors.smt.client import SmtClient

MONTHS_BACK = {"res": 12, "com": 24}  # history SMT gives a residential / commercial backfill


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _failure(exchange, what: str) -> str:
    """Why a call failed: the 401 mismatch hint when that is the cause, else the HTTP error."""
    hint = answers.mismatch_hint(exchange.response.status, exchange.response.content)
    return hint or f"{what}: {exchange.recorded.error}"


def subscribe(caller: Caller, client: SmtClient, *, now: dt.datetime | None = None) -> dict:
    """NewSubscription for active agreements that have none, one call per history length (a subscription
    serves the CSP's DUNS, so SMT's "already active" is success)."""
    now = now or _now()
    with caller.engine.begin() as conn:
        waiting = auths.needing_subscription(conn)
    by_months: dict[int, list] = {}
    for row in waiting:
        by_months.setdefault(lifecycle.nearest(row.months_back, lifecycle.HISTORICAL_DURATIONS), []).append(row)
    counts = {"subscribed": 0, "subscription_failed": 0}
    for months, rows in sorted(by_months.items()):
        exchange = caller.call("newsubscription", lifecycle.NEW_SUBSCRIPTION_PATH,
                               lambda m=months: client.new_subscription(m))
        outcome = answers.subscription_outcome(exchange.response.status, exchange.response.content)
        exchange.settle(caller.engine, None if outcome.ok else outcome.reason)
        with caller.engine.begin() as conn:
            for row in rows:
                auths.set_subscription(conn, row.id, status=outcome.status, number=outcome.subscription_number,
                                       message=outcome.reason, now=now)
        counts["subscribed" if outcome.ok else "subscription_failed"] += len(rows)
    return counts


def refresh(caller: Caller, client: SmtClient, *, now: dt.datetime | None = None) -> dict:
    """Every agreement's status from one ``/v2/myagreements/`` call; {scanned, updated, inserted,
    unchanged, failed} plus what ``subscribe`` did. Raises SmtStepError when SMT did not answer 2xx."""
    now = now or _now()
    exchange = caller.call("myagreements", lifecycle.MY_AGREEMENTS_PATH, client.my_agreements)
    if exchange.recorded.error:
        raise SmtStepError(_failure(exchange, "the agreements refresh failed"))
    try:
        found = answers.parse_agreements(exchange.response.content)
    except ValueError as exc:
        exchange.settle(caller.engine, str(exc))
        raise SmtStepError(str(exc)) from None
    statuses = [auths.AgreementStatus(a.number, a.esiid, a.status, a.status_text) for a in found
                if a.number is not None]
    with caller.engine.begin() as conn:
        counts = auths.apply_agreements(conn, statuses, now)
    exchange.settle(caller.engine)
    counts["failed"] = counts.get("failed", 0) + len(found) - len(statuses)
    return {**counts, **subscribe(caller, client, now=now)}


@dataclass(frozen=True)
class AuthorizeRequest:
    """What a new agreement needs; ``email_ref`` is ``enc:<token>`` or ``env:<VARIABLE>`` (never the
    e-mail itself, which would be kept in the run's config)."""

    esiid: str
    rep_puct_number: int
    email_ref: str
    meter_number: str = ""
    account_class: str = "res"
    months_back: int | None = None
    allow_tdsp_number: bool = False


def authorize(caller: Caller, client: SmtClient, request: AuthorizeRequest, *, email_key: str,
              now: dt.datetime | None = None) -> dict:
    """NewAgreement for one ESIID, recorded in ``smt_authorization``; the subscription follows when SMT
    reports the agreement active (else the hourly refresh does it once the customer confirms)."""
    now = now or _now()
    with caller.engine.begin() as conn:
        meter = request.meter_number.strip() or meter_number_for(conn, request.esiid)
    meter = lifecycle.checked_meter_number(meter)  # "meter number unknown; run meter info first"
    token = contact_email.token_from_ref(request.email_ref, email_key)
    months_back = request.months_back or MONTHS_BACK[request.account_class]
    with caller.engine.begin() as conn:
        authorization_id = auths.create_authorization(
            conn, esiid=request.esiid, meter_number=meter, rep_puct_number=request.rep_puct_number,
            months_back=months_back, account_class=request.account_class, contact_email_enc=token, now=now)
    exchange = caller.call("newagreement", lifecycle.NEW_AGREEMENT_PATH, lambda: client.new_agreement(
        request.esiid, meter, request.rep_puct_number, contact_email.decrypt(token, email_key),
        months=months_back, allow_tdsp_number=request.allow_tdsp_number), esiid=request.esiid)
    if exchange.recorded.error:
        message = _failure(exchange, f"NewAgreement for {mask(request.esiid)} failed")
        with caller.engine.begin() as conn:
            auths.set_agreement(conn, authorization_id, agreement_number=None, status="ERROR", message=message,
                                now=now)
        raise SmtStepError(message)
    found = [a for a in answers.parse_agreements(exchange.response.content) if a.number is not None]
    agreement = found[0] if found else None
    status = agreement.status if agreement else "ERROR"
    with caller.engine.begin() as conn:
        auths.set_agreement(conn, authorization_id, agreement_number=agreement.number if agreement else None,
                            status=status, message=agreement.status_text if agreement else "no agreement number",
                            now=now)
    exchange.settle(caller.engine, None if agreement else "no agreement number in the answer")
    result = {"authorization_id": authorization_id, "agreement_number": agreement.number if agreement else None,
              "status": status}
    return {**result, **subscribe(caller, client, now=now)} if status == "ACTIVE" else result


def terminate(caller: Caller, client: SmtClient, esiid: str, *, email_key: str,
              now: dt.datetime | None = None) -> dict:
    """Terminateagreement for every active agreement of ``esiid``, each with the e-mail it was made with."""
    now = now or _now()
    with caller.engine.begin() as conn:
        rows = auths.active_for(conn, esiid)
    done, failed = 0, []
    for row in rows:
        if not row.contact_email_enc:
            failed.append(f"agreement {row.smt_agreement_number}: no e-mail stored for it")
            continue
        email = contact_email.decrypt(row.contact_email_enc, email_key)
        exchange = caller.call("terminate", lifecycle.TERMINATE_PATH,
                               lambda r=row, e=email: client.terminate([r.smt_agreement_number], e), esiid=esiid)
        if exchange.recorded.error:
            failed.append(_failure(exchange, f"agreement {row.smt_agreement_number}"))
            continue
        exchange.settle(caller.engine)
        with caller.engine.begin() as conn:
            # EXPIRED archives it; the hourly refresh will read SMT's own words for it
            auths.set_agreement(conn, row.id, agreement_number=row.smt_agreement_number, status="EXPIRED",
                                message="Terminated by CSP (smt_terminate_job)", now=now)
        done += 1
    if failed:
        raise SmtStepError(f"terminate {mask(esiid)}: {done} done, {len(failed)} failed: " + "; ".join(failed))
    return {"terminated": done}


def unsubscribe(caller: Caller, client: SmtClient, esiid: str, *, now: dt.datetime | None = None) -> dict:
    """UnSubscription for the subscriptions recorded on ``esiid``'s active agreements."""
    now = now or _now()
    with caller.engine.begin() as conn:
        rows = [r for r in auths.active_for(conn, esiid) if r.smt_subscription_number]
    for number in sorted({r.smt_subscription_number for r in rows}):
        exchange = caller.call("unsubscribe", lifecycle.UNSUBSCRIBE_PATH,
                               lambda n=number: client.unsubscribe(n), esiid=esiid)
        if exchange.recorded.error:
            raise SmtStepError(_failure(exchange, f"unsubscribe {number}"))
        exchange.settle(caller.engine)
        with caller.engine.begin() as conn:
            for row in (r for r in rows if r.smt_subscription_number == number):
                auths.set_subscription(conn, row.id, status="unsubscribed", number=number, message=None, now=now)
    return {"unsubscribed": len(rows)}


def refresh_subscriptions(caller: Caller, client: SmtClient) -> dict:
    """``/v2/Mysubscriptions/``: the CSP's subscriptions as SMT lists them (the answer is kept; the
    numbers are reported)."""
    exchange = caller.call("mysubscriptions", lifecycle.MY_SUBSCRIPTIONS_PATH, client.my_subscriptions)
    if exchange.recorded.error:
        raise SmtStepError(_failure(exchange, "the subscriptions refresh failed"))
    numbers = sorted({str(n) for n in answers.find_all(exchange.response.json(), answers.SUBSCRIPTION_KEYS)
                      if str(n).strip()})
    exchange.settle(caller.engine)
    return {"subscriptions": len(numbers), "subscription_numbers": ", ".join(numbers[:50])}
