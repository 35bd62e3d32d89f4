"""An output folder owned by one run at a time.

Every program that writes into ``--out`` opens it through :class:`RunFolder`:

* **one writer**: an exclusive ``flock`` on ``DIR/.lock`` is held while the program runs; a
  second program started into the same folder is refused with one line naming the holder. The
  kernel drops the lock when its process ends in any way (``kill -9`` included), so a dead
  run's lock is taken over by the next run at once, with no stale-lock guesswork;
* **a run owns only what it wrote**: a folder the collection writes into carries a marker,
  ``DIR/.aevb-run``, written (atomically) before anything else. A folder that is not empty and has
  no marker holds someone else's files: it is refused with one line naming them, whatever the
  flags (a run folder of an earlier version, which has no marker, is adopted when the program
  recognises the run in it). ``--out`` must name a folder: an empty name, or a file, is refused;
* **nothing overwritten by surprise**: a folder that holds a run is refused unless the program
  was asked to ``--resume`` it or to ``--overwrite`` it (which deletes the run's own files
  first, and nothing else);
* **no debris**: temporary files a killed run left behind (``.NAME.RANDOM.aevb-tmp``, the names
  :mod:`aevb.files` and :mod:`aevb.inference.training.checkpoint` write through) are removed when
  the folder is opened, but only its own: those of the folder's outputs (``NAME`` one of them), in
  the folder itself and inside the output folders it owns (``runs/``, ``pairs/``), never in another
  folder below it, where another run may be writing. With the lock held, no other run of the
  collection writes into the folder itself.
"""

import datetime
import errno
import fnmatch
import os
import shutil
from pathlib import Path

try:
    import fcntl
except ImportError:  # not POSIX: no locking (said in docs/reliability.md)
    fcntl = None

from .files import TEMP_SUFFIX, write_text

LOCK = ".lock"
#: The marker of a folder the collection writes into (see the module docstring).
MARKER = ".aevb-run"
#: The names in an owned folder that are the collection's bookkeeping, not a run's outputs.
BOOKKEEPING = (LOCK, MARKER)


#: How a program's refusals name the folder and the choices (its flags), and how the Python API's do.
FLAG_WORDS = {"out": "--out", "resume": "--resume", "overwrite": "--overwrite"}
API_WORDS = {"out": "out_dir", "resume": "resume=True", "overwrite": "overwrite=True"}


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
    :param words: how refusals name the folder and the two choices: the programs' flags, or the
        Python API's arguments (:data:`API_WORDS`).
    """

    def __init__(
        self,
        path,
        *,
        holds=None,
        outputs=(),
        resume: bool = False,
        overwrite: bool = False,
        resumable: bool = True,
        words: dict = None,
    ):
        self.words = words = {**FLAG_WORDS, **(words or {})}
        if resume and overwrite:
            raise FolderError(
                f"{words['resume']} continues the run in {words['out']} and {words['overwrite']} replaces it: "
                "give one of them"
            )
        if not str(path).strip():
            raise FolderError(f"{words['out']} must name a folder, got an empty name")
        self.path, self.holds, self.outputs = Path(path), holds, tuple(outputs)
        self.resume, self.overwrite, self.resumable = resume, overwrite, resumable
        self.fd = None
        self.removed = []  # leftover temporary files removed on opening

    def __enter__(self):
        self._create()
        self._lock()
        try:
            held = self.holds(self.path) if self.holds is not None else None
            self._claim(held)
            self.removed = clean_temporary_files(self.path, self.outputs)
            if held and self.overwrite:
                self._delete_outputs()
            elif held and not self.resume:
                w = self.words
                continue_ = f"{w['resume']} continues it, " if self.resumable else ""
                raise FolderError(
                    f"{self.path} holds {held}: {continue_}{w['overwrite']} replaces it, or choose another {w['out']}"
                )
        except BaseException:
            self._unlock()
            raise
        return self

    def __exit__(self, *exc):
        self._unlock()

    def _create(self):
        if self.path.exists() and not self.path.is_dir():
            raise FolderError(f"{self.path} is a file, not a folder: choose another {self.words['out']}")
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

    def _claim(self, held):
        """Refuse a folder holding files the collection did not write; mark it as the collection's."""
        marker = self.path / MARKER
        if marker.is_file():
            return
        foreign = sorted(
            p.name for p in self.path.iterdir() if p.name not in BOOKKEEPING and not p.name.endswith(TEMP_SUFFIX)
        )
        if foreign and not held:
            listed = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
            raise FolderError(
                f"{self.path} holds files this collection did not write ({listed}) and no {MARKER} marker: "
                f"choose an empty or new {self.words['out']} (a run folder of an earlier version: create an empty "
                f"{self.path / MARKER} to claim it)"
            )
        write_text(marker, "a folder written by the aevb collection: it owns only the files it wrote here\n")

    def _delete_outputs(self):
        for pattern in self.outputs:
            for target in self.path.glob(pattern):
                shutil.rmtree(target) if target.is_dir() else target.unlink()


def own_temporary_files(path, outputs=()) -> list:
    """The temporary files a killed run of this folder left (see the module docstring): the
    ``.NAME.RANDOM.aevb-tmp`` of the folder's outputs and bookkeeping, in the folder itself and
    anywhere inside the output folders it owns; nothing in another folder below it."""
    path = Path(path)
    found = []
    for leftover in path.glob(f".*{TEMP_SUFFIX}"):
        target = leftover.name[1:].rsplit(".", 2)[0]  # .NAME.RANDOM.aevb-tmp -> NAME
        if target in BOOKKEEPING or any(fnmatch.fnmatch(target, pattern) for pattern in outputs):
            found.append(leftover)
    for pattern in outputs:
        for owned in path.glob(pattern):
            if owned.is_dir() and not owned.is_symlink():
                found.extend(owned.rglob(f"*{TEMP_SUFFIX}"))
    return found


def clean_temporary_files(path, outputs=()) -> list:
    """Remove :func:`own_temporary_files` of ``path``; returns them."""
    removed = []
    for leftover in own_temporary_files(path, outputs):
        try:
            leftover.unlink()
            removed.append(leftover)
        except FileNotFoundError:
            pass
    return removed
