"""The cycle's unsigned mode: going insecure's last step taken (DPS 4.6, decision 46).

``UnsignedMode`` is the part of ``Cycle`` that runs once the key manager's zone fact
``unsigned_since`` is set: after the same build, reconciliation, guards and key steps,
the zone is written with no DNSSEC record (``signer/unsigned.py``, no key store), the
cycle's one verify stage (``Cycle._verify_candidate``) has the gate verify it as insecure
by design, told the fact (``verify/insecure.py``), and the store distributes it as any
candidate. A refused zone is an incident and the last good
zone stays, as in the signed path. Nothing but the zone fact selects this mode.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from tldsec.cycle.result import CycleResult, Outcome, RunLog
from tldsec.cycle.state import UNSIGNED_NAME
from tldsec.cycle.verifystage import VerifyStage
from tldsec.filedigest import Checked
from tldsec.settings import Settings
from tldsec.signer.unsigned import write_unsigned_zone
from tldsec.verify.insecure import InsecureByDesign
from tldsec.verify.options import VerifyOptions
from tldsec.zone.buildinfo import trust


def unsigned_fingerprint(settings: Settings) -> str:
    """What goes into the zone besides the registry while it is published unsigned."""
    material = {"origin": settings.origin, "unsigned": True, "ttl": asdict(settings.policy.ttl)}
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


class UnsignedMode(VerifyStage):
    """The unsigned stages of ``Cycle`` (which provides these attributes and methods)."""

    verify: VerifyOptions

    def _advance(self, **fields: Any) -> None:
        raise NotImplementedError

    def _unsigned_stages(
        self,
        run: RunLog,
        reason: str,
        now: datetime,
        unsigned_since: datetime,
        candidate: Path,
        anchor: Path,
        damaged: str | None,
        checked: Checked | None,
        change_id: int,
    ) -> CycleResult:
        """Sign, verify and distribute in the unsigned mode (DPS 4.6, decision 46): the
        zone as built, no DNSSEC record, verified as insecure by design."""
        origin, serial = self.settings.origin, run.serial
        assert serial is not None
        unsigned_path = self.paths.work / UNSIGNED_NAME
        written = write_unsigned_zone(
            unsigned_path,
            candidate,
            origin,
            header=f"published unsigned by tldsec at {now:%FT%TZ} (DPS 4.6)",
        )
        run.stats.update(unsigned_publication=1, **written.counted())
        self._record(
            "signer.run_completed",
            "component:signer",
            zone=origin,
            serial=serial,
            mode="unsigned",
            signed=0,
            reused=0,
            keys=[],
            unsigned_since=unsigned_since.isoformat(),
        )
        verdict = self._verify_candidate(
            run,
            now,
            candidate,
            anchor,
            unsigned_path,
            damaged,
            checked,
            self.verify,
            InsecureByDesign(unsigned_since),
        )
        if not verdict.passed:
            return self._refuse(run, reason, candidate, verdict)

        run.enter("distribute")
        diff = self.store.publish(serial, candidate, diff=damaged is None)
        trust(unsigned_path)
        run.stats["changes"] = diff.changes if diff else 0
        self._record(
            "zone.published",
            "component:distributor",
            zone=origin,
            serial=serial,
            target=str(self.store.zone_path(serial)),
            changes=run.stats["changes"],
            unsigned_since=unsigned_since.isoformat(),
        )
        result = run.result(Outcome.PUBLISHED, reason)
        self._record(
            "cycle.completed",
            "component:cycle",
            zone=origin,
            serial=serial,
            milliseconds={k: int(v * 1000) for k, v in result.timings.items()},
        )
        self._advance(
            serial=serial,
            change_id=change_id,
            fingerprint=unsigned_fingerprint(self.settings),
            resign_at=None,
            earliest_expiry=None,
            held=None,
        )
        return result
