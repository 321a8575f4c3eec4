"""Docker's raw stats summarised the way Zun's stats API answers."""

from __future__ import annotations

from higgins.agents import stats

MIB = 1024 * 1024
RAW = {
    "cpu_stats": {"cpu_usage": {"total_usage": 50}, "system_cpu_usage": 1000},
    "memory_stats": {"usage": 30 * MIB, "limit": 100 * MIB,
                     "stats": {"inactive_file": 10 * MIB}},
    "blkio_stats": {"io_service_bytes_recursive": [
        {"op": "Read", "value": 3}, {"op": "Write", "value": 4}, {"op": "read", "value": 5}]},
    "networks": {"eth0": {"rx_bytes": 7, "tx_bytes": 8}, "eth1": {"rx_bytes": 1, "tx_bytes": 2}},
}


def test_stats_are_summed_and_memory_excludes_the_page_cache() -> None:
    assert stats.summarise("web", RAW) == {
        "CONTAINER": "web", "CPU %": 5.0, "MEM USAGE(MiB)": 20.0, "MEM LIMIT(MiB)": 100.0,
        "MEM %": 20.0, "BLOCK I/O(B)": "8/4", "NET I/O(B)": "8/10"}


def test_missing_counters_give_zeros_not_errors() -> None:
    summary = stats.summarise("idle", {})
    assert (summary["CPU %"], summary["MEM %"], summary["NET I/O(B)"]) == (0.0, 0.0, "0/0")
