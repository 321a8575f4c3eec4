"""PURE: Docker's raw stats of one container -> the summary Zun's stats API answers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MIB = 1024 * 1024


def summarise(name: str, raw: Mapping[str, Any]) -> dict[str, Any]:
    cpu = raw.get("cpu_stats", {})
    system = cpu.get("system_cpu_usage") or 0
    cpu_percent = 100.0 * cpu.get("cpu_usage", {}).get("total_usage", 0) / system \
        if system else 0.0
    memory = raw.get("memory_stats", {})
    detail = memory.get("stats") or {}
    cache = detail.get("total_inactive_file") or detail.get("inactive_file") or 0
    usage = (memory.get("usage", 0) - cache) / MIB
    limit = memory.get("limit", 0) / MIB
    blocks = raw.get("blkio_stats", {}).get("io_service_bytes_recursive") or []
    read = sum(b["value"] for b in blocks if b.get("op", "").lower() == "read")
    write = sum(b["value"] for b in blocks if b.get("op", "").lower() == "write")
    networks = (raw.get("networks") or {}).values()
    received = sum(n.get("rx_bytes", 0) for n in networks)
    sent = sum(n.get("tx_bytes", 0) for n in networks)
    return {
        "CONTAINER": name,
        "CPU %": cpu_percent,
        "MEM USAGE(MiB)": usage,
        "MEM LIMIT(MiB)": limit,
        "MEM %": 100.0 * usage / limit if limit else 0.0,
        "BLOCK I/O(B)": f"{read}/{write}",
        "NET I/O(B)": f"{received}/{sent}",
    }
