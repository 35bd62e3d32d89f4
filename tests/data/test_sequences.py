"""Sequences packed as rows: each step's values and a presence flag."""

import pytest
import torch

from aevb.data import DataError
from aevb.data.sequences import check_packed, lengths_of, pack, unpack


def test_pack_and_unpack_give_back_each_sequence_and_its_length():
    values = torch.rand(3, 4, 2)
    rows = pack(values, torch.tensor([4, 1, 2]))
    assert rows.shape == (3, 4 * 3)
    back, present = unpack(rows, 2)
    assert lengths_of(rows, 2).tolist() == [4, 1, 2]
    assert present.tolist() == [[True] * 4, [True, False, False, False], [True, True, False, False]]
    torch.testing.assert_close(back, values * present[..., None])
    check_packed(rows, 2)


@pytest.mark.parametrize(
    "flags, message",
    [([1, 0, 1], "come first"), ([0, 0, 0], "at least one step"), ([1, 0.5, 0], "0 or 1")],
)
def test_rows_that_are_not_packed_sequences_are_refused(flags, message):
    rows = torch.zeros(1, 3, 3)
    rows[0, :, 2] = torch.tensor(flags)
    with pytest.raises(DataError, match=message):
        check_packed(rows.reshape(1, -1), 2)


def test_bad_lengths_are_refused():
    with pytest.raises(DataError, match="between 1 and 4"):
        pack(torch.rand(2, 4, 2), torch.tensor([0, 3]))
    with pytest.raises(DataError, match="whole number of steps"):
        unpack(torch.rand(2, 7), 2)
