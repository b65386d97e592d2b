"""The verification gate as its callers run it (the cycle's verify stage, ``tldsec verify
--gate``): verify/ decides, the zone's files module publishes (decision 71).

``gate`` stages the candidate beside the publication target (``zonefiles.staging``), has
``verify.gate.judge`` verify the staged copy and decide (DPS 6.6), publishes a copy that
passed with its digest and verification records (``zonefiles.publish_verified``), then
has the verdict logged and recorded (``verify.gate.account``; DPS 4.5.1 for a refusal).
It imports only verify/ and ``zonefiles``, so that a process that gates a zone loads
neither the cycle nor the database.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path

from tldsec.filedigest import Checked
from tldsec.hsm.base import KeyStore
from tldsec.verify.gate import GateResult, Recorder, account, judge
from tldsec.verify.insecure import InsecureByDesign
from tldsec.verify.options import KeyOpener, VerifyOptions, VerifyRequest
from tldsec.verify.workers import ProgressFor
from tldsec.zonefiles import ZoneFiles, load_state, publish_verified, staging


def gate(
    request: VerifyRequest,
    options: VerifyOptions,
    now: datetime,
    *,
    publish_to: Path | None = None,
    keystore: KeyStore | None = None,
    opener: KeyOpener | None = None,
    recorder: Recorder | None = None,
    previous_checked: Checked | None = None,
    progress: ProgressFor | None = None,
    insecure: InsecureByDesign | None = None,
) -> GateResult:
    """Verify the candidate; publish it to ``publish_to`` only if every check passed
    (DPS 6.6). A private copy is staged beside ``publish_to`` and verified; what is
    published is that copy, renamed over the target with its digest and verification
    records (``zonefiles``). The other arguments are ``verify.gate.judge``'s."""
    previous_state = load_state(ZoneFiles(publish_to).verify_state) if publish_to else None
    with staging(request.signed, publish_to) as staged:
        result = judge(
            request,
            options,
            now,
            staged=staged,
            previous_state=previous_state,
            keystore=keystore,
            opener=opener,
            previous_checked=previous_checked,
            progress=progress,
            insecure=insecure,
        )
        if staged is not None and result.passed_record is not None:
            publish_verified(staged, result.passed_record, now)
            result = replace(result, published=publish_to)
    account(result, publish_to, recorder)
    return result
