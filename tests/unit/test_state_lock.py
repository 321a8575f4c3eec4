"""The state directory's lock: one all-in-one at a time; replays of the log side by side."""

from __future__ import annotations

from pathlib import Path

import pytest

from higgins.runtime.allinone import StateInUse, lock_state


def test_readers_share_the_state_and_an_all_in_one_waits_for_them(tmp_path: Path) -> None:
    first, second = lock_state(tmp_path, shared=True), lock_state(tmp_path, shared=True)
    with pytest.raises(StateInUse):
        lock_state(tmp_path)
    first.close()
    second.close()
    lock_state(tmp_path).close()


def test_a_running_all_in_one_keeps_everyone_else_out(tmp_path: Path) -> None:
    running = lock_state(tmp_path)
    for shared in (True, False):
        with pytest.raises(StateInUse, match="already running"):
            lock_state(tmp_path, shared=shared)
    running.close()
    lock_state(tmp_path, shared=True).close()
