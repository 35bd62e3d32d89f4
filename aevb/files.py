"""Atomic writes of the text files a run leaves (metrics, configuration, curves): a crash mid-write
never leaves a half-written file, only the previous version or the new one."""

import json
import os
import tempfile
from pathlib import Path


def write_text(path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and ``os.replace``."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path, obj) -> None:
    """``obj`` as indented JSON, written atomically (:func:`write_text`)."""
    write_text(path, json.dumps(obj, indent=2))


def read_json(path):
    """The JSON in ``path``, or None when there is no such file."""
    path = Path(path)
    return json.loads(path.read_text()) if path.is_file() else None
