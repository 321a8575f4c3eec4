"""EDGE (runs inside cinder-volume): a Cinder volume driver whose volumes are sparse files.

Side effects: creates, grows and deletes files under [<backend>] higgins_volumes_dir.

Why it exists: this machine's kernel has no device-mapper, iSCSI, NVMe-oF, NFS or RBD client,
so no in-tree driver has a data path here (docs/cinder-data-path.md). A volume is a sparse file
of `size` GiB, allocated as it is written, in a directory every host on this machine shares.
A connection answers driver_volume_type `local` with `device_path` the file, which os-brick's
LOCAL connector hands to the consumer unchanged; the consumer (Higgins' agent) puts a loop
device over it. Only consumers on this machine can reach the data.

Supported: create (blank only), delete, extend, attach and detach (the attachment API).
Not supported: snapshots, clones, volumes from snapshots, multiattach (one ext4 mounted twice
would be corrupted). Images to or from volumes go through Cinder's generic code, untested here.
"""

from __future__ import annotations

import os
from typing import Any

from cinder import exception
from cinder.volume import driver
from oslo_config import cfg
from oslo_log import log as logging

LOG = logging.getLogger(__name__)
GiB = 1024**3

OPTIONS = [
    cfg.StrOpt("higgins_volumes_dir", default="/var/lib/higgins-cinder/volumes",
               help="Directory holding one sparse file per volume; it must be the same path "
                    "for every consumer that attaches these volumes."),
]


class SparseFileDriver(driver.BaseVD):
    """Volumes as sparse files in one local directory, attached through os-brick LOCAL."""

    VERSION = "1.0.0"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.configuration.append_config_values(OPTIONS)
        self.directory = self.configuration.higgins_volumes_dir
        self.backend_name = self.configuration.safe_get("volume_backend_name") or "local"

    @staticmethod
    def get_driver_options() -> list[cfg.Opt]:
        return OPTIONS

    def path_of(self, volume: Any) -> str:
        return os.path.join(self.directory, f"volume-{volume.id}")

    # Setup and capacity

    def do_setup(self, context: Any) -> None:
        os.makedirs(self.directory, mode=0o700, exist_ok=True)

    def check_for_setup_error(self) -> None:
        if not os.access(self.directory, os.W_OK | os.X_OK):
            raise exception.VolumeBackendAPIException(
                data=f"volumes directory {self.directory} is not writable")

    def _update_volume_stats(self) -> None:
        disk = os.statvfs(self.directory)
        volumes = [name for name in os.listdir(self.directory) if name.startswith("volume-")]
        provisioned = sum(os.stat(os.path.join(self.directory, name)).st_size
                          for name in volumes)
        self._stats = {
            "volume_backend_name": self.backend_name,
            "vendor_name": "Higgins",
            "driver_version": self.VERSION,
            "storage_protocol": "file",
            "pools": [{
                "pool_name": self.backend_name,
                "total_capacity_gb": round(disk.f_blocks * disk.f_frsize / GiB, 2),
                "free_capacity_gb": round(disk.f_bavail * disk.f_frsize / GiB, 2),
                "provisioned_capacity_gb": round(provisioned / GiB, 2),
                "total_volumes": len(volumes),
                "reserved_percentage": self.configuration.reserved_percentage,
                "max_over_subscription_ratio":
                    self.configuration.max_over_subscription_ratio,
                "thin_provisioning_support": True,  # files are sparse
                "thick_provisioning_support": False,
                "multiattach": False,
                "QoS_support": False,
                "filter_function": self.get_filter_function(),
                "goodness_function": self.get_goodness_function(),
            }],
        }

    # Volumes

    def create_volume(self, volume: Any) -> None:
        """A blank file of volume.size GiB: emptied first, so a retried create is blank too."""
        descriptor = os.open(self.path_of(volume), os.O_CREAT | os.O_WRONLY, 0o600)
        try:
            os.ftruncate(descriptor, 0)
            os.ftruncate(descriptor, volume.size * GiB)
        finally:
            os.close(descriptor)
        LOG.info("Created %s GiB sparse volume %s", volume.size, volume.id)

    def delete_volume(self, volume: Any) -> None:
        """Unlinking is enough: a new volume is a new file, so no data leaks into it."""
        try:
            os.unlink(self.path_of(volume))
        except FileNotFoundError:
            LOG.info("Volume %s had no file (its create failed); nothing to delete", volume.id)

    def extend_volume(self, volume: Any, new_size: int) -> None:
        path = self.path_of(volume)
        if not os.path.exists(path):
            raise exception.VolumeBackendAPIException(data=f"volume file {path} is missing")
        os.truncate(path, new_size * GiB)

    def create_volume_from_snapshot(self, volume: Any, snapshot: Any) -> None:
        raise NotImplementedError("the higgins sparse-file driver has no snapshots")

    def create_cloned_volume(self, volume: Any, src_vref: Any) -> None:
        raise NotImplementedError("the higgins sparse-file driver cannot clone volumes")

    def create_snapshot(self, snapshot: Any) -> None:
        raise NotImplementedError("the higgins sparse-file driver has no snapshots")

    def delete_snapshot(self, snapshot: Any) -> None:
        """No snapshot is ever made, so one in error is deleted at no cost."""

    # Exports and connections: the file is its own export

    def ensure_export(self, context: Any, volume: Any) -> None:
        pass

    def create_export(self, context: Any, volume: Any, connector: dict[str, Any]) -> None:
        pass

    def remove_export(self, context: Any, volume: Any) -> None:
        pass

    def initialize_connection(self, volume: Any, connector: dict[str, Any]) -> dict[str, Any]:
        path = self.path_of(volume)
        if not os.path.exists(path):
            raise exception.VolumeBackendAPIException(data=f"volume file {path} is missing")
        return {"driver_volume_type": "local", "data": {"device_path": path}}

    def terminate_connection(self, volume: Any, connector: dict[str, Any] | None,
                             **kwargs: Any) -> None:
        pass
