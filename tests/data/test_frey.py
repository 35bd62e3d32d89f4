import numpy as np
import pytest
from scipy.io import savemat

from aevb.data import DataError, load_frey_face


def test_loads_a_small_mat_file(tmp_path):
    ff = np.random.default_rng(0).integers(0, 256, size=(560, 7), dtype=np.uint8)
    savemat(tmp_path / "frey_rawface.mat", {"ff": ff})
    x = load_frey_face(tmp_path, download=False)
    assert x.shape == (7, 560) and x.dtype == np.float32
    np.testing.assert_allclose(x, ff.T / 256.0)  # Kingma's scaling: raw bytes / 256
    assert x.max() < 1.0


def test_missing_file_offline(tmp_path):
    with pytest.raises(DataError, match="frey_rawface.mat not found"):
        load_frey_face(tmp_path, download=False)


def test_wrong_shape(tmp_path):
    savemat(tmp_path / "frey_rawface.mat", {"ff": np.zeros((100, 7), np.uint8)})
    with pytest.raises(DataError, match=r"shape \(560, N\)"):
        load_frey_face(tmp_path, download=False)


def test_wrong_variable_and_garbage(tmp_path):
    savemat(tmp_path / "frey_rawface.mat", {"faces": np.zeros((560, 7), np.uint8)})
    with pytest.raises(DataError, match="no variable 'ff'"):
        load_frey_face(tmp_path, download=False)
    (tmp_path / "frey_rawface.mat").write_bytes(b"not a mat file at all" * 10)
    with pytest.raises(DataError, match="cannot read"):
        load_frey_face(tmp_path, download=False)
