"""``python -m data [DATA_DIR]``: make sure MNIST is in the data folder (fetching it if needed)."""

import sys

from . import DataError, default_data_dir, ensure_mnist

if __name__ == "__main__":
    folder = sys.argv[1] if len(sys.argv) > 1 else default_data_dir()
    try:
        paths = ensure_mnist(folder)
    except DataError as e:
        sys.exit(f"error: {e}")
    print(f"MNIST verified (SHA-256) in {paths['train-images-idx3-ubyte'].parent}")
