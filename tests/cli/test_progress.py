"""Issue 22, item 4: long runs show progress with the rate and the time left: a rich bar
on a terminal (a real pseudo-terminal here), periodic lines otherwise."""

from __future__ import annotations

import io
import os
import select

from tldsec.progress import ProgressLine


def test_without_a_terminal_it_writes_periodic_lines_with_rate_and_time_left() -> None:
    out = io.StringIO()
    progress = ProgressLine("signing", stream=out, interval=0.0)
    for done in range(0, 1001, 250):
        progress(done, 1000)
    lines = out.getvalue().splitlines()
    assert len(lines) == 5
    assert lines[1].startswith("signing: 250/1,000 (25%) ") and "/s, about " in lines[1]
    assert lines[1].endswith(" s left")
    assert lines[-1].startswith("signing: 1,000/1,000 (100%) ") and "left" not in lines[-1]


def test_lines_are_rate_limited_but_the_last_one_always_comes() -> None:
    out = io.StringIO()
    progress = ProgressLine("verifying", stream=out, interval=3600.0)
    for done in range(1, 101):
        progress(done, 100)
    assert out.getvalue().splitlines() == [
        line for line in out.getvalue().splitlines() if line.startswith("verifying: 100/100")
    ]


def test_on_a_terminal_a_bar_with_rate_and_eta() -> None:
    master, slave = os.openpty()
    try:
        with os.fdopen(slave, "w", closefd=False) as tty:
            assert tty.isatty()
            progress = ProgressLine("signing", stream=tty)
            for done in (0, 500, 1000):
                progress(done, 1000)
            tty.flush()
        chunks = []
        while select.select([master], [], [], 1.0)[0]:  # all the terminal got
            chunks.append(os.read(master, 65536))
        shown = b"".join(chunks).decode("utf-8", "replace")
    finally:
        os.close(master)
        os.close(slave)
    assert "signing" in shown and "1000/1000" in shown and "/s" in shown
    assert "0:00:00" in shown  # rich's time-remaining column
