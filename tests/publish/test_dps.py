"""The DPS's versions (DPS 1.4.3) and its text as sections."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from tldsec.publish.dps import DpsVersion, in_force, ordered, parse_sections, upcoming

MODEL = (Path(__file__).parents[1] / "fixtures" / "dps-model.txt").read_text("utf-8")


def test_the_model_dps_parses_into_its_numbered_sections() -> None:
    sections = parse_sections(MODEL)
    numbers = [s.number for s in sections]
    assert numbers[:3] == ["1", "1.1", "1.2"] and numbers[-1] == "8"
    assert len(numbers) == len(set(numbers)) == 105
    by = {s.number: s for s in sections}
    assert by["2.1"].title == "Repositories"
    assert by["1.4.3"].blocks[0].text.startswith("Changes to this DPS will result in new revisions")
    # the references list ("1. https://...") is not taken for sections
    assert "https://tools.ietf.org/html/rfc1034" in " ".join(b.text for b in by["8"].blocks)
    bullets = [b.text for b in by["4.4.1"].blocks if b.kind == "li"]
    assert "Key activation and deactivation, rollover events, algorithm changes" in bullets


def test_version_in_force_changes_at_midnight_utc_of_its_day() -> None:
    a = DpsVersion("1.0", date(2025, 1, 1), "text")
    b = DpsVersion("1.1", date(2025, 6, 1), "text")
    just_before = datetime(2025, 5, 31, 23, 59, 59, tzinfo=UTC)
    assert in_force([b, a], just_before) is a and upcoming([a, b], just_before) == [b]
    assert in_force([a, b], datetime(2025, 6, 1, tzinfo=UTC)) is b
    assert in_force([a], datetime(2024, 12, 31, tzinfo=UTC)) is None


def test_ambiguous_versions_are_refused() -> None:
    with pytest.raises(ValueError, match="the same day"):
        ordered([DpsVersion("1", date(2025, 1, 1), "x"), DpsVersion("2", date(2025, 1, 1), "y")])
    with pytest.raises(ValueError, match="same version number"):
        ordered([DpsVersion("1", date(2025, 1, 1), "x"), DpsVersion("1", date(2025, 2, 1), "y")])
    with pytest.raises(ValueError, match="text is empty"):
        DpsVersion("1", date(2025, 1, 1), "  \n")
