"""The contract every fitting algorithm implements (DESIGN.md), and what each one declares it needs.

An algorithm is driven by the one training loop (:func:`aevb.inference.train.fit`) and differs
only in its step. It implements:

* ``parameters()``: what the optimiser updates;
* ``step(x, *, num_data, index) -> (surrogate, bound)``: a differentiable surrogate whose
  gradient is the algorithm's update direction (minimised), and a detached estimate of the
  bound (or, for an algorithm without one, its ``train_metric``) on all ``num_data`` points;
* optionally ``begin_batch(x, *, num_data, index)`` (run once per minibatch before the
  ``updates_per_batch`` updates: MCEM's E-step), ``diagnostics(num_data) -> dict`` (numbers
  of its own for each epoch's record) and ``point_model()`` (the model test numbers are
  computed with, e.g. full VB's at q(θ)'s mean);
* ``from_config(model, guide, config, num_data)``: how a run builds it.

What it needs is declared as class attributes, which the combination rules
(:func:`aevb.experiment.check_combination`) and the data-parallel refusal read; they never
look at an algorithm's or a guide's name.
"""


class Algorithm:
    """Base class: the defaults of every declaration (see the module docstring)."""

    #: the ``--inference`` name
    name = None
    #: trains a guide (q(z|x)); without one, no guide is built and estimators that sample from
    #: a guide cannot score the run
    needs_guide = True
    #: runs the guide on data it was not fitted to (dreams, test points): per-point guides cannot
    needs_amortised_guide = False
    #: evaluates log q at points the guide did not draw
    needs_density_anywhere = False
    #: reads ``estimator`` (A or B; B needs every local site's KL in closed form)
    uses_estimator = False
    #: fewest ``num_particles`` it works with
    min_particles = 1
    #: its loss can be compiled with ``--jit``
    supports_jit = False
    #: its ``step`` is a fixed tensor computation per input shape, so ``--compile`` may trace it
    #: (:mod:`aevb.inference.compiled`; each algorithm declaring it is tested against eager)
    supports_compile = False
    #: its state can be split across torch.distributed ranks (no per-training-point state)
    data_parallel = True
    #: puts its own prior on the model's weights and infers them (so ``--map-prior`` does not apply)
    infers_weights = False
    #: the name of the training metric its ``bound`` is
    train_metric = "train_elbo"
    #: that metric is a (stochastic) lower bound on the training points' log p(x), so a step-size
    #: search may rank candidates by it; when it is not (MCEM's log p(x, z) at its chains' states),
    #: the search scores them by an estimate of log p(x) on held-out training points instead
    train_metric_is_bound = True
    #: optimiser updates per minibatch
    updates_per_batch = 1

    @classmethod
    def from_config(cls, model, guide, config: dict, num_data: int):
        raise NotImplementedError

    def parameters(self):
        raise NotImplementedError

    def step(self, x, *, num_data, index=None):
        raise NotImplementedError
