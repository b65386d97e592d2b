"""Which of the installation's zones a name belongs to (decision 57): pure, no database.

Every EPP ``domain:`` and ``host:`` command first finds the name's zone, as Nomulus
finds a name's TLD before anything else: the longest origin of the installation that
the name is strictly below, label by label (``a.notexample`` is not below
``example.``), compared in lower case (RFC 4343). A name below no origin belongs to no
zone; an origin itself is no zone's object (the apex is the builder's, not a
registrar's).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from tldsec.errors import ConfigError


def absolute(name: str) -> str:
    """``name`` in lower case with its final dot: how origins are compared."""
    name = name.lower()
    return name if name.endswith(".") else name + "."


@dataclass(frozen=True, slots=True)
class ZoneIndex:
    """The installation's origins (``example.``), in the order the home lists them."""

    origins: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(set(self.origins)) != len(self.origins):
            raise ConfigError(f"a zone is listed twice: {', '.join(self.origins)}")
        if any(o != absolute(o) or o == "." for o in self.origins):
            raise ConfigError(
                f"zone origins are lower-case absolute names below the root: {self.origins}"
            )

    @classmethod
    def of(cls, origins: Iterable[str]) -> ZoneIndex:
        """The index of ``origins`` as written (``Example``, ``shop.``)."""
        return cls(tuple(absolute(o) for o in origins))

    def zone_of(self, name: str) -> str | None:
        """The origin of the zone ``name`` is below (the longest one), or None."""
        labels = absolute(name).split(".")[:-1]
        known = set(self.origins)
        for i in range(1, len(labels)):  # from the longest proper suffix
            suffix = ".".join(labels[i:]) + "."
            if suffix in known:
                return suffix
        return None

    def described(self) -> str:
        """The origins for a message: ``example., shop.``."""
        return ", ".join(self.origins)
