"""The kernel's clock status (adjtimex) as the writer sees it (DPS 5.7)."""

from __future__ import annotations

import sys

import pytest

from tldsec.audit.clockstatus import (
    STA_UNSYNC,
    TIME_ERROR,
    KernelClockStatus,
    SyncState,
    interpret_adjtimex,
)


@pytest.mark.parametrize(
    ("result", "status", "state"),
    [
        (0, 0, SyncState.SYNCHRONISED),  # TIME_OK
        (1, 0x2001, SyncState.SYNCHRONISED),  # TIME_INS, STA_PLL | STA_NANO
        (TIME_ERROR, 0, SyncState.UNSYNCHRONISED),
        (0, STA_UNSYNC, SyncState.UNSYNCHRONISED),
        (-1, 0, SyncState.UNKNOWN),
    ],
)
def test_adjtimex_results_mean_what_the_man_page_says(
    result: int, status: int, state: SyncState
) -> None:
    assert interpret_adjtimex(result, status) is state


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="adjtimex is Linux's")
def test_the_kernel_answers_on_linux() -> None:
    # Synchronised or not depends on the machine; unknown would mean the call failed.
    assert KernelClockStatus().state() in (SyncState.SYNCHRONISED, SyncState.UNSYNCHRONISED)
