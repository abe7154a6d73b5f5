"""Prometheus metrics for /metrics.

Counts that matter across processes (concerns by source, alerts sent, escalations,
quarantined mail) are read from the store at scrape time, so every `triage serve`
process behind a load balancer reports the same truth. Latency is per process.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from sqlalchemy import func
from sqlmodel import Session, select

from models import Alert, AlertDelivery, Concern, ConcernSource, InboundMessage

CLASSIFY_SECONDS = Histogram(
    "triage_classification_seconds", "Time to classify one concern",
    buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
PIPELINE_SECONDS = Histogram(
    "triage_ingest_seconds", "Time from arrival to a stored, routed concern (one process)",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


class StoreCollector:
    def __init__(self, engine):
        self.engine = engine

    def collect(self):
        with Session(self.engine) as s:
            arrivals = CounterMetricFamily("triage_concerns_received", "Arrivals by source (incl. linked duplicates)",
                                           labels=["source"])
            for source, n in s.exec(select(ConcernSource.source, func.count()).group_by(ConcernSource.source)):
                arrivals.add_metric([source], n)
            yield arrivals
            open_c = GaugeMetricFamily("triage_concerns_open", "Open concerns by urgency", labels=["urgency"])
            for urg, n in s.exec(select(Concern.urgency, func.count()).where(Concern.status == "open")
                                 .group_by(Concern.urgency)):
                open_c.add_metric([urg or "unclassified"], n)
            yield open_c
            sent = CounterMetricFamily("triage_alerts_sent", "Alert deliveries sent", labels=["channel"])
            for ch, n in s.exec(select(AlertDelivery.channel, func.count()).where(AlertDelivery.status == "sent")
                                .group_by(AlertDelivery.channel)):
                sent.add_metric([ch], n)
            yield sent
            pending = GaugeMetricFamily("triage_alert_deliveries_pending", "Deliveries waiting or failing")
            pending.add_metric([], s.exec(select(func.count()).select_from(AlertDelivery)
                                          .where(AlertDelivery.status != "sent")).one())
            yield pending
            esc = CounterMetricFamily("triage_escalations", "Escalation alerts raised")
            esc.add_metric([], s.exec(select(func.count()).select_from(Alert).where(Alert.kind == "escalation")).one())
            yield esc
            mail = CounterMetricFamily("triage_mail_messages", "Mail taken from the mailbox by outcome",
                                       labels=["outcome"])
            for outcome, n in s.exec(select(InboundMessage.outcome, func.count()).group_by(InboundMessage.outcome)):
                mail.add_metric([outcome], n)
            yield mail


def render(engine) -> bytes:
    from prometheus_client import REGISTRY

    registry = CollectorRegistry()
    registry.register(StoreCollector(engine))
    return generate_latest(REGISTRY) + generate_latest(registry)
