"""A service Higgins depends on (broker, event log, view store) is away for now. Adapters raise
subclasses; consumers retry these for as long as it takes, the API answers 503."""


class ServiceUnavailable(RuntimeError):
    """Try again later; nothing was accepted."""
