"""Atomic writes of the files a run leaves (metrics, configuration, curves, figures): a crash or a
full disk mid-write never leaves a half-written file, only the previous version or the new one.

Every write goes to a temporary file ``.NAME.RANDOM.aevb-tmp`` beside the target, then
``os.replace``; the temporary file is removed when the write fails, and one left by a killed
process is removed when its folder is next opened (:mod:`aevb.folder`).
"""

import contextlib
import json
import os
from pathlib import Path

# the one suffix of every temporary file the collection writes, and the one way to make such a file
from .inference.training.checkpoint import TEMP_SUFFIX, temporary_file


def temporary_beside(path) -> tuple:
    """An open descriptor and the path of a new temporary file in ``path``'s folder (its mode follows the umask)."""
    return temporary_file(path)


@contextlib.contextmanager
def atomic_path(path):
    """``with atomic_path(path) as tmp:`` write the whole file to ``tmp``, then it replaces ``path``.
    ``tmp`` ends in ``.aevb-tmp``: give writers that choose a format by extension the format
    (``fig.savefig(tmp, format="png")``)."""
    path = Path(path)
    fd, tmp = temporary_beside(path)
    os.close(fd)
    try:
        yield Path(tmp)
        synced = os.open(tmp, os.O_RDONLY)  # on disk before it replaces the previous version
        try:
            os.fsync(synced)
        finally:
            os.close(synced)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (see the module docstring)."""
    path = Path(path)
    fd, tmp = temporary_beside(path)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path, obj) -> None:
    """``obj`` as indented JSON, written atomically (:func:`write_text`)."""
    write_text(path, json.dumps(obj, indent=2))


def read_json(path, kind: type = dict):
    """The JSON object in ``path``, or None when there is no such file; a file that is not JSON, or
    holds another kind of value than ``kind``, raises a ValueError naming the file (one line)."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        value = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as e:
        raise ValueError(
            f"{path} is not valid JSON ({str(e).splitlines()[0]}): move it away or start again (--overwrite)"
        ) from None
    if not isinstance(value, kind):
        raise ValueError(
            f"{path} must hold a JSON {'object' if kind is dict else kind.__name__}, got {type(value).__name__}: "
            "move it away or start again (--overwrite)"
        )
    return value


def save_torch(obj, path) -> None:
    """``torch.save(obj)`` to ``path``, written atomically."""
    import torch

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


__all__ = ["TEMP_SUFFIX", "atomic_path", "read_json", "save_torch", "temporary_beside", "write_json", "write_text"]
