"""M2 as Pyro's ``examples/vae/ss_vae_M2.py`` writes it: the peer our semi-supervised M2 is measured against.

Written the way that example is (our code, not a copy): one ``nn.Module`` with a classifier
q(y|x), an encoder q(z|x, y) and a decoder p(x|y, z), each one hidden layer of softplus units with
Pyro's clipped softmax and sigmoid outputs; a model and a guide taking ``(xs, ys=None)`` (an
unlabelled batch leaves ``ys`` to the guide, whose ``y`` is enumerated by ``config_enumerate``), a
separate ``model_classify`` for the α-weighted classification loss, and training by two
:class:`pyro.infer.SVI` objects (TraceEnum_ELBO, and Trace_ELBO for the auxiliary loss) that step
on labelled and unlabelled batches in turn, as the example interleaves them.
"""

import pyro
import pyro.distributions as dist
import torch
from pyro.infer import SVI, Trace_ELBO, TraceEnum_ELBO, config_enumerate
from torch import nn

EPS = 1e-7  # the example's epsilon_scale


class ClippedSoftmax(nn.Softmax):
    """The example's epsilon-clipped softmax (its utils/custom_mlp.py), for numerical stability."""

    def __init__(self, eps, dim):
        super().__init__(dim=dim)
        self.eps = eps

    def forward(self, x):
        return super().forward(x).clamp(self.eps, 1 - self.eps)


class ClippedSigmoid(nn.Sigmoid):
    """The example's epsilon-clipped sigmoid."""

    def __init__(self, eps):
        super().__init__()
        self.eps = eps

    def forward(self, x):
        return super().forward(x).clamp(self.eps, 1 - self.eps)


class PyroSSVAE(nn.Module):
    def __init__(self, classes=10, pixels=784, z_dim=50, hidden=500, alpha=1.0):
        super().__init__()
        self.classes, self.z_dim, self.alpha = classes, z_dim, alpha
        self.encoder_y = nn.Sequential(
            nn.Linear(pixels, hidden), nn.Softplus(), nn.Linear(hidden, classes), ClippedSoftmax(EPS, dim=-1)
        )
        self.encoder_z = nn.Sequential(nn.Linear(pixels + classes, hidden), nn.Softplus(), nn.Linear(hidden, 2 * z_dim))
        self.decoder = nn.Sequential(
            nn.Linear(z_dim + classes, hidden), nn.Softplus(), nn.Linear(hidden, pixels), ClippedSigmoid(EPS)
        )

    @staticmethod
    def _cat(a, b):
        shape = torch.broadcast_shapes(a.shape[:-1], b.shape[:-1])
        return torch.cat([a.expand(*shape, a.shape[-1]), b.expand(*shape, b.shape[-1])], -1)

    def model(self, xs, ys=None):
        pyro.module("ss_vae", self)
        with pyro.plate("data", xs.shape[0]):
            zs = pyro.sample("z", dist.Normal(xs.new_zeros(self.z_dim), 1.0).to_event(1))
            prior = xs.new_ones(self.classes) / self.classes
            ys = pyro.sample("y", dist.OneHotCategorical(prior), obs=ys)
            pyro.sample("x", dist.Bernoulli(self.decoder(self._cat(zs, ys))).to_event(1), obs=xs)

    def guide(self, xs, ys=None):
        with pyro.plate("data", xs.shape[0]):
            if ys is None:
                ys = pyro.sample("y", dist.OneHotCategorical(self.encoder_y(xs)))
            loc, log_scale = self.encoder_z(self._cat(xs, ys)).chunk(2, -1)
            pyro.sample("z", dist.Normal(loc, log_scale.exp()).to_event(1))

    def model_classify(self, xs, ys):
        pyro.module("ss_vae", self)
        with pyro.plate("data", xs.shape[0]), pyro.poutine.scale(scale=self.alpha):
            pyro.sample("y_aux", dist.OneHotCategorical(self.encoder_y(xs)), obs=ys)

    def guide_classify(self, xs, ys):
        pass

    @torch.no_grad()
    def classify(self, xs):
        return self.encoder_y(xs).argmax(-1)


def train(peer: PyroSSVAE, labelled, unlabelled, *, epochs, batch_size, lr, seed, log=print):
    """The example's loop: per epoch, every unlabelled batch, with a labelled one every
    ``periodic_interval_batches`` (until they run out), each stepping both losses on labelled ones;
    the images binarised afresh for every batch (dynamic binarisation, as ours). ``labelled`` is
    (grey images, one-hot labels), ``unlabelled`` grey images."""
    pyro.clear_param_store()
    optimizer = pyro.optim.Adam({"lr": lr, "betas": (0.9, 0.999)})
    elbo = SVI(
        peer.model, config_enumerate(peer.guide, "parallel"), optimizer, loss=TraceEnum_ELBO(max_plate_nesting=1)
    )
    aux = SVI(peer.model_classify, peer.guide_classify, optimizer, loss=Trace_ELBO())
    (xl, yl), xu = labelled, unlabelled
    g = torch.Generator().manual_seed(seed)
    for epoch in range(1, epochs + 1):
        sup = torch.randperm(len(xl), generator=g).split(batch_size)
        unsup = torch.randperm(len(xu), generator=g).split(batch_size)
        period = max(1, (len(xl) + len(xu)) // len(xl))
        s = 0
        for i in range(len(sup) + len(unsup)):
            if i % period == 1 and s < len(sup) or i - s >= len(unsup):
                xs, ys = torch.bernoulli(xl[sup[s]], generator=g), yl[sup[s]]
                s += 1
                elbo.step(xs, ys)
                aux.step(xs, ys)
            else:
                elbo.step(torch.bernoulli(xu[unsup[i - s]], generator=g))
