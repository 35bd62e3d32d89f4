"""Reweighted wake-sleep through Pyro's :class:`pyro.infer.ReweightedWakeSleep`, where it runs."""

import torch
from pyro.infer import ReweightedWakeSleep

from .evaluate import guide_and_model_traces


class RWS:
    """Pyro's reweighted wake-sleep (Bornschein & Bengio 2015; Le et al. 2019), ``--inference rws``.

    What differs from the paper's baseline (:class:`~aevb.inference.wake_sleep.WakeSleep`) and from
    a per-datapoint RWS:

    * it needs K ≥ 2 particles (``--num-particles``): self-normalised importance weights;
    * Pyro's implementation sums each particle's log-weights over the *whole minibatch*
      (including the plate's N/M scale) before normalising, so its weights are joint over
      the minibatch rather than per datapoint; that is why its docstring says minibatches are
      not supported yet. It runs, and its updates are what Pyro computes for this model;
    * the guide is trained by the wake-φ update (``insomnia=1``) by default.

    The training loop reports an estimator-A ELBO of one extra guide draw (no gradient) as the
    train bound, so that its curve is comparable with AEVB's and wake-sleep's.
    """

    name = "rws"

    def __init__(self, model, guide, num_particles: int = 2, insomnia: float = 1.0, **unused):
        if not isinstance(num_particles, int) or num_particles < 2:
            raise ValueError(f"rws needs --num-particles >= 2 (Pyro's ReweightedWakeSleep asserts it), got {num_particles!r}")
        self.model, self.guide = model, guide
        self.rws = ReweightedWakeSleep(num_particles=num_particles, insomnia=insomnia, vectorize_particles=True, max_plate_nesting=1)

    def parameters(self):
        return list(self.model.parameters()) + list(self.guide.parameters())

    def step(self, x, *, num_data, index=None):
        kwargs = {"num_data": num_data, "index": index}
        # The same sum that ReweightedWakeSleep.loss_and_grads back-propagates.
        theta_loss, phi_loss = self.rws._loss(self.model, self.guide, (x,), kwargs)
        with torch.no_grad():
            guide_trace, model_trace = guide_and_model_traces(self.model, self.guide, x, **kwargs)
            bound = model_trace.log_prob_sum() - guide_trace.log_prob_sum()
        return theta_loss + phi_loss, bound
