"""SHARED: failures every layer names. ServiceUnavailable: a service Higgins depends on (broker,
event log, view store) is away for now; adapters raise subclasses, consumers retry them for as
long as it takes, the API answers 503."""


class ServiceUnavailable(RuntimeError):
    """Try again later; nothing was accepted."""


class DriverError(Exception):
    """The container runtime (Docker) refused or failed; the message says why, for
    status_reason and for the API's 409."""
