"""Labels carried with the data as rows: a datapoint and its label, or the mark that it has none, are
one row ``[x | code]`` where ``code`` is the label's one-hot vector of ``classes`` numbers, or all
zeros for an unlabelled point. So a semi-supervised data set (M2, Kingma et al. 2014) is one matrix,
and the training loop, checkpoints, data parallelism and every estimator take it unchanged; the
code's 0/1 numbers are also what dynamic binarisation leaves as they are (a Bernoulli draw of 0 or 1
is that number).
"""

import torch

from .errors import DataError


def balanced_labels(y: torch.Tensor, count: int, classes: int, seed: int) -> torch.Tensor:
    """The sorted rows of ``count`` labelled points, ``count / classes`` of each class, drawn without
    replacement under ``seed`` (Kingma et al.'s protocol: a balanced labelled subset)."""
    if count % classes or count < classes:
        raise DataError(f"the number of labels must be a positive multiple of the {classes} classes, got {count}")
    per_class = count // classes
    g = torch.Generator().manual_seed(seed)
    chosen = []
    for c in range(classes):
        rows = torch.nonzero(y == c).flatten()
        if len(rows) < per_class:
            raise DataError(f"class {c} has {len(rows)} points, fewer than the {per_class} labels asked for")
        chosen.append(rows[torch.randperm(len(rows), generator=g)[:per_class]])
    return torch.cat(chosen).sort().values


def labelled_rows(x: torch.Tensor, y: torch.Tensor, labelled: torch.Tensor, classes: int) -> torch.Tensor:
    """Rows ``[x | code]``: the one-hot label for the rows in ``labelled``, zeros for the others."""
    code = x.new_zeros(len(x), classes)
    code[labelled] = torch.nn.functional.one_hot(y[labelled].to(x.device), classes).to(x.dtype)
    return torch.cat([x, code], dim=-1)


def split_rows(rows: torch.Tensor, classes: int) -> tuple:
    """(x, code, labelled) of rows ``[x | code]``: ``labelled`` is true where the code is a one-hot label."""
    x, code = rows[..., :-classes], rows[..., -classes:]
    return x, code, code.sum(-1) > 0.5
