"""Each entry names the zone it concerns (issue 19 item 5, decisions.md 58).

The zone is in the entry's canonical body, so its hash covers it like every field; an
entry that names none has no ``zone`` member, so entries written before the field
existed keep their hashes. Tests that try to break it: a zone edited, added or removed
in the database, or in an export, breaks verification at that entry.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from tests.audit.test_insider import make_home
from tldsec.audit.chain import FindingKind, VerifyReport, verify_chain
from tldsec.audit.entry import GENESIS_HASH, Entry, make_entry, zone_name
from tldsec.audit.events import EventType
from tldsec.audit.log import AuditLog
from tldsec.audit.query import EntryFilter, iter_entries, write_jsonl
from tldsec.cli.main import main
from tldsec.errors import AuditError

from .conftest import LogFactory


def check(entries: list[Entry]) -> VerifyReport:
    """The chain alone: hashes and links (checkpoints are test_chain.py's)."""
    return verify_chain(entries, keys={}, complete=False)


# Known answer, cross-checked by hand in a shell:
#   (head -c 32 /dev/zero; printf '%s' "$BODY") | sha256sum
BODY = (
    b'{"actor":"component:signer","details":{"bits":2048,"key_id":"abc"},'
    b'"event":"key.generated","level":"notice","seq":1,'
    b'"time":"2025-01-01T00:00:00.000000Z","v":1,"zone":"example."}'
)
HASH = "a5e1d7891855291a0edecc47cd5c434c4f1048a881d000cf7c8f84cda818770b"
# The same entry naming no zone: test_entry.py's known answer, unchanged.
HASH_NO_ZONE = "4a952d471ba159e290a4905ddd317ce9430fb29f7cbee925e4bdc73c9bfadd8f"


def key_generated(zone: str | None) -> Entry:
    return make_entry(
        seq=1,
        time=datetime(2025, 1, 1, tzinfo=UTC),
        actor="component:signer",
        event="key.generated",
        level="notice",
        details={"key_id": "abc", "bits": 2048},
        prev_hash=GENESIS_HASH,
        zone=zone,
    )


def test_the_zone_is_in_the_canonical_body_and_the_hash() -> None:
    entry = key_generated("example.")
    assert entry.body() == BODY
    assert entry.hash == HASH
    assert key_generated(None).hash == HASH_NO_ZONE


def test_an_entry_with_another_zone_no_longer_matches_its_hash() -> None:
    entry = key_generated("example.")
    for zone in ("other.", None):
        forged = Entry(**{**{f: getattr(entry, f) for f in Entry.__slots__}, "zone": zone})
        assert forged.computed_hash() != entry.hash


def test_zone_names_are_absolute_lower_case_dns_names() -> None:
    assert zone_name("Example") == "example."
    assert zone_name("xn--p1ai.") == "xn--p1ai."
    assert zone_name(".") == "."
    for bad in ("", "exa mple", "a..b.", "-x.", "é.", "x" * 64 + "."):
        with pytest.raises(ValueError, match="zone"):
            zone_name(bad)


def test_records_round_trip_and_name_the_zone_only_when_there_is_one() -> None:
    entry = key_generated("example.")
    assert entry.to_record()["zone"] == "example."
    assert Entry.from_record(entry.to_record()) == entry
    assert "zone" not in key_generated(None).to_record()


@pytest.fixture
def zoned_log(audit_engine: Engine, make_log: LogFactory) -> AuditLog:
    log = make_log(audit_engine)
    log.zone = "example."  # the home's origin, as open_audit_log sets it
    return log


def test_zone_events_name_the_homes_zone_and_installation_events_none(
    zoned_log: AuditLog,
) -> None:
    assert zoned_log.record("key.generated", actor="component:signer").zone == "example."
    assert zoned_log.record("ds.accepted", actor="registrar:reg-1").zone == "example."
    assert zoned_log.record("cycle.completed", actor="component:cycle").zone == "example."
    assert zoned_log.record("personnel.action", actor="person:alice").zone is None
    assert zoned_log.record("hsm.activated", actor="person:alice").zone is None
    assert zoned_log.record("registrar.created", actor="person:alice").zone is None
    # Named by the writer: taken as given (normalised), whatever the event.
    assert zoned_log.record("access.denied", actor="registrar:r", zone="Other").zone == "other."
    assert zoned_log.record("key.generated", actor="component:s", zone="other.").zone == "other."


def test_record_many_takes_a_zone_among_the_details(zoned_log: AuditLog) -> None:
    """The EPP server's one append per command (decision 56) names the command's zone
    (decision 61) as ``record``'s argument would, not as a detail."""
    entries = zoned_log.record_many(
        [
            ("ds.received", "registrar:r", {"zone": "shop.", "domain": "a.shop"}),
            ("ds.accepted", "registrar:r", {"domain": "a.example"}),
        ]
    )
    assert [e.zone for e in entries] == ["shop.", "example."]
    assert "zone" not in entries[0].details


def test_a_log_of_no_zone_names_none_by_default(audit_log: AuditLog) -> None:
    assert audit_log.record("key.generated", actor="component:signer").zone is None


def test_a_zone_that_is_not_a_name_is_refused_and_nothing_is_written(
    zoned_log: AuditLog,
) -> None:
    with pytest.raises(AuditError, match="audit entry refused: zone 'a b' is not a DNS name"):
        zoned_log.record("key.generated", actor="component:signer", zone="a b")
    assert zoned_log.head().seq == 0


def test_the_catalogue_says_which_events_concern_a_zone() -> None:
    zoned = {e.value for e in EventType if e.concerns_a_zone}
    assert {"key.generated", "ds.received", "zone.published", "notice.sent"} <= zoned
    assert not zoned & {"hsm.activated", "access.login", "audit.verified", "clock.backwards"}


def test_the_zone_filter_keeps_the_zone_and_the_installation(zoned_log: AuditLog) -> None:
    zoned_log.record("key.generated", actor="component:signer")
    zoned_log.record("key.generated", actor="component:signer", zone="other.")
    zoned_log.record("personnel.action", actor="person:alice")

    def zones(zone: str) -> list[str | None]:
        return [e.zone for e in iter_entries(zoned_log.engine, EntryFilter(zone=zone))]

    assert zones("example.") == ["example.", None]
    assert zones("other.") == ["other.", None]
    assert not EntryFilter(zone="example.").whole_chain


@pytest.mark.parametrize(
    ("seq", "zone"),
    [(1, "other."), (1, None), (3, "example.")],
    ids=["edited", "removed", "added"],
)
def test_changing_the_zone_of_an_entry_in_the_database_breaks_verification(
    zoned_log: AuditLog, audit_engine: Engine, seq: int, zone: str | None
) -> None:
    zoned_log.record("key.generated", actor="component:signer")  # seq 1, example.
    zoned_log.record("ds.accepted", actor="registrar:reg-1")  # seq 2, example.
    zoned_log.record("personnel.action", actor="person:alice")  # seq 3, none
    assert check(list(iter_entries(audit_engine))).ok
    with audit_engine.begin() as conn:  # an attacker with the file: triggers dropped
        for (name,) in conn.execute(text("SELECT name FROM sqlite_master WHERE type='trigger'")):
            conn.execute(text(f"DROP TRIGGER {name}"))
        conn.execute(
            text("UPDATE audit_entries SET zone = :zone WHERE seq = :seq"),
            {"zone": zone, "seq": seq},
        )
    report = check(list(iter_entries(audit_engine)))
    assert not report.ok
    assert report.findings[0].kind is FindingKind.MODIFIED
    assert report.findings[0].first_seq == seq, report.findings


def test_changing_the_zone_in_an_export_breaks_its_verification(
    zoned_log: AuditLog,
) -> None:
    zoned_log.record("key.generated", actor="component:signer")
    zoned_log.record("personnel.action", actor="person:alice")
    out = io.StringIO()
    write_jsonl(out, iter_entries(zoned_log.engine))
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert lines[0]["zone"] == "example." and "zone" not in lines[1]
    entries = [Entry.from_record(r) for r in lines]
    assert check(entries).ok
    lines[0]["zone"] = "other."
    assert not check([Entry.from_record(r) for r in lines]).ok


def test_record_many_names_the_zone_of_each_entry(zoned_log: AuditLog) -> None:
    """The EPP server's one append per command (decision 56) follows the same rule."""
    entries = zoned_log.record_many(
        [
            ("ds.received", "registrar:reg-1", {"domain": "a.example"}),
            ("access.denied", "registrar:reg-1", {}),
        ]
    )
    assert [e.zone for e in entries] == ["example.", None]
    assert check(list(iter_entries(zoned_log.engine))).ok


def test_audit_record_names_the_zone_by_option_not_by_detail(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = make_home(tmp_path)
    assert main(["audit", "init", "--home", str(home)]) == 0
    assert main(["audit", "record", "facility.entry", "--actor", "person:a", "--zone", "Shop",
                 "--home", str(home)]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["audit", "show", "--json", "--event", "facility.", "--home", str(home)]) == 0
    assert [e.get("zone") for e in json.loads(capsys.readouterr().out)] == ["shop."]
    code = main(["audit", "record", "facility.entry", "--actor", "person:a",
                 "--detail", "zone=shop.", "--home", str(home)])  # fmt: skip
    assert code == 1
    assert "zone is a field of the entry: use --zone" in capsys.readouterr().err
