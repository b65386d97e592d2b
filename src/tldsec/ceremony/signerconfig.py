"""The signer's configuration and policy run only as a ceremony approved them (DPS 4.2.2:
"changes to the signer's configuration, policy" are a signing-components task, SA + (SO or
WI)).

What is approved is the SHA-256 of the files as they are: the home's ``tldsec.toml`` and
the policy file it names (``[policy] file``; ``none`` when it names none). A home whose
zones follow several policies names each in ``policy_sha256``, in the order of its zones,
as the audit log records them (``default=HASH, long=HASH``; decisions 79, 80): the
approval is of the home's signer configuration as a whole, so an edit of any zone's
policy stops the signing of every zone until a new approval. ``tldsec config approve
--ceremony ID`` passes the gate with exactly these two values as the ceremony's
parameters and appends a ``config.approved`` entry to the audit log; the last such entry
is the approved state. Where ``[ceremony] required`` names ``signer.config``,
``check_approved`` refuses a command that signs or publishes when the files differ from
it, so one person with shell access who edits the policy does not sign the next zone
under it.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from tldsec.audit.log import AuditLog
from tldsec.audit.query import EntryFilter, iter_entries
from tldsec.ceremony.policy import SIGNER_CONFIG
from tldsec.ceremony.store import load_ceremony_settings
from tldsec.errors import CeremonyRefused
from tldsec.settings import (
    Settings,
    file_sha256,
    home_policy_files,
    join_by_policy,
    split_by_policy,
)

APPROVED = "config.approved"
NO_POLICY_FILE = "none"  # the policy_sha256 of a home whose [policy] names no file


@dataclass(frozen=True, slots=True)
class ConfigHashes:
    """The SHA-256 of the signer's configuration file and of its policy files."""

    config_sha256: str
    # The policy file's; with several policies ``NAME=HASH, NAME=HASH`` (see the module).
    policy_sha256: str

    def params(self) -> dict[str, str]:
        """The ceremony's parameters: exactly these two values."""
        return {"config_sha256": self.config_sha256, "policy_sha256": self.policy_sha256}

    def start_command(self) -> str:
        """The command that starts the ceremony, its parameters quoted for a shell (a
        value naming several policies has spaces)."""
        return f"tldsec ceremony start {SIGNER_CONFIG} " + " ".join(
            f"--param {shlex.quote(f'{key}={value}')}" for key, value in self.params().items()
        )


def current_hashes(settings: Settings) -> ConfigHashes:
    """The files' SHA-256 as they are on disk now: ``tldsec.toml`` and every policy the
    home's zones follow, in settings narrowed to one zone too (a zone's cycle)."""
    files = home_policy_files(settings)
    hashes = {name: file_sha256(path) if path else NO_POLICY_FILE for name, path in files.items()}
    return ConfigHashes(file_sha256(settings.source), join_by_policy(hashes))


def _short(value: str) -> str:
    return f"{value[:12]}..." if len(value) > 12 else value


def _policy_changes(settings: Settings, approved: str, now: str) -> list[str]:
    """What changed between the approved and the current ``policy_sha256``: each policy
    by name where both name them, the whole value otherwise."""
    files = home_policy_files(settings)
    before, after = split_by_policy(approved), split_by_policy(now)
    if before is None and after is None:  # one policy: as always
        only = next(iter(files.values()))
        return [f"policy {only or '(no file)'} {approved[:12]}... -> {now[:12]}..."]
    if before is None or after is None:
        where = ", ".join(f"{n} {f or '(no file)'}" for n, f in files.items())
        old, new = (
            ", ".join(f"{n}={_short(h)}" for n, h in v.items()) if v is not None else _short(raw)
            for v, raw in ((before, approved), (after, now))
        )
        return [f"policies ({where}) {old} -> {new}"]
    return [
        f"policy {name} {files.get(name) or '(no file)'} "
        f"{_short(before.get(name, '(none)'))} -> {_short(after.get(name, '(none)'))}"
        for name in dict.fromkeys([*before, *after])
        if before.get(name) != after.get(name)
    ]


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
            parts += _policy_changes(settings, approved.policy_sha256, now.policy_sha256)
        changed = " and ".join(parts) + " changed since the last approval"
    raise CeremonyRefused(
        f"{what} refused: {changed} (DPS 4.2.2: changes to the signer's configuration and "
        f"policy need SA + (SO or WI)); start the ceremony with: {now.start_command()} ; "
        "once approved: tldsec config approve --ceremony ID"
    )


def record_approval(
    audit: AuditLog, hashes: ConfigHashes, *, actor: str, ceremony: str, via: str
) -> None:
    """Append the ``config.approved`` entry that makes ``hashes`` the approved state."""
    audit.record(APPROVED, actor=actor, ceremony=ceremony, via=via, **hashes.params())
