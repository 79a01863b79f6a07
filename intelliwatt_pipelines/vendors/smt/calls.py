"""The SMT agreement, subscription, backfill, report-status and meterInfo calls (vendor-apis.md §2.2,
§2.3) as methods ``SmtClient`` inherits. Bodies come from ``lifecycle``; each call returns the
``SmtResponse`` untouched (read it with ``answers``), so the caller can store the bytes.

Calls that create or change something at SMT (NewAgreement, NewSubscription, Terminateagreement,
UnSubscription, 15minintervalreads) are sent once (``retry=False``): after a timeout or a 5xx the
request may have been executed, and a repeat could open a second agreement or backfill. Log lines name
ESIIDs by their mask only, and never the customer's e-mail.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from typing import Any

from intelliwatt_pipelines.pii import mask
from intelliwatt_pipelines.vendors.smt import lifecycle as lc
from intelliwatt_pipelines.vendors.smt.requests import SmtResponse, new_trans_id

log = logging.getLogger("intelliwatt.smt")


class SmtLifecycleCalls:
    """Mixed into ``SmtClient``: needs its ``config`` (requestor_id, requestor_auth_id) and ``post``."""

    config: Any

    def post(self, path: str, body: dict[str, Any], *, retry: bool = True) -> SmtResponse:  # pragma: no cover
        raise NotImplementedError

    def _ids(self, prefix: str) -> dict[str, str]:
        return {"trans_id": new_trans_id(prefix), "requestor_id": self.config.requestor_id,
                "requestor_auth_id": self.config.requestor_auth_id}

    def new_agreement(self, esiid: str, meter_number: str | None, rep_puct_number: int, email: str,
                      months: int = 12, *, language: str = "ENGLISH", allow_tdsp_number: bool = False) -> SmtResponse:
        """``/v2/NewAgreement/`` for one ESIID's meter; sent once."""
        body = lc.new_agreement_body(**self._ids("NA"), esiid=esiid, meter_number=meter_number,
                                     rep_puct_number=rep_puct_number, email=email, months=months, language=language,
                                     allow_tdsp_number=allow_tdsp_number)
        log.info("SMT NewAgreement %s for %s, %d months", body["trans_id"], mask(esiid), body["agreementDuration"])
        return self.post(lc.NEW_AGREEMENT_PATH, body, retry=False)

    def new_subscription(self, historical_months: int, *, subscription_type: str = "CSPENROLL",
                         report_format: str = "CSV", data_type: str = "INTERVAL",
                         delivery_mode: str = "FTP") -> SmtResponse:
        """``/v2/NewSubscription/`` for the CSP; sent once. Read it with ``answers.subscription_outcome``."""
        body = lc.new_subscription_body(**self._ids("NS"), historical_months=historical_months,
                                        subscription_type=subscription_type, report_format=report_format,
                                        data_type=data_type, delivery_mode=delivery_mode)
        log.info("SMT NewSubscription %s: %s %s over %s, %d months back", body["trans_id"], subscription_type,
                 data_type, delivery_mode, body["historicalSubscriptionDuration"])
        return self.post(lc.NEW_SUBSCRIPTION_PATH, body, retry=False)

    def my_agreements(self, agreement_number: int | None = None, status_reason: str | None = None) -> SmtResponse:
        """``/v2/myagreements/``: the CSP's agreements (one call for all). Read with ``answers.parse_agreements``."""
        body = lc.my_agreements_body(**self._ids("MA"), agreement_number=agreement_number,
                                     status_reason=status_reason)
        return self.post(lc.MY_AGREEMENTS_PATH, body)

    def agreement_esiids(self, agreement_number: int) -> SmtResponse:
        """``/v2/AgreementESIIDs/``: the ESIIDs of one agreement."""
        body = lc.agreement_esiids_body(**self._ids("AE"), agreement_number=agreement_number)
        return self.post(lc.AGREEMENT_ESIIDS_PATH, body)

    def terminate(self, agreement_numbers: Iterable[int], email: str) -> SmtResponse:
        """``/v2/Terminateagreement/`` for the agreements (the customer's e-mail goes in the body only); sent once."""
        body = lc.terminate_body(**self._ids("TA"), agreement_numbers=agreement_numbers, email=email)
        log.info("SMT Terminateagreement %s: agreement(s) %s", body["trans_id"],
                 ", ".join(str(a["agreementNumber"]) for a in body["agreementList"]))
        return self.post(lc.TERMINATE_PATH, body, retry=False)

    def my_subscriptions(self) -> SmtResponse:
        """``/v2/Mysubscriptions/``: the CSP's subscriptions."""
        return self.post(lc.MY_SUBSCRIPTIONS_PATH, lc.my_subscriptions_body(**self._ids("MS")))

    def unsubscribe(self, subscription_number: str | int) -> SmtResponse:
        """``/v2/UnSubscription/`` for one subscription; sent once."""
        body = lc.unsubscribe_body(**self._ids("US"), subscription_number=subscription_number)
        log.info("SMT UnSubscription %s: subscription %s", body["trans_id"], body["subscriptionNumber"])
        return self.post(lc.UNSUBSCRIBE_PATH, body, retry=False)

    def interval_backfill(self, esiid: str, start: dt.date, end: dt.date) -> SmtResponse:
        """``/v2/15minintervalreads/``: SMT delivers the CSV over SFTP later; the job id is
        ``answers.correlation_id(response.content, response.request.trans_id)``. Sent once."""
        body = lc.interval_backfill_body(**self._ids("BF"), esiid=esiid, start=start, end=end)
        log.info("SMT 15minintervalreads %s for %s, %s to %s", body["trans_id"], mask(esiid), body["startDate"],
                 body["endDate"])
        return self.post(lc.INTERVAL_BACKFILL_PATH, body, retry=False)

    def report_status(self, correlation_id: str, service_type: str | None = None) -> SmtResponse:
        """``/v2/reportrequeststatus/`` for one request. Read with ``answers.parse_report_status``."""
        body = lc.report_status_body(**self._ids("RPTSTAT"), correlation_id=correlation_id,
                                     service_type=service_type)
        return self.post(lc.REPORT_STATUS_PATH, body)

    def meter_info(self, esiids: Iterable[str]) -> SmtResponse:
        """``/v2/meterInfo/``: JSON for one ESIID, a CSV over SFTP for several. Read with
        ``answers.parse_meter_info`` (error 2076 is an answer, not retried: it is not transient)."""
        body = lc.meter_info_body(**self._ids("MI"), esiids=esiids)
        log.info("SMT meterInfo %s for %s (%s)", body["trans_id"],
                 ", ".join(mask(m["esiid"]) for m in body["ESIIDMeterList"]), body["reportFormat"])
        return self.post(lc.METER_INFO_PATH, body)
