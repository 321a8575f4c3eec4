"""EDGE: one error for what an OpenStack service refused or could not do, with the HTTP status
an API caller should get, translated from openstacksdk's and keystoneauth's exceptions."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import keystoneauth1.exceptions
import openstack.exceptions

_PASSED_ON = (400, 403, 404, 409, 413)  # the caller's own doing: told as it is


class ServiceError(Exception):
    """What `service` refused or could not do; `status` is what the API answers."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@contextlib.contextmanager
def translated(service: str, doing: str) -> Iterator[None]:
    """openstacksdk's and keystoneauth's errors as ServiceErrors saying what failed."""
    try:
        yield
    except openstack.exceptions.HttpException as error:
        status = error.status_code or 502
        raise ServiceError(status if status in _PASSED_ON else 502,
                           f"{service} refused to {doing}: {error.details or error}") from error
    except (keystoneauth1.exceptions.ClientException, OSError,
            openstack.exceptions.SDKException) as error:
        raise ServiceError(503, f"{service} could not {doing}: {error}") from error
