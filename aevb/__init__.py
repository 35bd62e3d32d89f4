"""Auto-Encoding Variational Bayes (Kingma & Welling 2013) in Pyro: one import namespace.

* :mod:`aevb.data` (MNIST, Fashion-MNIST, Frey Face), :mod:`aevb.models` (p(z) p(x|z) as Pyro
  models), :mod:`aevb.guides` (q(z|x) as Pyro guides), :mod:`aevb.inference` (algorithms,
  the training loop, estimators, diagnostics, checkpoints): the building blocks;
* :mod:`aevb.config` (the one table of options), :mod:`aevb.experiment` (a run from a
  configuration), :mod:`aevb.curves`, :mod:`aevb.cli`, :mod:`aevb.tracking`: the layer above;
* :mod:`aevb.examples`: the command-line programs (``python -m aevb.examples.mnist_aevb``).

The folders ``data/``, ``models/``, ``guides/``, ``inference/`` and ``examples/`` of the
repository install as these subpackages (``package_dir`` in setup.cfg), so a project with its
own ``data/`` or ``models/`` folder keeps them. The run API is importable from here::

    import aevb
    run = aevb.build({"epochs": 5})
    aevb.train(run, "runs/quick")

:func:`aevb.score` (per-point scores of any data under a trained run: docs/api.md), and
:func:`aevb.wrap`, which brings a Pyro user's own model and guide under the collection's contract
(docs/your_model.md).
"""

__version__ = "0.2.0"

#: The run API, imported on first use so that ``import aevb.data`` stays light.
_API = {
    "build": "experiment",
    "train": "experiment",
    "load": "experiment",
    "Experiment": "experiment",
    "resolve_run_config": "experiment",
    "ConfigError": "config",
    "DEFAULTS": "config",
    "score": "scoring",
    "wrap": "inference.programs",
    "ContractError": "inference.preflight",
}


def __getattr__(name):
    if name in _API:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_API[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_API])


__all__ = ["__version__", *_API]
