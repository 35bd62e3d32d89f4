import gzip

import numpy as np
import pytest

from aevb.data import DataError, read_idx, write_idx


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_round_trip(tmp_path, suffix):
    images = np.random.default_rng(0).integers(0, 256, size=(7, 28, 28), dtype=np.uint8)
    labels = np.arange(7, dtype=np.uint8)
    write_idx(tmp_path / f"img{suffix}", images)
    write_idx(tmp_path / f"lab{suffix}", labels)
    np.testing.assert_array_equal(read_idx(tmp_path / f"img{suffix}"), images)
    np.testing.assert_array_equal(read_idx(tmp_path / f"lab{suffix}"), labels)


def test_truncated_file(tmp_path):
    write_idx(tmp_path / "f", np.zeros((5, 28, 28), np.uint8))
    raw = (tmp_path / "f").read_bytes()
    (tmp_path / "f").write_bytes(raw[:-10])
    with pytest.raises(DataError, match="truncated"):
        read_idx(tmp_path / "f")


def test_truncated_header(tmp_path):
    (tmp_path / "f").write_bytes(bytes([0, 0, 8, 3, 0, 0]))
    with pytest.raises(DataError, match="truncated"):
        read_idx(tmp_path / "f")


@pytest.mark.parametrize("magic", [b"\x1f\x8b\x08\x00", b"\x00\x01\x08\x03", b"\x00\x00\x07\x03", b""])
def test_wrong_magic(tmp_path, magic):
    (tmp_path / "f").write_bytes(magic + bytes(100))
    with pytest.raises(DataError, match="not an IDX file"):
        read_idx(tmp_path / "f")


def test_corrupt_gzip(tmp_path):
    good = gzip.compress(bytes([0, 0, 8, 1, 0, 0, 0, 3, 1, 2, 3]))
    (tmp_path / "f.gz").write_bytes(good[:-6])
    with pytest.raises(DataError, match="cannot read"):
        read_idx(tmp_path / "f.gz")


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="not found"):
        read_idx(tmp_path / "nope")


def test_a_gzip_stream_with_a_damaged_block_is_one_line_not_a_zlib_error(tmp_path):
    good = bytearray(gzip.compress(bytes([0, 0, 8, 1, 0, 0, 0, 200]) + bytes(range(200))))
    good[12:20] = b"\xff" * 8  # inside the deflate stream: zlib.error ("invalid ..."), not EOF
    (tmp_path / "f.gz").write_bytes(bytes(good))
    with pytest.raises(DataError, match=f"cannot read IDX file {tmp_path / 'f.gz'}"):
        read_idx(tmp_path / "f.gz")
