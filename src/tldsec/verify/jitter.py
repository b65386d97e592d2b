"""Jittered signature lifetimes (DPS 6.5: "using jittered signature lifetime periods").

One RRSIG cannot show jitter; a signing run can. The RRSIGs made in one run share an
inception (the signer's "now" less the inception offset), and their expirations must
spread over the policy's validity range; when at least ``SAMPLE`` valid RRSIGs share an
inception and every one of them expires at the same moment, the signer did not jitter.
(With the DPS's two days of jitter in seconds, the chance that 20 RRSIGs of one run
share an expiration by accident is below 2^-300.) Parts of a zone are summed with ``merge``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tldsec.verify.dpsrules import DpsRules, span
from tldsec.verify.report import Finding, iso

SAMPLE = 20  # RRSIGs of one run that must not all expire together
MIN_JITTER = 3600  # a policy whose validity range is narrower than this is not checked


@dataclass(slots=True)
class Jitter:
    """Per inception: [RRSIGs counted, the first expiration, 1 once another was seen]."""

    runs: dict[int, list[int]] = field(default_factory=dict)

    def merge(self, other: Jitter) -> None:
        for inception, (count, expiration, varied) in other.runs.items():
            mine = self.runs.get(inception)
            if mine is None:
                self.runs[inception] = [count, expiration, varied]
            elif not mine[2]:
                mine[0] += count
                mine[2] = int(bool(varied) or expiration != mine[1])

    def findings(self, rules: DpsRules | None) -> list[Finding]:
        """One finding per signing run whose RRSIGs all expire together."""
        if rules is None or rules.validity_max - rules.validity_min < MIN_JITTER:
            return []
        return [
            Finding(
                "",
                "RRSIG",
                f"the {count} RRSIGs with inception {iso(inception)} all expire at "
                f"{iso(expiration)} ({span(expiration - inception)}): no jitter; "
                f"{rules.cite('6.5')} requires jittered lifetimes between "
                f"{span(rules.validity_min)} and {span(rules.validity_max)}",
            )
            for inception, (count, expiration, varied) in sorted(self.runs.items())
            if not varied and count >= SAMPLE
        ]
