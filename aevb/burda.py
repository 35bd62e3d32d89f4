"""Burda, Grosse & Salakhutdinov's (2015) Table 1 protocol: its settings, its rows and its numbers
(``examples/iwae_table1.py`` runs it; docs/results.md states it beside the results).

A row is ``LAYERS:OBJECTIVE:K``: one stochastic layer (784-200-200-50, tanh) or two (784-100-100-
z₁(100)-50-50-z₂(50), ``--model hierarchical``), trained as a VAE with K samples per point (the
average of K ELBO samples, :mod:`aevb.inference.algorithms.aevb` with ``num_particles = K`` and estimator A,
the log-weight form Burda et al. use) or as an IWAE with K samples (the K-sample bound,
:mod:`aevb.inference.algorithms.iwae`). K = 1 makes the two the same objective.
"""

import re
from dataclasses import dataclass
from typing import Callable

from .config import ConfigError
from .inference.estimators.elbo import elbo_per_point
from .inference.estimators.importance import log_likelihood_per_point

#: The protocol's run settings, each the program's default for its flag: dynamically binarised
#: MNIST, Adam (β₁ 0.9, β₂ 0.999: torch's) with ε = 1e-4, minibatches of 20, step size
#: 1e-3·10^(−i/7) for 3^i epochs (:mod:`aevb.inference.training.schedule`), Glorot initialisation, and the
#: test log-likelihood by importance sampling with k = 5000 from the encoder on all 10,000 test points.
PROTOCOL = {
    "dataset": "mnist",
    "likelihood": "bernoulli",
    "binarize": "dynamic",
    "guide": "diag",
    "optimizer": "adam",
    "lr": 1e-3,
    "optimizer_eps": 1e-4,
    "lr_schedule": "burda",
    "batch_size": 20,
    "init": "glorot",
    "estimator": "A",
    "ll_estimator": "is",
    "eval_samples": 5000,
}
#: The two architectures (--model, --latent-dim, --hidden-dims of the mlp model).
ARCHITECTURES = {
    1: {"model": "mlp", "latent_dim": 50, "hidden_dims": [200, 200]},
    2: {"model": "hierarchical", "latent_dim": 50},
}


@dataclass(frozen=True)
class Objective:
    """What a row trains: the algorithm (``--inference``, with ``num_particles = K``) and the bound
    it maximises, ``bound(model, guide, x, k, progress) -> per-point values``, which scores the
    training set."""

    inference: str
    bound: Callable


def _elbo(model, guide, x, k, progress=False):
    # the average of K ELBO samples has the ELBO as its expectation: estimated with at least 10 draws
    return elbo_per_point(model, guide, x, num_samples=max(k, 10), seed=0, progress=progress)


def _k_sample_bound(model, guide, x, k, progress=False):
    # log (1/K) Σₖ wₖ with K draws: the importance-sampling estimate with K samples (one draw of it)
    return log_likelihood_per_point(model, guide, x, num_samples=k, seed=0, progress=progress)


#: ``vae`` and ``iwae`` rows.
OBJECTIVES = {"vae": Objective("aevb", _elbo), "iwae": Objective("iwae", _k_sample_bound)}
#: Burda et al.'s final test log-likelihoods (nats, IS with k = 5000 after 3280 epochs) for the rows
#: VAE k = 1, VAE k = 50 and IWAE k = 50 of each architecture (Burda et al. 2015, Table 1); other rows have none here.
REFERENCE = {
    (1, "vae", 1): -86.76,
    (1, "vae", 50): -86.35,
    (1, "iwae", 50): -84.78,
    (2, "vae", 1): -85.33,
    (2, "iwae", 50): -82.90,
}
#: A K = 1 IWAE is a K = 1 VAE: the same objective, the same reference.
REFERENCE.update({(layers, "iwae", 1): value for (layers, objective, k), value in list(REFERENCE.items()) if k == 1})

_ROW = re.compile(r"^([12]):(vae|iwae):([1-9][0-9]*)$")


@dataclass(frozen=True)
class Row:
    layers: int
    objective: str
    k: int

    @classmethod
    def parse(cls, spec: str) -> "Row":
        match = _ROW.match(spec.strip())
        if match is None:
            raise ConfigError(
                f"--rows: {spec!r} is not LAYERS:OBJECTIVE:K with LAYERS 1 or 2, OBJECTIVE vae or iwae and K a "
                "positive "
                "integer (e.g. 1:iwae:50)"
            )
        return cls(int(match.group(1)), match.group(2), int(match.group(3)))

    @property
    def name(self) -> str:
        """The row's run folder: ``1layer_iwae_k50``."""
        return f"{self.layers}layer_{self.objective}_k{self.k}"

    @property
    def label(self) -> str:
        return f"{self.layers} stochastic layer{'s' * (self.layers > 1)}, {self.objective.upper()} k = {self.k}"

    @property
    def reference(self):
        return REFERENCE.get((self.layers, self.objective, self.k))

    def config(self) -> dict:
        """The row's own run keys (architecture and objective), applied over the protocol's."""
        return {
            **ARCHITECTURES[self.layers],
            "inference": OBJECTIVES[self.objective].inference,
            "num_particles": self.k,
        }

    def train_bound(self, model, guide, x, progress=False):
        """The bound this row trains, per point of ``x``."""
        return OBJECTIVES[self.objective].bound(model, guide, x, self.k, progress)


def parse_rows(specs) -> list:
    """The rows of ``--rows``, each once, in the order given."""
    return list(dict.fromkeys(Row.parse(spec) for spec in specs))
