"""M2's recognition model (Kingma et al. 2014, §3.1.2): q(y | x) a classifier and q(z | x, y).

A row ``[x | code]`` (:mod:`aevb.data.labelled`) with a label gets q(y | x) = that label (a point
mass: every other class has probability 0, which Pyro's enumeration and the collection's ELBO
leave out), one without gets the classifier; ``y`` is marked for parallel enumeration, so the
ELBO of an unlabelled row is Σ_y q(y|x) L(x, y) + H(q(y|x)), their U(x), summed exactly. Their
eq. (9)'s classification term, α · (−log q(y | x)) on every labelled row, is the guide's
declared ``auxiliary_loss``: the training loop adds it to every algorithm's objective, and no bound
or estimate sees it.
"""

import pyro
import pyro.distributions as dist
import torch
from torch import nn

from aevb.data.labelled import split_rows
from aevb.models.contract import data_plate
from aevb.models.networks import LOGVAR_MAX, LOGVAR_MIN
from aevb.models.semi_supervised import joined, softplus_mlp


class M2Guide(nn.Module):
    """q(y | x) = Cat(softmax(MLP(x))) (or the row's label), q(z | x, y) = N(μ, σ²) from MLP([x, one-hot y]).

    :param model: the :class:`~aevb.models.semi_supervised.M2` it follows (sizes).
    :param hidden: the softplus layers' width (their 500).
    :param alpha: the weight of each labelled row's −log q(y | x) in the objective (their eq. 9's α,
        per labelled point; Kingma et al. take α = 0.1 N over the labelled average, i.e.
        0.1 · N / N_labelled per labelled point, which ``examples/semi_supervised_m2.py`` sets).
    """

    amortised = True

    def __init__(self, model, hidden: int = 500, alpha: float = 0.0):
        super().__init__()
        self.pixels, self.classes, self.alpha = model.pixels, model.classes, float(alpha)
        self.classifier = softplus_mlp(model.pixels, hidden, model.classes)
        self.encoder = softplus_mlp(model.pixels + model.classes, hidden, 2 * model.latent_dim)

    def class_logits(self, x: torch.Tensor) -> torch.Tensor:
        """The classifier's logits of q(y | x) for pixels ``x``."""
        return self.classifier(x)

    @torch.no_grad()
    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """The most probable class under q(y | x) of every row of pixels ``x``."""
        return self.class_logits(x).argmax(-1)

    def forward(self, rows: torch.Tensor, *, num_data=None, index=None):
        pyro.module("m2_guide", self)
        x, code, labelled = split_rows(rows, self.classes)
        logits = torch.where(labelled.unsqueeze(-1), code.log(), self.class_logits(x))
        with data_plate(rows, num_data, index):
            y = pyro.sample("y", dist.Categorical(logits=logits), infer={"enumerate": "parallel"})
            one_hot = nn.functional.one_hot(y, self.classes).to(rows.dtype)
            loc, log_var = self.encoder(joined(x, one_hot)).chunk(2, dim=-1)
            scale = (0.5 * log_var.clamp(LOGVAR_MIN, LOGVAR_MAX)).exp()
            pyro.sample("z", dist.Normal(loc, scale).to_event(1))

    def auxiliary_loss(self, rows: torch.Tensor, *, num_data: int, index=None) -> torch.Tensor:
        """α Σ −log q(label | x) over the minibatch's labelled rows, weighed N/M like every datapoint's
        term (the estimate of the sum over the whole data set's labelled rows)."""
        x, code, labelled = split_rows(rows, self.classes)
        if self.alpha == 0 or not bool(labelled.any()):
            return rows.new_zeros(())
        log_q = self.class_logits(x[labelled]).log_softmax(-1)
        return -self.alpha * (num_data / len(rows)) * (log_q * code[labelled]).sum()
