"""The conditional VAE and its baseline as Pyro's ``examples/cvae`` writes them: the peers of
``examples/conditional_vae.py``.

Written the way that example is (our code, not a copy): images whose unknown pixels are -1
(``inputs``: only the given quadrant; ``outputs``: only the three to predict); a baseline network
trained by a masked binary cross-entropy in a plain torch loop; a CVAE whose prior network reads
the input completed by the frozen baseline's prediction, whose generation network reads z alone,
and whose recognition network reads the input completed by the true outputs; ``pyro.plate`` over
the batch, ``SVI`` with ``Trace_ELBO`` and ``pyro.optim.Adam``. :func:`as_collection` hands the
trained CVAE to :func:`aevb.wrap` (a Pyro user's model, as it is) so the collection's estimators
score it on the same rows as ours.
"""

import pyro
import pyro.distributions as dist
import torch
from torch import nn

import aevb


def masked(rows: torch.Tensor, given: torch.Tensor) -> tuple:
    """(inputs, outputs) of the example: the image with its missing (resp. given) pixels set to -1."""
    inputs, outputs = rows.clone(), rows.clone()
    inputs[..., ~given] = -1
    outputs[..., given] = -1
    return inputs, outputs


def relu_net(sizes, last):
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers[:-1], last)


class BaselineNet(nn.Module):
    def __init__(self, hidden=(500, 500)):
        super().__init__()
        self.net = relu_net((784, *hidden, 784), nn.Sigmoid())

    def forward(self, inputs):
        return self.net(inputs)


def masked_bce(preds, outputs):
    loss = nn.functional.binary_cross_entropy(preds, outputs.clamp(min=0), reduction="none")
    return loss.masked_fill(outputs == -1, 0).sum()


class Encoder(nn.Module):
    def __init__(self, z_dim, hidden):
        super().__init__()
        self.body = relu_net((784, *hidden), nn.ReLU())
        self.loc, self.log_scale = nn.Linear(hidden[-1], z_dim), nn.Linear(hidden[-1], z_dim)

    def forward(self, inputs, filler):
        image = torch.where(inputs == -1, filler, inputs)
        h = self.body(image)
        return self.loc(h), self.log_scale(h).exp()


class PyroCVAE(nn.Module):
    def __init__(self, baseline, z_dim=200, hidden=(500, 500)):
        super().__init__()
        self.baseline = baseline
        self.prior_net, self.recognition_net = Encoder(z_dim, hidden), Encoder(z_dim, hidden)
        self.generation_net = relu_net((z_dim, *hidden, 784), nn.Sigmoid())

    def model(self, inputs, outputs):
        pyro.module("generation_net", self)
        with pyro.plate("data"):
            with torch.no_grad():
                guess = self.baseline(inputs)
            zs = pyro.sample("z", dist.Normal(*self.prior_net(inputs, guess)).to_event(1))
            loc = self.generation_net(zs)
            missing = outputs != -1
            n = int(missing[0].sum())
            pyro.sample(
                "y",
                dist.Bernoulli(loc[..., missing[0]].reshape(*loc.shape[:-1], n)).to_event(1),
                obs=outputs[:, missing[0]],
            )

    def guide(self, inputs, outputs):
        with pyro.plate("data"):
            pyro.sample("z", dist.Normal(*self.recognition_net(inputs, outputs)).to_event(1))


def train_baseline(rows, given, *, epochs, batch_size, lr, seed):
    torch.manual_seed(seed)
    net = BaselineNet()
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for index in torch.randperm(len(rows), generator=g).split(batch_size):
            inputs, outputs = masked(rows[index], given)
            optimizer.zero_grad()
            (masked_bce(net(inputs), outputs) / len(index)).backward()
            optimizer.step()
    # the example's loop ends on a validation pass that zeroes the gradients (to None): without that the
    # last batch's gradients stay on the frozen baseline, and Pyro's Adam in the CVAE's SVI, which steps
    # every registered parameter with a gradient, keeps moving it (measured: up to 0.005 per weight in 16 steps)
    optimizer.zero_grad(set_to_none=True)
    return net.eval()


def train_cvae(rows, given, baseline, *, epochs, batch_size, lr, seed):
    pyro.clear_param_store()
    torch.manual_seed(seed)
    cvae = PyroCVAE(baseline)
    svi = pyro.infer.SVI(cvae.model, cvae.guide, pyro.optim.Adam({"lr": lr}), pyro.infer.Trace_ELBO())
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for index in torch.randperm(len(rows), generator=g).split(batch_size):
            svi.step(*masked(rows[index], given))
    return cvae


def as_collection(cvae: PyroCVAE, given: torch.Tensor) -> tuple:
    """The trained CVAE as the collection's model and guide on rows (whole images), by :func:`aevb.wrap`."""

    def model(rows):
        return cvae.model(*masked(rows, given))

    def guide(rows):
        return cvae.guide(*masked(rows, given))

    return aevb.wrap(model, guide, observed="y", plate="data")
