"""The zone cycle: build -> keys -> sign -> verify -> distribute, atomically (DPS 5.6, 6).

``run`` is one cycle and the check whether one is needed (``Cycle``); ``result`` what a
cycle did; ``state`` what cycles leave behind (``zones/cycle.json``) and why the next must
run; ``open`` builds a ``Cycle`` from a home for an entry point; ``schedule`` decides
when ``tldsec serve`` runs one (change-driven with a debounce, at intervals, on demand);
``safeguards`` what a cycle proves besides the gate: ``reconcile`` (the unsigned zone
equals the registry), ``guard`` (a collapse waits for an operator) and the digests of
the bytes it reuses (``tldsec.filedigest``).
"""

from tldsec.cycle.open import CycleSettings, load_cycle_settings, open_cycle, open_store
from tldsec.cycle.result import CycleResult, Outcome
from tldsec.cycle.run import Cycle
from tldsec.cycle.state import LAST_REPORT, STATE_FILE, CycleState, Pending

__all__ = [
    "LAST_REPORT",
    "STATE_FILE",
    "Cycle",
    "CycleResult",
    "CycleSettings",
    "CycleState",
    "Outcome",
    "Pending",
    "load_cycle_settings",
    "open_cycle",
    "open_store",
]
