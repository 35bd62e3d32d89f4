"""An output folder owned by one run at a time.

Every program that writes into ``--out`` opens it through :class:`RunFolder`:

* **one writer**: an exclusive ``flock`` on ``DIR/.lock`` is held while the program runs; a
  second program started into the same folder is refused with one line naming the holder. The
  kernel drops the lock when its process ends in any way (``kill -9`` included), so a dead
  run's lock is taken over by the next run at once, with no stale-lock guesswork;
* **nothing overwritten by surprise**: a folder that holds a run is refused unless the program
  was asked to ``--resume`` it or to ``--overwrite`` it (which deletes the run's own files
  first, and nothing else);
* **no debris**: temporary files a killed run left behind (``*.aevb-tmp``, the names
  :mod:`aevb.files` and :mod:`aevb.inference.training.checkpoint` write through) are removed when the
  folder is opened; with the lock held, nothing else can be writing them.
"""

import datetime
import errno
import os
import shutil
from pathlib import Path

try:
    import fcntl
except ImportError:  # not POSIX: no locking (said in docs/reliability.md)
    fcntl = None

from .files import TEMP_SUFFIX

LOCK = ".lock"


class FolderError(ValueError):
    """The output folder cannot be used as asked; the message says why and what to do."""


class RunFolder:
    """``with RunFolder(path, ...) as folder:`` (see the module docstring).

    :param path: the folder (created with its parents when missing).
    :param holds: ``callable(path) -> str | None``: what run the folder already holds, in a few
        words (e.g. ``"a finished run (10 of 10 epochs)"``), or None when it holds none.
    :param outputs: the run's own files and folders (globs relative to ``path``), deleted by
        ``overwrite``.
    :param resume: the program continues what the folder holds.
    :param overwrite: the program replaces what the folder holds.
    :param resumable: whether the program can ``--resume`` (said in the refusal).
    """

    def __init__(
        self, path, *, holds=None, outputs=(), resume: bool = False, overwrite: bool = False, resumable: bool = True
    ):
        if resume and overwrite:
            raise FolderError("--resume continues the run in --out and --overwrite replaces it: give one of them")
        self.path, self.holds, self.outputs = Path(path), holds, tuple(outputs)
        self.resume, self.overwrite, self.resumable = resume, overwrite, resumable
        self.fd = None
        self.removed = []  # leftover temporary files removed on opening

    def __enter__(self):
        self._create()
        self._lock()
        try:
            self.removed = clean_temporary_files(self.path)
            held = self.holds(self.path) if self.holds is not None else None
            if held and self.overwrite:
                self._delete_outputs()
            elif held and not self.resume:
                continue_ = "--resume continues it, " if self.resumable else ""
                raise FolderError(
                    f"{self.path} holds {held}: {continue_}--overwrite replaces it, or choose another --out"
                )
        except BaseException:
            self._unlock()
            raise
        return self

    def __exit__(self, *exc):
        self._unlock()

    def _create(self):
        if self.path.exists() and not self.path.is_dir():
            raise FolderError(f"--out {self.path} is a file, not a folder: choose another --out")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise FolderError(
                f"cannot create the output folder {self.path} ({e.strerror or e}): choose another --out"
            ) from None

    def _lock(self):
        try:
            self.fd = os.open(self.path / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise FolderError(f"cannot write into {self.path} ({e.strerror or e}): choose another --out") from None
        if fcntl is None:
            return
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            holder = os.pread(self.fd, 200, 0).decode(errors="replace").strip() or "another process"
            os.close(self.fd)
            self.fd = None
            raise FolderError(
                f"another run ({holder}) is writing into {self.path}: wait for it to finish or choose another --out"
            ) from None
        started = datetime.datetime.now().isoformat(timespec="seconds")
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, f"pid {os.getpid()}, started {started}\n".encode(), 0)

    def _unlock(self):
        if self.fd is not None:  # closing the descriptor releases the flock; the file stays (see clean-up notes)
            os.close(self.fd)
            self.fd = None

    def _delete_outputs(self):
        for pattern in self.outputs:
            for target in self.path.glob(pattern):
                shutil.rmtree(target) if target.is_dir() else target.unlink()


def clean_temporary_files(path) -> list:
    """Remove the temporary files (``*.aevb-tmp``) below ``path`` that a killed run left; returns them."""
    removed = []
    for leftover in Path(path).rglob(f"*{TEMP_SUFFIX}"):
        try:
            leftover.unlink()
            removed.append(leftover)
        except FileNotFoundError:
            pass
    return removed
