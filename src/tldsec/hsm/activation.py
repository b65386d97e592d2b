"""The HSM logins of a serving process: locked until activated, deactivated on request.

DPS 5.2.8: private keys are activated by putting the HSM on-line, with credentials the
Security Officer holds; 5.2.9: deactivated by taking it off-line. ``Activation`` holds
one logged-in store per HSM (the ``[keystore]`` token and each replica) while the
service is active, and the PINs in this process's memory only, to hand to the signing
processes it starts through a pipe. ``deactivate`` closes every store and every session
of their modules in the process (the tokens are logged out) and forgets the PINs.

A token whose PIN the home may store (a demo policy) is activated from its source when
the service starts; a token whose PIN the Security Officer holds starts locked.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tldsec.errors import KeyStoreError, KeyStoreLoginError
from tldsec.hsm import p11lib
from tldsec.hsm.base import KeyStore, KeyStoreSpec
from tldsec.hsm.open import open_keystore

LOCKED = "locked"
ACTIVE = "active"


@dataclass(frozen=True, slots=True)
class Token:
    """One HSM token the service signs or proves keys with."""

    name: str  # "keystore", or "replica NAME"
    spec: KeyStoreSpec  # its PIN left out when the Security Officer holds it
    officer: bool  # the Security Officer gives its PIN at activation

    @property
    def label(self) -> str:
        return self.spec.token_label or ""


@dataclass
class Activation:
    """Locked or active; while active, one open store per token and the officer's PINs."""

    tokens: Sequence[Token]
    opener: Callable[[KeyStoreSpec], KeyStore] = open_keystore
    state: str = LOCKED
    since: datetime | None = None
    by: str | None = None
    last_error: str | None = None
    _stores: dict[str, KeyStore] = field(default_factory=dict, repr=False)
    _pins: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def active(self) -> bool:
        return self.state == ACTIVE

    def officer_tokens(self) -> list[Token]:
        return [t for t in self.tokens if t.officer]

    def activate(self, pins: Mapping[str, str], *, now: datetime, by: str) -> None:
        """Log in to every token (the officer's PINs from ``pins``, the others' from
        their specs); all or none: a refused login closes what was opened and raises."""
        if self.active:
            raise KeyStoreError(f"the HSM is already active (since {self.since}, by {self.by})")
        missing = [t.name for t in self.officer_tokens() if not pins.get(t.name)]
        if missing:
            raise KeyStoreLoginError(f"no PIN given for {', '.join(missing)}")
        opened: dict[str, KeyStore] = {}
        try:
            for token in self.tokens:
                spec = token.spec
                if token.officer:
                    spec = dataclasses.replace(spec, pin=pins[token.name])
                opened[token.name] = self.opener(spec)
        except KeyStoreError as exc:
            for store in opened.values():
                store.close()
            self._close_sessions()
            self.last_error = str(exc)
            raise
        self._stores = opened
        self._pins = {t.name: pins[t.name] for t in self.officer_tokens()}
        self.state, self.since, self.by, self.last_error = ACTIVE, now, by, None

    def deactivate(self, *, now: datetime, by: str) -> None:
        """Close every store, log every token out and forget the PINs (DPS 5.2.9)."""
        stores, self._stores, self._pins = self._stores, {}, {}
        try:
            for store in stores.values():
                store.close()
        finally:
            self._close_sessions()
            self.state, self.since, self.by = LOCKED, now, by

    def pins(self) -> dict[str, str]:
        """The officer's PINs, for a signing process this one starts (through a pipe)."""
        if not self.active:
            raise KeyStoreLoginError("the HSM is locked: 'tldsec hsm activate' first")
        return dict(self._pins)

    def stores(self) -> dict[str, KeyStore]:
        """The open store of each token (empty while locked)."""
        return dict(self._stores)

    def status(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "since": self.since.isoformat() if self.since else None,
            "by": self.by,
            "tokens": [
                {"name": t.name, "label": t.label, "officer_pin": t.officer} for t in self.tokens
            ],
            "last_error": self.last_error,
        }

    def _close_sessions(self) -> None:
        for module in {t.spec.module for t in self.tokens if t.spec.backend == "pkcs11"}:
            if module is not None:
                p11lib.close_all_sessions(module)
