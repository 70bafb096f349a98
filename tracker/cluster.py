"""Joining a Ray cluster, for `fkd-train --ray` and `fkd-track --videos --ray` (extra `fkd[distributed]`).

ADDRESS is what `ray.init` takes: `local` starts a cluster of this machine for the run, `auto` joins the one
`ray start` runs here, and `ray://HOST:10001` or `HOST:6379` a remote one. Every node must have fkd installed and
see the folders the run writes to (the training work folder, the collection's output folder).
"""

import logging

from .errors import RunError, first_line


def connect(address):
    """The `ray` module, connected to the cluster at `address`; a RunError in one line where it cannot be."""
    try:
        import ray
    except ImportError:
        raise RunError("Ray is missing: pip install 'fkd[distributed]'") from None
    if ray.is_initialized():
        return ray
    try:
        if address == "local":
            ray.init(include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
        else:
            ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise RunError(f"cannot join the Ray cluster at {address!r}: {first_line(e)}") from None
    return ray


def task_error(error):
    """What a Ray task raised: the fkd error itself where it was one, so commands report it in one line."""
    import ray

    if isinstance(error, ray.exceptions.RayTaskError) and isinstance(error.cause, Exception):
        return error.cause
    return RunError(first_line(error, 200))
