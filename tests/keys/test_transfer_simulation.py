"""``keys simulate --transfer-at DAY`` (keys/simulate.py with keys/transfer.py): the
handover's events at the times the rules compute, with the model parent; at no event is
the delegation without a DS of a key that signs what the resolver may be sent, and the
gaining operator's keys are in our DNSKEY RRset from the import to the end."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from tests.keys.conftest import T0
from tldsec.cli.main import main
from tldsec.keys import timing, transfer
from tldsec.keys.simulate import ParentModel, simulate
from tldsec.keys.timing import TimingParams
from tldsec.policy import Policy


def test_the_transfer_in_the_simulation(policy: Policy, timing: TimingParams) -> None:
    parent = ParentModel()
    result = simulate(policy, timing, T0, 60, parent=parent, transfer_at=10)
    by_event = {}
    for e in result.events:
        by_event.setdefault(e.event, e)
    imported = by_event["transfer.imported"]
    theirs = {e.key_tag for e in result.events if e.event == "transfer.imported"}
    assert imported.time == T0 + timedelta(days=10)
    seen = by_event["transfer.peer-ds-seen"].time
    assert seen == imported.time + parent.registration_delay + parent.check_interval
    handed = by_event["transfer.handed-over"].time
    assert handed == max(imported.time + timing_zsk(timing), seen + timing_ds(timing))
    withdrawal = next(
        e for e in result.events if e.event == "ds.withdrawal-requested" and e.time > handed
    )
    assert withdrawal.time == handed + transfer.ns_interval(timing)
    ended = by_event["transfer.ended"]
    assert ended.time > withdrawal.time and ended.published == ()
    assert result.events[-1].event == "transfer.ended"  # nothing of ours follows
    ours_ksk = withdrawal.key_tag
    for e in result.events:
        if imported.time <= e.time < ended.time:
            assert theirs <= set(e.published), e
        if e.time > T0 + timedelta(days=3):
            assert e.parent_ds, e  # never without a DS: never insecure
        if handed <= e.time:
            assert set(e.parent_ds) & theirs, e
        if e.time < withdrawal.time and e.time > T0 + timedelta(days=3):
            assert ours_ksk in e.parent_ds, e  # ours stays while resolvers may reach us
    # no key of ours is made or published during the transfer (the hold gate)
    assert not [
        e for e in result.events
        if imported.time < e.time and e.event in ("key.generated", "key.published")
    ]  # fmt: skip


def timing_zsk(t: TimingParams) -> timedelta:
    return timing.zsk_publish_interval(t)


def timing_ds(t: TimingParams) -> timedelta:
    return timing.ds_publish_interval(t)


def test_simulate_cli_transfer_at(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "simulate", "--days", "40", "--transfer-at", "5", "--json"]) == 0
    events = json.loads(capsys.readouterr().out)
    names = [e["event"] for e in events]
    assert names.index("transfer.imported") < names.index("transfer.handed-over")
    assert names[-1] == "transfer.ended"
