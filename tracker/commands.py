"""What every fkd command shares: errors as one line and an exit code, and signals that stop a run cleanly.

Exit codes: 0 done, 1 a failure while running (a write that failed), 2 a refusal before anything was
written (bad option, input or output), 128 + the signal's number for a run stopped by SIGINT (130),
SIGTERM (143) or SIGHUP (129).
"""

import signal
import sys

import click

REFUSED, FAILED = 2, 1


def fail(prog, msg, code=REFUSED):
    click.echo(f"{prog}: error: {msg}", err=True)
    sys.exit(code)


class Command(click.Command):
    """A click command whose usage errors are one line (`PROG: error: ...`, exit 2) instead of three."""

    def main(self, args=None, prog_name=None, **extra):
        extra.pop("standalone_mode", None)
        try:
            return super().main(args, prog_name, standalone_mode=False, **extra)
        except click.exceptions.Exit as e:
            sys.exit(e.exit_code)
        except click.Abort:
            fail(self.name, "aborted", 130)
        except click.ClickException as e:
            fail(self.name, e.format_message(), e.exit_code)


class Stop:
    """SIGINT, SIGTERM and SIGHUP noted rather than raised, inside the block: a run loop checks `signum`
    between frames, finishes its outputs, and exits with `exit_code`."""

    SIGNALS = tuple(s for s in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)) if s is not None)

    def __init__(self):
        self.signum, self._before = None, {}

    def _note(self, signum, frame):
        self.signum = signum

    def __enter__(self):
        for s in self.SIGNALS:
            try:
                self._before[s] = signal.signal(s, self._note)
            except ValueError:   # not the main thread: signals keep their handlers
                break
        return self

    def __exit__(self, *exc):
        for s, handler in self._before.items():
            signal.signal(s, handler)

    @property
    def name(self):
        return signal.Signals(self.signum).name

    @property
    def exit_code(self):
        return 128 + self.signum
