"""Progress of long computations: a bar on a terminal, periodic plain lines in a log.

Every long step of the collection (training epochs, the log-likelihood estimators, HMC,
NUTS, per-point refinement, sweeps and comparison grids) reports through :func:`progress`.

* On a terminal (stderr is a TTY) it is a tqdm bar, in a Jupyter notebook tqdm's widget.
* Otherwise (a log file, CI) it writes plain lines to stderr, never carriage-return redraws:
  one when another 10% is done (at most one per :data:`MIN_INTERVAL` seconds) and at least
  one every :data:`MAX_INTERVAL` seconds, each with the count, the elapsed time and an
  estimate of the time left. Only the outermost open report writes, so the log of a sweep
  holds the sweep's progress rather than that of every epoch inside it; the inner ones keep
  it alive (a line at least every :data:`MAX_INTERVAL` seconds while anything runs).

``AEVB_PROGRESS=bar``, ``lines`` or ``off`` overrides the choice; programs turn it off with
``--quiet``. Under torch.distributed only rank 0 reports.
"""

import os
import sys
import time

from tqdm.auto import tqdm

MODES = ("auto", "bar", "lines", "off")
#: Line mode: at most one line per 10% step within this many seconds, at least one line this often.
MIN_INTERVAL, MAX_INTERVAL = 10.0, 30.0


def mode() -> str:
    """``bar``, ``lines`` or ``off``: ``$AEVB_PROGRESS``, else a bar on a terminal or in a Jupyter
    notebook (tqdm's widget there) and lines otherwise."""
    chosen = os.environ.get("AEVB_PROGRESS", "auto")
    if chosen not in MODES:
        raise ValueError(f"AEVB_PROGRESS must be one of {MODES}, got {chosen!r}")
    if chosen == "auto":
        return "bar" if sys.stderr.isatty() or "ipykernel" in sys.modules else "lines"
    return chosen


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


class Silent:
    """A report that reports nothing (disabled, quiet, or not rank 0)."""

    def update(self, n=1):
        pass

    def set_postfix_str(self, text, refresh=True):
        pass

    def set_description(self, text, refresh=True):
        pass

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Lines(Silent):
    """Progress as periodic plain lines (see the module docstring)."""

    open_reports = []  # the stack of open line reports; only the first one writes

    def __init__(self, total, desc: str, unit: str = "it", file=None):
        self.total, self.desc, self.unit, self.file = total, desc, unit, file
        self.done, self.postfix, self.lines = 0, "", 0
        self.start = self.last = time.perf_counter()
        self.last_fraction = 0.0
        Lines.open_reports.append(self)

    @property
    def outermost(self) -> bool:
        return bool(Lines.open_reports) and Lines.open_reports[0] is self

    def update(self, n=1):
        self.done += n
        now = time.perf_counter()
        outer = Lines.open_reports[0] if Lines.open_reports else self
        if outer is not self:  # an inner report keeps the outer one's clock going
            outer.tick(now)
            return
        fraction = self.done / self.total if self.total else 0.0
        if fraction < 1 and fraction - self.last_fraction >= 0.1 and now - self.last >= MIN_INTERVAL:
            self.write_line(now)
        else:
            self.tick(now)

    def tick(self, now: float) -> None:
        """A line if :data:`MAX_INTERVAL` seconds passed without one."""
        if now - self.last >= MAX_INTERVAL:
            self.write_line(now)

    def write_line(self, now: float) -> None:
        elapsed = now - self.start
        count = f"{self.done:,.0f}" + (f"/{self.total:,.0f}" if self.total else "") + f" {self.unit}"
        if self.total and self.done:
            left = _duration(elapsed * (self.total - self.done) / self.done)
            count += f" ({100 * self.done / self.total:.0f}%), {_duration(elapsed)} elapsed, about {left} left"
        else:
            count += f", {_duration(elapsed)} elapsed"
        print(
            f"{self.desc}: {count}" + (f"; {self.postfix}" if self.postfix else ""),
            file=self.file or sys.stderr,
            flush=True,
        )
        self.last, self.lines = now, self.lines + 1
        self.last_fraction = self.done / self.total if self.total else 0.0

    def set_postfix_str(self, text, refresh=True):
        self.postfix = text

    def set_description(self, text, refresh=True):
        self.desc = text

    def close(self):
        if self in Lines.open_reports:
            if self.outermost and self.lines:  # a report that wrote lines says when it is done
                took = _duration(time.perf_counter() - self.start)
                print(
                    f"{self.desc}: done, {self.done:,.0f} {self.unit} in {took}"
                    + (f"; {self.postfix}" if self.postfix else ""),
                    file=self.file or sys.stderr,
                    flush=True,
                )
            Lines.open_reports.remove(self)


def progress(total, desc: str, *, unit: str = "it", enabled: bool = True, leave: bool = False, **bar_options):
    """A progress report over ``total`` units of work (None when unknown): a tqdm bar, periodic
    lines or nothing (see the module docstring). Use ``update(n)``, ``set_postfix_str`` and
    ``close()``, or a ``with`` block."""
    from . import distributed

    chosen = mode()
    if not enabled or chosen == "off" or not distributed.is_main_process():
        return Silent()
    if chosen == "lines":
        return Lines(total, desc, unit)
    return tqdm(total=total, desc=desc, unit=unit, leave=leave, dynamic_ncols=True, **bar_options)


def write(message: str) -> None:
    """Print a message between progress bars (a bar on a terminal is redrawn below it)."""
    if mode() == "bar":
        tqdm.write(message)
    else:
        print(message, flush=True)
