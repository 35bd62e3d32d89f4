"""One run, assembled from a configuration: data, model, guide, algorithm, optimiser, training,
evaluation and checkpoints. Command-line programs build their runs with it, so a flag means
the same thing in every program."""

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pyro
import torch

import data
from guides import GUIDE_CLASSES, GUIDES, make_guide
from models import MODELS

from . import distributed
from .aevb import AEVB
from .checkpoint import Checkpointer, CheckpointError, TrainState, load_checkpoint
from .evaluate import evaluate_elbo, evaluate_log_likelihood
from .full_vb import FullVB
from .iwae import IWAE
from .marginal import ais_log_likelihood, appendix_d_log_likelihood
from .mcem import MonteCarloEM
from .optim import make_optimizer
from .refine import amortisation_gap, fitted_guide
from .rws import RWS
from .train import fit
from .wake_sleep import WakeSleep

#: ``--inference NAME`` → factory(model, guide, config, num_data). ``num_particles`` is L
#: (ε draws per point) for aevb and full-vb, and k (importance samples) for iwae and rws.
ALGORITHMS = {
    "aevb": lambda model, guide, cfg, n: AEVB(model, guide, estimator=cfg["estimator"], num_particles=cfg["num_particles"], jit=cfg["jit"]),
    "iwae": lambda model, guide, cfg, n: IWAE(model, guide, num_particles=cfg["num_particles"]),
    "wake-sleep": lambda model, guide, cfg, n: WakeSleep(model, guide),
    "rws": lambda model, guide, cfg, n: RWS(model, guide, num_particles=cfg["num_particles"]),
    "mcem": lambda model, guide, cfg, n: MonteCarloEM(model, num_data=n),
    "full-vb": lambda model, guide, cfg, n: FullVB(
        model, guide, estimator=cfg["estimator"], num_particles=cfg["num_particles"], global_guide=cfg["global_guide"]
    ),
}
#: Algorithms that fit no encoder (they get no guide, and need an estimator that needs none).
GUIDE_FREE = {"mcem"}
LL_ESTIMATORS = ("is", "appendix-d", "ais")

DEFAULTS = {
    "dataset": "mnist", "model": "bernoulli", "guide": "diag", "inference": "aevb",
    "epochs": 10, "latent_dim": 20, "hidden_dim": 500, "batch_size": 100,
    "estimator": "B", "num_particles": 1, "jit": False, "ll_estimator": "is", "optimizer": "adam", "lr": 1e-3, "map_prior": False,
    "init": "default", "binarize": "dynamic", "seed": 0, "train_size": None, "test_size": None,
    "elbo_samples": 10, "eval_samples": 1000, "eval_points": None,
    "flow_steps": 2, "flow_type": "iaf", "global_guide": "normal", "refine_steps": 200, "refine_lr": 0.05,
}
#: Keys that may differ when a run is resumed; every other key must match the checkpoint.
RESUMABLE = {"epochs", "eval_samples", "eval_points", "jit", "ll_estimator", "refine_steps", "refine_lr"}


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for but torch sees no CUDA device")
    if name not in ("cpu", "cuda"):
        raise ValueError(f"device must be auto, cpu or cuda, got {name!r}")
    return torch.device(name)


@dataclass
class Experiment:
    config: dict
    train: data.Split
    test: data.Split
    model: torch.nn.Module
    guide: object  # None for algorithms without an encoder (mcem)
    algorithm: object
    optimizer: torch.optim.Optimizer

    def scoring_pair(self, x):
        """The model and guide that test numbers on ``x`` are computed with: the model at q(θ)'s
        mean for full VB; for a non-amortised guide, parameters fitted to ``x``
        (``refine_steps`` steps, :mod:`inference.refine`)."""
        model = self.algorithm.point_model() if hasattr(self.algorithm, "point_model") else self.model
        guide = self.guide
        if guide is not None and not guide.amortised:
            guide = fitted_guide(model, guide, x, steps=self.config["refine_steps"], lr=self.config["refine_lr"], seed=self.config["seed"])
        return model, guide

    def evaluate(self) -> dict:
        """Test ELBO per datapoint, from the shared evaluation module with its fixed seed
        (nothing for an algorithm without a guide: it has no ELBO), and the algorithm's own
        diagnostics (full VB: the weight KL per datapoint)."""
        record = self.algorithm.diagnostics(len(self.train)) if hasattr(self.algorithm, "diagnostics") else {}
        if self.guide is not None:
            model, guide = self.scoring_pair(self.test.x)
            record["test_elbo"] = evaluate_elbo(model, guide, self.test.x, num_samples=self.config["elbo_samples"])
        return record

    def amortisation_gap(self, num_points: int = 1000) -> dict:
        """ELBO after refining each of the first ``num_points`` test points' λ for ``refine_steps``
        steps, minus the encoder's ELBO (Cremer et al. 2018); needs an amortised guide."""
        x = self.test.x[:num_points]
        model, _ = self.scoring_pair(x)
        cfg = self.config
        return amortisation_gap(model, self.guide, x, steps=cfg["refine_steps"], lr=cfg["refine_lr"], num_samples=cfg["elbo_samples"], seed=cfg["seed"])

    def log_likelihood(self) -> dict:
        """Test log-likelihood on the first ``eval_points`` test points with ``ll_estimator``:
        ``is`` (importance sampling with the guide, K = ``eval_samples``), ``appendix-d``
        (``eval_samples`` HMC posterior samples per point) or ``ais`` (``eval_samples`` annealing
        steps, 16 chains; from the guide when there is one, else from the prior)."""
        cfg = self.config
        x = self.test.x if cfg["eval_points"] is None else self.test.x[: cfg["eval_points"]]
        model, guide = self.scoring_pair(x)
        if cfg["ll_estimator"] == "is":
            value = evaluate_log_likelihood(model, guide, x, num_samples=cfg["eval_samples"])
        elif cfg["ll_estimator"] == "appendix-d":
            value = appendix_d_log_likelihood(model, x, num_samples=cfg["eval_samples"]).mean().item()
        else:
            value = ais_log_likelihood(model, x, guide=guide if guide is None or guide.amortised else None, num_steps=cfg["eval_samples"]).mean().item()
        return {"value": value, "estimator": cfg["ll_estimator"], "num_samples": cfg["eval_samples"], "num_points": len(x)}


def build(config: dict, *, data_dir=None, device="auto", log=print) -> Experiment:
    """Build every piece of a run from ``config`` (missing keys take :data:`DEFAULTS`)."""
    config = {**DEFAULTS, **config}
    unknown = set(config) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown configuration keys: {sorted(unknown)}")
    for key, table in (("model", MODELS), ("guide", GUIDES), ("inference", ALGORITHMS)):
        if config[key] not in table:
            raise ValueError(f"{key} must be one of {sorted(table)}, got {config[key]!r}")
    if config["dataset"] not in data.DATASETS:
        raise ValueError(f"dataset must be one of {sorted(data.DATASETS)}, got {config['dataset']!r}")
    check_combination(config)
    for key in ("epochs", "latent_dim", "hidden_dim", "batch_size", "num_particles", "elbo_samples", "eval_samples", "flow_steps"):
        if not isinstance(config[key], int) or config[key] < 1:
            raise ValueError(f"{key} must be a positive integer, got {config[key]!r}")
    if not isinstance(config["refine_steps"], int) or config["refine_steps"] < 0:
        raise ValueError(f"refine_steps must be a non-negative integer, got {config['refine_steps']!r}")
    ctx, device = distributed.init_distributed(resolve_device(device))  # a no-op unless launched by torchrun
    if ctx.enabled:
        check_data_parallel(config)
    pyro.clear_param_store()
    pyro.set_rng_seed(config["seed"])
    train, test = data.load_dataset(
        config["dataset"], data_dir, binarize_mode=config["binarize"], seed=config["seed"], device=device,
        train_size=config["train_size"], test_size=config["test_size"], log=log,
    )
    if config["eval_points"] is not None and not 1 <= config["eval_points"] <= len(test):
        raise ValueError(f"eval_points must be between 1 and {len(test)}, got {config['eval_points']}")
    dims = {"data_dim": train.x.shape[1], "latent_dim": config["latent_dim"], "hidden_dim": config["hidden_dim"], "init": config["init"]}
    model = MODELS[config["model"]](**dims).to(device)
    guide = None
    if config["inference"] not in GUIDE_FREE:
        spec = {"num_data": len(train), "flow_steps": config["flow_steps"], "flow_type": config["flow_type"]}
        guide = make_guide(config["guide"], **dims, **spec).to(device)
    algorithm = ALGORITHMS[config["inference"]](model, guide, config, len(train))
    sparse = guide.sparse_parameters() if guide is not None else ()
    optimizer = make_optimizer(config["optimizer"], algorithm.parameters(), config["lr"], sparse_params=sparse)
    return Experiment(config, train, test, model, guide, algorithm, optimizer)


def check_combination(config: dict) -> None:
    """Refuse pairs that cannot work together, with the reason, before any work is done."""
    name, ll = config["inference"], config["ll_estimator"]
    if ll not in LL_ESTIMATORS:
        raise ValueError(f"ll_estimator must be one of {LL_ESTIMATORS}, got {ll!r}")
    if name in GUIDE_FREE and ll == "is":
        raise ValueError(f"--inference {name} fits no encoder, so --ll-estimator is (which samples from the guide) cannot score it; use appendix-d or ais")
    if ll == "appendix-d" and config["latent_dim"] >= 5:
        raise ValueError(f"--ll-estimator appendix-d is valid only for a latent size below 5 (Appendix D), got {config['latent_dim']}")
    if config["jit"] and name != "aevb":
        raise ValueError(f"--jit compiles the AEVB loss only; --inference {name} runs eagerly")
    if name == "rws" and config["num_particles"] < 2:
        raise ValueError("--inference rws needs --num-particles >= 2 (self-normalised importance weights)")
    if name in GUIDE_FREE or config["guide"] not in GUIDE_CLASSES:
        return
    guide = GUIDE_CLASSES[config["guide"]]
    if name in ("aevb", "full-vb") and config["estimator"] == "B" and not guide.analytic_kl:
        raise ValueError(f"--estimator B needs KL(q || p) in closed form, which --guide {config['guide']} does not have; use --estimator A")
    if name in ("wake-sleep", "full-vb") and not guide.amortised:
        raise ValueError(f"--inference {name} needs an amortised guide (it runs q on {'dreamed' if name == 'wake-sleep' else 'any'} data); --guide {config['guide']} has per-datapoint parameters")
    if config["jit"] and not guide.amortised:
        raise ValueError(f"--jit traces the guide without the minibatch's indices, which --guide {config['guide']} reads")
    if name == "full-vb" and config["map_prior"]:
        raise ValueError("--inference full-vb already puts a N(0, I) prior on the decoder weights and infers them; --map-prior is the MAP alternative")


def check_data_parallel(config: dict) -> None:
    """Refuse what cannot be split across ranks: per-datapoint state that each rank would update
    for its own points only."""
    if config["inference"] == "mcem":
        raise ValueError("--inference mcem keeps a Markov chain per training point; it does not run data-parallel")
    if config["guide"] == "meanfield":
        raise ValueError("--guide meanfield keeps parameters per training point (sparse updates); it does not run data-parallel")


def resume_config(checkpoint_path, overrides: dict) -> dict:
    """The stored configuration of a checkpointed run, with the keys of :data:`RESUMABLE` overridden.

    Raises :class:`CheckpointError` when ``overrides`` asks for a different value of a key that
    defines the run (e.g. another latent size): that would not continue the same run.
    """
    stored = load_checkpoint(checkpoint_path)["config"]
    clashes = {k: (stored.get(k), v) for k, v in overrides.items() if k not in RESUMABLE and k in stored and stored[k] != v}
    if clashes:
        listed = ", ".join(f"{k}: checkpoint {a!r}, asked {b!r}" for k, (a, b) in sorted(clashes.items()))
        raise CheckpointError(f"cannot resume {checkpoint_path} with a different configuration ({listed})")
    return {**stored, **{k: v for k, v in overrides.items() if k in RESUMABLE}}


def write_json(path, obj) -> None:
    """Write JSON atomically, so a crash never leaves a half-written metrics file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "w") as f:
        json.dump(obj, f, indent=2)
    os.replace(tmp, path)


def train(experiment: Experiment, out_dir, *, resume: bool = False, state: TrainState = None, progress: bool = True, on_epoch_end=None,
          max_seconds=None, max_examples=None, evaluate=True) -> TrainState:
    """Train with checkpoints in ``out_dir/checkpoint.pt`` (continuing it when ``resume``, or from
    ``state``, the state a previous call in this process returned, without reading the checkpoint);
    ``on_epoch_end(state)`` runs after every epoch; ``max_seconds`` and ``max_examples`` end
    training early (see :func:`fit`); ``evaluate=False`` skips the per-epoch test ELBO."""
    cfg = experiment.config
    modules = {"model": experiment.model}
    if experiment.guide is not None:
        modules["guide"] = experiment.guide
    if isinstance(experiment.algorithm, torch.nn.Module):  # e.g. MCEM's chains and step sizes
        modules["algorithm"] = experiment.algorithm
    checkpointer = Checkpointer(Path(out_dir) / "checkpoint.pt", modules, experiment.optimizer, cfg)
    if state is None:
        state = checkpointer.restore() if resume else TrainState()
    prior = experiment.model.parameters() if cfg["map_prior"] else None
    return fit(
        experiment.algorithm, experiment.optimizer, experiment.train, epochs=cfg["epochs"],
        batch_size=cfg["batch_size"], seed=cfg["seed"], prior_params=prior, state=state,
        evaluate=experiment.evaluate if evaluate else None, checkpointer=checkpointer, progress=progress,
        on_epoch_end=on_epoch_end, max_seconds=max_seconds, max_examples=max_examples,
    )
