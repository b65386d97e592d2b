"""The signer's configuration and policy run only as a ceremony approved them (DPS 4.2.2:
"changes to the signer's configuration, policy" are a signing-components task, SA + (SO or
WI)).

What is approved is the SHA-256 of the two files as they are: the home's ``tldsec.toml``
and the policy file it names (``[policy] file``; ``none`` when it names none). ``tldsec
config approve --ceremony ID`` passes the gate with exactly these two hashes as the
ceremony's parameters and appends a ``config.approved`` entry to the audit log; the last
such entry is the approved state. Where ``[ceremony] required`` names ``signer.config``,
``check_approved`` refuses a command that signs or publishes when the files differ from
it, so one person with shell access who edits the policy does not sign the next zone
under it.
"""

from __future__ import annotations

from dataclasses import dataclass

from tldsec.audit.log import AuditLog
from tldsec.audit.query import EntryFilter, iter_entries
from tldsec.ceremony.policy import SIGNER_CONFIG
from tldsec.ceremony.store import load_ceremony_settings
from tldsec.errors import CeremonyRefused
from tldsec.settings import Settings, file_sha256, policy_path

APPROVED = "config.approved"
NO_POLICY_FILE = "none"  # the policy_sha256 of a home whose [policy] names no file


@dataclass(frozen=True, slots=True)
class ConfigHashes:
    """The SHA-256 of the signer's configuration file and of its policy file."""

    config_sha256: str
    policy_sha256: str

    def params(self) -> dict[str, str]:
        """The ceremony's parameters: exactly these two hashes."""
        return {"config_sha256": self.config_sha256, "policy_sha256": self.policy_sha256}

    def start_command(self) -> str:
        return (
            f"tldsec ceremony start {SIGNER_CONFIG} --param config_sha256={self.config_sha256}"
            f" --param policy_sha256={self.policy_sha256}"
        )


def current_hashes(settings: Settings) -> ConfigHashes:
    """The two files' SHA-256 as they are on disk now."""
    policy = policy_path(settings)
    return ConfigHashes(
        file_sha256(settings.source),
        file_sha256(policy) if policy else NO_POLICY_FILE,
    )


def last_approved(audit: AuditLog) -> ConfigHashes | None:
    """The hashes of the newest ``config.approved`` entry, or None if none was."""
    last = None
    for entry in iter_entries(audit.engine, EntryFilter(events=(APPROVED,))):
        last = entry
    if last is None:
        return None
    return ConfigHashes(
        str(last.details.get("config_sha256", "")), str(last.details.get("policy_sha256", ""))
    )


def required(settings: Settings) -> bool:
    """Whether ``[ceremony] required`` names ``signer.config`` (or is "all")."""
    return SIGNER_CONFIG in load_ceremony_settings(settings).required


def check_approved(settings: Settings, audit: AuditLog | None, what: str) -> None:
    """Refuse ``what`` (a command that signs or publishes) when the configuration or the
    policy differs from the last approved (DPS 4.2.2); nothing where not required."""
    if not required(settings):
        return
    if audit is None:
        raise CeremonyRefused(
            f"{what} checks the approved signer configuration in the audit log ([ceremony] "
            f"required names {SIGNER_CONFIG}; DPS 4.2.2): open the audit log"
        )
    now = current_hashes(settings)
    approved = last_approved(audit)
    if approved == now:
        return
    if approved is None:
        changed = "the signer configuration and policy were never approved"
    else:
        parts = []
        if approved.config_sha256 != now.config_sha256:
            parts.append(
                f"config {settings.source} {approved.config_sha256[:12]}... -> "
                f"{now.config_sha256[:12]}..."
            )
        if approved.policy_sha256 != now.policy_sha256:
            parts.append(
                f"policy {policy_path(settings) or '(no file)'} "
                f"{approved.policy_sha256[:12]}... -> {now.policy_sha256[:12]}..."
            )
        changed = " and ".join(parts) + " changed since the last approval"
    raise CeremonyRefused(
        f"{what} refused: {changed} (DPS 4.2.2: changes to the signer's configuration and "
        f"policy need SA + (SO or WI)): '{now.start_command()}', the approvals, then "
        "'tldsec config approve --ceremony ID'"
    )


def record_approval(
    audit: AuditLog, hashes: ConfigHashes, *, actor: str, ceremony: str, via: str
) -> None:
    """Append the ``config.approved`` entry that makes ``hashes`` the approved state."""
    audit.record(APPROVED, actor=actor, ceremony=ceremony, via=via, **hashes.params())
