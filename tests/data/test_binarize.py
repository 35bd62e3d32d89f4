import pytest
import torch

from aevb.data import DataError, binarize


def test_nan_pixels():
    x = torch.rand(4, 5)
    x[1, 2] = float("nan")
    with pytest.raises(DataError, match="NaN"):
        binarize.prepare(x, "dynamic", 0)


@pytest.mark.parametrize("bad", [-0.1, 1.5])
def test_out_of_range_pixels(bad):
    x = torch.rand(4, 5)
    x[0, 0] = bad
    with pytest.raises(DataError, match=r"outside \[0, 1\]"):
        binarize.prepare(x, "static", 0)


def test_none_requires_binary():
    with pytest.raises(DataError, match="not binary"):
        binarize.prepare(torch.full((3, 3), 0.5), "none", 0)
    x = torch.bernoulli(torch.full((3, 3), 0.5))
    assert torch.equal(binarize.prepare(x, "none", 0), x)


def test_unknown_mode():
    with pytest.raises(DataError, match="binarize must be one of"):
        binarize.prepare(torch.rand(2, 2), "otsu", 0)


def test_static_draw_is_seeded_and_has_the_right_mean():
    x = torch.full((200, 100), 0.3)
    a, b, c = (binarize.prepare(x, "static", s) for s in (5, 5, 6))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert set(a.unique().tolist()) <= {0.0, 1.0}
    assert abs(a.mean().item() - 0.3) < 4 * (0.3 * 0.7 / a.numel()) ** 0.5


def test_dynamic_keeps_grey_levels():
    x = torch.rand(5, 5)
    assert torch.equal(binarize.prepare(x, "dynamic", 0), x)
