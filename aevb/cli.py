"""Command-line programs: flags generated from the option table, ``--config`` files, one error wrapper.

A program declares the keys it reads; :class:`Program` builds its argument parser from
:mod:`aevb.config` (so a flag has one name, default and help everywhere) and resolves a
configuration in this order: the table's defaults, then a ``--config`` file, then the flags.
Parsing happens when ``main(argv)`` runs, so every program can be imported and called
in-process (``main(["--epochs", "1"])``). :func:`run` is the one error wrapper: bad input
of any kind ends the program with one line on stderr and a non-zero exit status.

    PROGRAM = cli.Program("mnist_aevb", __doc__, keys=[...])

    def main(argv=None):
        settings = PROGRAM.parse(argv)
        ...

    if __name__ == "__main__":
        sys.exit(cli.run(main))
"""

import argparse
import errno
import signal
import sys
import threading
from pathlib import Path

from . import config as cfg

#: Keys every program reads.
COMMON_KEYS = ("config", "quiet")
#: Keys of a program that trains runs into an output folder.
IO_KEYS = ("out", "data_dir", "device", "quiet", "tensorboard")


class UsageError(cfg.ConfigError):
    """The command line itself is wrong (an unknown flag, a value that is not a number, ...)."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C, with what the program had saved when it came (raised by a program that catches
    :class:`KeyboardInterrupt` to say so; :func:`run` prints the message)."""


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors raised (one line through :func:`run`) instead of printed with the usage."""

    def error(self, message):
        raise UsageError(f"{message} (--help lists the flags)")


class Settings(dict):
    """A program's resolved configuration: every key it reads, and in :attr:`explicit` the keys a
    configuration file or a flag set (the rest hold the table's defaults)."""

    def __init__(self, values: dict, explicit=()):
        super().__init__(values)
        self.explicit = frozenset(explicit)

    def run_keys(self, explicit_only: bool = False) -> dict:
        """The run keys among these settings (only those set explicitly, with ``explicit_only``)."""
        return {k: v for k, v in self.items() if k in cfg.RUN_KEYS and (k in self.explicit or not explicit_only)}


#: "The program sets no default of its own for this key".
_TABLE_DEFAULT = object()


def help_text(option: cfg.Option, program_default=_TABLE_DEFAULT) -> str:
    """An option's help, with its default where the text does not say it already, or with the
    program's own default (``program_default``, when the program sets one) in its place."""
    text = option.help
    if program_default is not _TABLE_DEFAULT:  # a default of this program's, shown instead of the table's
        return f"{text} (this program's default: {_shown(option, program_default)})"
    if "default" not in text and option.type is not bool and option.default is not None:
        text += f" (default: {_shown(option, option.default)})"
    return text


#: How ``--help`` names the default of a key the program takes from the checkpoint it reads.
INHERITED = "the checkpoint's"


def _shown(option: cfg.Option, value) -> str:
    if value is INHERITED:
        return value
    if value is None:
        return "none"
    return " ".join(map(str, value)) if option.many else str(value)


class Program:
    """A command-line program reading ``keys`` of the option table.

    :param name: the program's name (``--help``'s heading, and ``--out``'s default ``runs/NAME``).
    :param doc: its description (the module docstring).
    :param keys: the shared table's keys it offers as flags (``--config`` is always offered).
    :param options: its own options (:class:`aevb.config.Option`), read by this program alone;
        offered as flags too.
    :param config_keys: further keys a ``--config`` file may set without a flag (the figure
        programs accept every run key there, applied over the paper's settings).
    :param required: keys that must end up set.
    :param defaults: this program's own defaults for some of its keys, replacing the table's where
        the program reproduces a published protocol whose settings differ from the collection's
        (``examples/iwae_table1.py``); ``--help`` shows them, and they are validated like a flag.
    :param inherited: keys whose default is the value stored in the checkpoint the program reads
        (``examples/score.py`` scores a run with its own estimator unless told otherwise): they
        parse to None unless set, and ``--help`` says so.
    """

    def __init__(
        self, name: str, doc: str, keys=(), *, options=(), config_keys=(), required=(), defaults=None, inherited=()
    ):
        own = {option.key: option for option in options}
        clashes = sorted(set(own) & set(cfg.TABLE))
        if clashes:
            raise KeyError(f"{name}: options already in the shared table: {clashes}")
        self.table = {**cfg.TABLE, **own}
        keys = (*keys, *own)
        unknown = [k for k in (*keys, *config_keys) if k not in self.table]
        if unknown:
            raise KeyError(f"{name}: keys not in the option table: {unknown}")
        defaults = dict(defaults or {})
        if set(defaults) - set(keys):
            raise KeyError(f"{name}: defaults for keys it does not offer: {sorted(set(defaults) - set(keys))}")
        self.defaults = {k: self.table[k].validate(v) for k, v in defaults.items()}
        self.inherited = frozenset(inherited)
        if self.inherited - set(keys) or self.inherited & set(defaults):
            raise KeyError(f"{name}: inherited keys must be offered and have no default of the program's")
        self.name, self.doc = name, doc
        self.keys = tuple(dict.fromkeys(("config", *keys)))
        self.config_keys = frozenset(self.keys) | frozenset(config_keys)
        self.required = tuple(required)

    def parser(self) -> argparse.ArgumentParser:
        parser = _Parser(
            prog=f"{self.name}.py",
            description=self.doc,
            formatter_class=argparse.RawDescriptionHelpFormatter,
            argument_default=argparse.SUPPRESS,
            allow_abbrev=False,
        )  # a flag is spelled out: a renamed one fails loudly
        for key in self.keys:
            option = self.table[key]
            shown = INHERITED if key in self.inherited else self.defaults.get(key, _TABLE_DEFAULT)
            kwargs = {"dest": key, "help": help_text(option, shown)}
            if option.type is bool:
                kwargs["action"] = "store_true"
            else:
                allowed = option.allowed()
                kwargs["metavar"] = option.metavar or (
                    "{" + ",".join(map(str, allowed)) + "}" if allowed else key.upper()
                )
                if option.many:
                    kwargs["nargs"] = "+"
            parser.add_argument(option.flag, **kwargs)
        return parser

    def parse(self, argv=None) -> Settings:
        """The table's defaults, then ``--config FILE``, then the flags of ``argv`` (default: sys.argv)."""
        given = vars(self.parser().parse_args(argv))
        try:
            flags = {k: self.table[k].validate(v, name=self.table[k].flag) for k, v in given.items()}
        except cfg.ConfigError as e:
            raise UsageError(str(e)) from None
        from_file = {}
        if flags.get("config") is not None:
            values = cfg.load_file(flags["config"])
            from_file = cfg.validate(
                values, self.config_keys - {"config"}, where=f"configuration file {flags['config']}", table=self.table
            )
        return self._complete(from_file, flags)

    def settings(self, values: dict) -> Settings:
        """The Python route to :meth:`parse`: ``values`` (keys as in a configuration file) checked
        against the program's table, the rest its defaults; raises :class:`aevb.config.ConfigError`."""
        given = cfg.validate(values, self.config_keys | {"out"}, where=f"{self.name} settings", table=self.table)
        return self._complete({}, given)

    def _complete(self, from_file: dict, flags: dict) -> Settings:
        values = {k: None if k in self.inherited else self.defaults.get(k, self.table[k].default) for k in self.keys}
        values.update(from_file)
        values.update(flags)
        missing = [self.table[k].flag for k in self.required if values.get(k) is None]
        if missing:
            raise UsageError(f"{', '.join(missing)} is required (--help lists the flags)")
        if "out" in values and values["out"] is None:
            values["out"] = f"runs/{self.name}"
        return Settings(values, explicit=set(from_file) | (set(flags) - {"config"}))

    def save(self, settings: Settings, path, **resolved) -> Path:
        """Write the resolved configuration as YAML (``resolved`` replaces values, e.g. a run's
        resolved step size), so that ``--config PATH`` reruns the program exactly; the
        one-off actions ``config``, ``resume`` and ``overwrite`` are left out."""
        from .files import write_text

        values = {k: v for k, v in {**settings, **resolved}.items() if k not in ("config", "resume", "overwrite")}
        path = Path(path)
        write_text(
            path,
            f"# {self.name}.py --config {path.name} reruns this configuration; flags override it\n" + cfg.dump(values),
        )
        return path


def one_line(error: BaseException) -> str:
    """The first line of an error's message (for an OSError: what failed, on which file)."""
    if isinstance(error, OSError) and error.strerror:
        where = f": {error.filename}" if error.filename else ""
        hint = " (the disk is full)" if error.errno == errno.ENOSPC else ""
        return f"{error.strerror}{where}{hint}"
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` is an allocation failure (Python's, torch's CPU allocator's or CUDA's)."""
    import torch

    return isinstance(error, (MemoryError, torch.OutOfMemoryError)) or "can't allocate memory" in str(error)


def expected_errors() -> tuple:
    """The exceptions that mean bad input or a failed run, not a bug: one line each."""
    from .data import DataError
    from .folder import FolderError
    from .inference import CheckpointError, TrainingDiverged

    return (cfg.ConfigError, DataError, CheckpointError, TrainingDiverged, FolderError, ValueError, OSError)


def run(main, argv=None, *, interrupted: str = "interrupted") -> int:
    """Run ``main(argv)`` as a program: 0 when it returns; on bad input one line on stderr and
    status 2 (the command line) or 1 (anything else); 130 on Ctrl-C and 143 on SIGTERM, each with
    the message of an :class:`Interrupted` (what was saved) or else ``interrupted``: SIGTERM stops
    the program the way Ctrl-C does; on running out of memory, one line. Unexpected exceptions
    (bugs) keep their traceback."""
    from .inference.training import distributed
    from .inference.training.loop import interrupt_requested

    received = []

    def on_signal(signum, frame):
        received.append(signum)
        interrupt_requested.set()  # in case the exception below lands in a finaliser and is dropped
        raise KeyboardInterrupt

    installed = threading.current_thread() is threading.main_thread()  # signal handlers live in the main thread
    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)} if installed else {}
    try:
        main(argv)
        return 0
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        print(str(e) if isinstance(e, Interrupted) and str(e) else interrupted, file=sys.stderr)
        return 143 if signal.SIGTERM in received else 130
    except expected_errors() as e:
        print(f"error: {one_line(e)}", file=sys.stderr)
        return 1
    except (MemoryError, RuntimeError) as e:
        if not out_of_memory(e):
            raise
        print(
            f"error: not enough memory ({one_line(e)}); try a smaller --batch-size, --hidden-dims, --latent-dim or "
            "--eval-samples",
            file=sys.stderr,
        )
        return 1
    finally:
        interrupt_requested.clear()
        for signum, handler in previous.items():
            fallback = signal.default_int_handler if signum == signal.SIGINT else signal.SIG_DFL
            signal.signal(signum, handler if handler is not None else fallback)
        distributed.shutdown()
