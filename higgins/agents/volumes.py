"""EDGE: a Cinder volume's filesystem on the agent's host, for a container to bind-mount: the
volume's file (os-brick's LOCAL connection, through integrations.cinder) on a loop device,
formatted ext4 when blank, mounted at a target directory; and unmounted again. Side effects:
runs losetup, blkid, mkfs.ext4, findmnt, mount and umount as root."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path
from typing import Any

from higgins.faults import DriverError
from higgins.integrations import cinder

# The only data path this host's kernel has: Cinder's driver names a file and a loop device
# carries it (docs/cinder-data-path.md). No SCSI/iSCSI, NVMe-oF, RBD/NBD, NFS or device-mapper.
SUPPORTED = ("local",)
_COMMAND_TIMEOUT = 120  # mkfs.ext4 of a large volume takes a while
_lock = threading.Lock()  # one loop device per file: look up and set up under one lock

connector = cinder.connector  # the agent's name for it; os-brick stays in integrations


class VolumeError(DriverError):
    """A volume could not be mounted or unmounted on this host; the message says why."""


def mount(connection_info: dict[str, Any], target: Path) -> str:
    """Mount the volume Cinder's `connection_info` describes at `target` (made if missing), on
    a loop device (an existing one for the same file is reused), formatting it ext4 first when
    blkid finds no filesystem on it; nothing when it is already mounted there. The loop
    device."""
    check_supported(connection_info)
    try:
        path = cinder.connect_volume(connection_info)
    except cinder.CinderError as error:
        raise VolumeError(str(error)) from error
    with _lock:
        mounted = _source_of(target)
        if mounted is not None:
            return _same_file(mounted, path, target)
        device, made = _loop_device(path)
        try:
            if _blank(device):
                _run("mkfs.ext4", "-q", device)
            target.mkdir(parents=True, exist_ok=True)
            _run("mount", device, str(target))
        except VolumeError:
            if made:
                _run("losetup", "-d", device)
            raise
    return device


def unmount(target: Path) -> None:
    """Unmount `target` and free its loop device unless something else still mounts it;
    nothing when nothing is mounted there."""
    with _lock:
        device = _source_of(target)
        if device is None:
            return
        _run("umount", str(target))
        if device.startswith("/dev/loop") and _source_of_device(device) is None:
            _run("losetup", "-d", device)


def check_supported(connection_info: dict[str, Any]) -> None:
    """Refuse a connection of a kind this host cannot attach, naming it and why."""
    kind = connection_info.get("driver_volume_type")
    if kind not in SUPPORTED:
        raise VolumeError(
            f"Cinder volume connection type {kind!r} is not supported on this host: only "
            f"{', '.join(SUPPORTED)} (a volume file on a loop device) is, because its kernel "
            "has no iSCSI, NVMe-oF, RBD, NFS or device-mapper support "
            "(docs/cinder-data-path.md).")


def _same_file(device: str, path: str, target: Path) -> str:
    """`device`, already mounted at `target`, when it carries the file at `path`."""
    if _backing_file(device) != path:
        raise VolumeError(f"{target} already has {device} mounted, not the volume {path}.")
    return device


def _loop_device(path: str) -> tuple[str, bool]:
    """A loop device for the file: the one already set up for it, else a new one (True)."""
    existing = _run("losetup", "--noheadings", "--output", "NAME", "--associated", path)
    if existing.split():
        return existing.split()[0], False
    return _run("losetup", "--find", "--show", path).strip(), True


def _blank(device: str) -> bool:
    """Whether blkid finds no signature at all on the device (its exit status 2)."""
    probe = subprocess.run(["blkid", "-p", device], capture_output=True, text=True,
                           timeout=_COMMAND_TIMEOUT, check=False)
    if probe.returncode not in (0, 2):
        raise VolumeError(f"blkid -p {device} failed: {probe.stderr.strip()}")
    return probe.returncode == 2


def _source_of(target: Path) -> str | None:
    """The device mounted exactly at `target` (the topmost, were several), if any."""
    found = subprocess.run(["findmnt", "--noheadings", "--output", "SOURCE", "--mountpoint",
                            str(target)], capture_output=True, text=True,
                           timeout=_COMMAND_TIMEOUT, check=False)
    lines = found.stdout.split()
    return lines[-1] if lines else None


def _source_of_device(device: str) -> str | None:
    """Where `device` is still mounted, if anywhere."""
    found = subprocess.run(["findmnt", "--noheadings", "--output", "TARGET", "--source",
                            device], capture_output=True, text=True,
                           timeout=_COMMAND_TIMEOUT, check=False)
    return found.stdout.strip() or None


def _backing_file(device: str) -> str:
    return _run("losetup", "--noheadings", "--output", "BACK-FILE", device).strip()


def _run(*command: str) -> str:
    """The command's output; its failure as a VolumeError carrying its stderr."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=True,
                              stdin=subprocess.DEVNULL, timeout=_COMMAND_TIMEOUT)
    except subprocess.CalledProcessError as error:
        raise VolumeError(f"{' '.join(command)} failed: {error.stderr.strip()}") from error
    except (OSError, subprocess.TimeoutExpired) as error:
        raise VolumeError(f"{' '.join(command)} failed: {error}") from error
    return done.stdout
