"""GET /metrics: the service in the Prometheus text format (prometheus-client), for the
alert rules of ``packaging/prometheus/alerts.yml`` (docs/operations.md, "Monitoring").

Events (a cycle's result, the EPP transaction log's new rows) update counters and
histograms as they happen; a cycle's and a zone's metrics carry a ``zone`` label (one
series per zone of the home, decision 67; the key, handover and pending-change gauges
too, decision 75); everything else is read at scrape time from the service's
memory and the last probe (``probes.py``), never from a database, so a scrape answers
while a database is down. Each service has its own registry (no module-level state).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from tldsec.service.probes import EppRow, Facts, ZoneFacts

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
STAGE_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 2400)
# From a change's commit to served by every secondary (decision 51): DPS 3.5.2's hour.
SERVED_BUCKETS = (5, 10, 20, 30, 45, 60, 90, 120, 180, 300, 600, 1200, 1800, 3600, 7200)
EPP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
# How a cycle's outcome reads as a verification gate result (DPS 4.5.4).
GATE_RESULTS = {"published": "passed", "refused": "refused", "held": "held"}


@dataclass
class ZoneSnapshot:
    """One zone's serial and signatures at the scrape."""

    origin: str
    serial: int | None = None
    serial_published: datetime | None = None
    earliest_expiry: datetime | None = None
    signatures_refresh_at: datetime | None = None
    last_cycle_outcome: str | None = None
    facts: ZoneFacts | None = None  # the last probe's of this zone (None: not probed)

    @property
    def handed_over(self) -> bool:
        """The zone is another operator's now (keys/transfer.py): our role ended."""
        return self.facts is not None and self.facts.handed_over is not None


@dataclass
class Snapshot:
    """The service's state at one instant, as the scrape reports it."""

    now: datetime
    zones: list[ZoneSnapshot] = field(default_factory=list)
    hsm_state: str = "unknown"
    hsm_tokens: int = 0
    replica_incidents: int | None = None
    audit_reachable: bool = False
    audit_integrity_alarms: int = 0
    audit_alerts: int = 0
    audit_checked_through: int | None = None
    faults: list[str] = field(default_factory=list)
    transfers: int = 0
    primary_problem: bool = False
    signing: bool = True
    facts: Facts = field(default_factory=Facts)
    leases: dict[str, dict[str, Any]] = field(default_factory=dict)  # lease_reports()


class Metrics:
    """The service's metrics; ``exposition()`` is the body of GET /metrics."""

    def __init__(self, snapshot: Callable[[], Snapshot], zones: Iterable[str] = ()) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.cycles = Counter(
            "tldsec_cycles",
            "Cycles run by this service, by outcome and zone",
            ["outcome", "zone"],
            registry=self.registry,
        )
        self.gate = Counter(
            "tldsec_gate_results",
            "Verification gate results of the cycles (passed, refused, held; DPS 4.5.4)",
            ["result", "zone"],
            registry=self.registry,
        )
        self.stage_seconds = Histogram(
            "tldsec_cycle_stage_seconds",
            "Cycle duration by stage (total: the whole cycle) and zone",
            ["stage", "zone"],
            buckets=STAGE_BUCKETS,
            registry=self.registry,
        )
        self.epp_seconds = Histogram(
            "tldsec_epp_command_seconds",
            "EPP command latency, from the EPP transaction log (every EPP process)",
            ["command"],
            buckets=EPP_BUCKETS,
            registry=self.registry,
        )
        self.epp_results = Counter(
            "tldsec_epp_results",
            "EPP commands by result code, from the EPP transaction log",
            ["command", "code"],
            registry=self.registry,
        )
        self.ds_served = Histogram(
            "tldsec_ds_change_to_served_seconds",
            "From a registrar's zone change (a DS change) committed to served by every "
            "secondary (the change trace, decision 51)",
            buckets=SERVED_BUCKETS,
            registry=self.registry,
        )
        for zone in zones:
            for outcome in ("published", "unchanged", "refused", "held", "failed"):
                self.cycles.labels(outcome, zone)  # present at 0, so rate() and absent() work
            for result in GATE_RESULTS.values():
                self.gate.labels(result, zone)
        self.registry.register(_StateCollector(snapshot))

    def cycle_done(self, result: dict[str, Any], zone: str) -> None:
        outcome = str(result.get("outcome") or "failed")
        self.cycles.labels(outcome, zone).inc()
        if outcome in GATE_RESULTS:
            self.gate.labels(GATE_RESULTS[outcome], zone).inc()
        timings = result.get("timings")
        if isinstance(timings, dict):
            for stage, seconds in timings.items():
                if isinstance(seconds, int | float):
                    self.stage_seconds.labels(str(stage), zone).observe(float(seconds))
        seconds = result.get("seconds")
        if isinstance(seconds, int | float):
            self.stage_seconds.labels("total", zone).observe(float(seconds))

    def changes_served(self, seconds: Iterable[float]) -> None:
        for value in seconds:
            self.ds_served.observe(value)

    def epp_done(self, rows: Iterable[EppRow]) -> None:
        for row in rows:
            self.epp_seconds.labels(row.command).observe(row.seconds)
            self.epp_results.labels(row.command, str(row.result_code)).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _StateCollector(Collector):
    """The gauges read from a ``Snapshot`` at each scrape."""

    def __init__(self, snapshot: Callable[[], Snapshot]) -> None:
        self.snapshot = snapshot

    def describe(self) -> Iterable[Metric]:
        return []  # unchecked: the families depend on what the snapshot knows

    def collect(self) -> Iterator[Metric]:
        s = self.snapshot()
        now = s.now.timestamp()

        def gauge(name: str, doc: str, value: float | None) -> Iterator[Metric]:
            if value is not None:
                yield GaugeMetricFamily(name, doc, value=value)

        yield from gauge(
            "tldsec_alert_heartbeat_minute",
            "Minutes since the epoch: changes every minute while the service runs (the "
            "alert path's own check)",
            float(int(now // 60)),
        )
        yield from gauge("tldsec_health_ok", "1 if /health answers 200", float(not s.faults))
        yield from gauge("tldsec_health_faults", "Reasons /health is not 200", len(s.faults))
        # A zone handed over to another operator, our role ended (DPS 4.6): the
        # signatures of our last zone expire and its registry changes wait, as they
        # must; not ours to alert on, so that zone's gauges are left out, and
        # tldsec_zone_handed_over says why.
        serial = _zone_gauge("tldsec_zone_serial", "The SOA serial the primary serves")
        age = _zone_gauge(
            "tldsec_zone_serial_age_seconds", "Seconds since the served serial was published"
        )
        expiry = _zone_gauge(
            "tldsec_signature_earliest_expiry_seconds",
            "Seconds from now to the earliest RRSIG expiration in the published zone",
        )
        refresh = _zone_gauge(
            "tldsec_signature_refresh_due_seconds",
            "Seconds from now until a signature falls below the refresh threshold",
        )
        pending = _zone_gauge(
            "tldsec_pending_changes", "Registry changes of the zone not yet in it"
        )
        oldest = _zone_gauge(
            "tldsec_pending_oldest_age_seconds",
            "Age of the zone's oldest registry change not yet in it (0: none)",
        )
        for z in s.zones:
            ours = not z.handed_over
            if z.serial is not None:
                serial.add_metric([z.origin], z.serial)
            if z.serial_published is not None:
                age.add_metric([z.origin], now - z.serial_published.timestamp())
            if z.earliest_expiry is not None and ours:
                expiry.add_metric([z.origin], z.earliest_expiry.timestamp() - now)
            if z.signatures_refresh_at is not None and ours:
                refresh.add_metric([z.origin], z.signatures_refresh_at.timestamp() - now)
            zf = z.facts
            if zf is not None and zf.pending_changes is not None:
                pending.add_metric([z.origin], zf.pending_changes)
                if ours:
                    first = zf.oldest_pending
                    waited = 0.0 if first is None else now - first.timestamp()
                    oldest.add_metric([z.origin], max(0.0, waited))
        for family in (serial, age, expiry, refresh, pending, oldest):
            if family.samples:
                yield family
        yield from gauge(
            "tldsec_primary_problem", "1 if the primary refused a zone file", s.primary_problem
        )
        yield CounterMetricFamily(
            "tldsec_transfers", "Zone transfers served by the primary", value=s.transfers
        )
        f = s.facts
        databases = GaugeMetricFamily(
            "tldsec_database_up", "1 if the database answers", labels=["database"]
        )
        for name, error in sorted(f.databases.items()):
            databases.add_metric([name], float(error is None))
        yield databases
        if s.signing:
            handed = _zone_gauge(
                "tldsec_zone_handed_over",
                "1 once the zone was handed over to another operator and our role ended "
                "(DPS 4.6): no cycle runs, signature and pending-change gauges are left out",
            )
            keys = GaugeMetricFamily(
                "tldsec_keys",
                "Keys of the zone by role and state",
                labels=["role", "state", "zone"],
            )
            event = _zone_gauge(
                "tldsec_next_key_event_seconds",
                "Seconds from now to the key plan's next timed step",
            )
            for z in s.zones:
                handed.add_metric([z.origin], float(z.handed_over))
                if z.facts is None:
                    continue
                for (role, state), count in sorted(z.facts.key_states.items()):
                    keys.add_metric([role, state, z.origin], count)
                if z.facts.next_key_event is not None:
                    event.add_metric([z.origin], z.facts.next_key_event.timestamp() - now)
            yield handed
            yield keys
            if event.samples:
                yield event
            hsm = GaugeMetricFamily(
                "tldsec_hsm_state", "The HSM as the service holds it (1: this state)",
                labels=["state"],
            )  # fmt: skip
            hsm.add_metric([s.hsm_state], 1.0)
            yield hsm
            yield from gauge(
                "tldsec_hsm_active",
                "1 if signing keys can be used now (HSM active, or keys on disk)",
                float(s.hsm_state in ("active", "keys on disk")),
            )
            yield from gauge(
                "tldsec_replica_incidents",
                "HSMs lacking a key of the zone or holding another (last replica proof)",
                s.replica_incidents,
            )
        if s.leases:
            held = _zone_gauge(
                "tldsec_lease_held", "1 if this signer holds the zone's publication lease"
            )
            tokens = _zone_gauge(
                "tldsec_lease_token",
                "The lease's fencing token in the database (grows at each change of holder)",
            )
            holder = GaugeMetricFamily(
                "tldsec_lease_holder_info",
                "The signer holding the zone's publication lease now (1), by name",
                labels=["holder", "zone"],
            )
            for origin, lease in s.leases.items():
                held.add_metric([origin], float(bool(lease.get("held"))))
                token = lease.get("holder_token")
                if token is not None:
                    tokens.add_metric([origin], float(token))
                holder.add_metric([str(lease.get("holder") or ""), origin], 1.0)
            yield held
            if tokens.samples:
                yield tokens
            yield holder
        yield from gauge(
            "tldsec_audit_up", "1 if the audit log can be read and written", s.audit_reachable
        )
        yield from gauge(
            "tldsec_audit_integrity_alarms",
            "Integrity alarms of the audit watch since the start (DPS 4.4.2)",
            s.audit_integrity_alarms,
        )
        yield from gauge(
            "tldsec_audit_alerts", "Alerts of the audit watch since the start", s.audit_alerts
        )
        yield from gauge(
            "tldsec_audit_checked_through", "The audit watch's last entry", s.audit_checked_through
        )


def _zone_gauge(name: str, doc: str) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=["zone"])
