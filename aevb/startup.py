"""Ctrl-C and SIGTERM from a program's first instruction: one line, exit 130 or 143, nothing written.

A program calls :func:`guard` before its first import, when it runs as ``__main__``; until
:func:`aevb.cli.run` takes over (and turns either signal into a stop that says what was saved), a
signal that lands anywhere in start-up, the imports of torch and Pyro included, ends the process
at once with one line instead of a traceback. Nothing has been written then: the output folder is
opened inside the program's ``main``. This module imports nothing heavy.
"""

import os
import signal

#: Signal → (exit status, word), as a shell reports a process ended by it.
SIGNALS = {signal.SIGINT: (130, "interrupted"), signal.SIGTERM: (143, "terminated")}


def _stop(signum, frame):
    status, word = SIGNALS[signum]
    os.write(2, f"{word} while starting: nothing was written\n".encode())
    os._exit(status)  # no clean-up to run: start-up has opened no file


def guard() -> None:
    """Install the start-up handlers for SIGINT and SIGTERM (see the module docstring)."""
    for signum in SIGNALS:
        signal.signal(signum, _stop)
