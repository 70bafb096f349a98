"""fkd's errors: every one derives from FkdError, so a caller can catch fkd's failures apart from others.

Library code raises these with a message that names the file or option and the fix; only the
command-line tools turn them into a one-line message and an exit code.
"""


def first_line(error, limit=160):
    """The first line of an error's message (or its type's name), for one-line reports of foreign errors."""
    text = str(error).strip()
    return text.splitlines()[0][:limit] if text else type(error).__name__


class FkdError(Exception):
    """Base of every error fkd raises on purpose."""


class OptionError(FkdError, ValueError):
    """An option outside its range: the message names the option and the range it takes."""


class ModelError(FkdError):
    """Missing or corrupt model files or manifest."""


class DetectorError(FkdError):
    """A detector that cannot start: missing model file or package."""


class SourceError(FkdError):
    """A camera, video, image or output that cannot be used."""


class OutputError(FkdError):
    """An output that cannot be written, or whose write failed part way."""


class DataError(FkdError, ValueError):
    """Training data that cannot be used; the message names the file and row."""


class RunError(FkdError):
    """A training run that cannot go on: a damaged run folder, a diverging member, a misfit start."""
