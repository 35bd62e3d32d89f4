"""One run, assembled from a configuration: data, model, guide, algorithm, optimiser, training,
evaluation and checkpoints. Every program builds its runs here, and so can a notebook::

    import aevb
    run = aevb.build({"latent_dim": 20, "epochs": 5})
    aevb.train(run, "runs/quick")
    run.log_likelihood()
    run = aevb.load("runs/quick")      # later: the trained run, weights restored

The configuration's keys and defaults are :mod:`aevb.config`'s run keys; a missing key takes
its default and every value is checked against the table before any work is done.
"""

import functools
import math
from dataclasses import dataclass, field
from pathlib import Path

import pyro
import torch

from . import config as cfg
from . import data as data_module
from .folder import API_WORDS, RunFolder
from .guides import GUIDES, guide_class, make_guide
from .inference import rules
from .inference.algorithms import ALGORITHMS
from .inference.capabilities import capabilities
from .inference.diagnostics.refine import amortisation_gap, fitted_guide
from .inference.estimators import LL_ESTIMATORS, elbo_per_point, summary
from .inference.training import distributed
from .inference.training.checkpoint import Checkpointer, CheckpointError, TrainState, load_checkpoint
from .inference.training.compile import TRACED, compile_step
from .inference.training.loop import fit
from .inference.training.optim import make_optimizer
from .inference.training.precision import mixed_precision
from .inference.training.schedule import LR_SCHEDULES
from .inference.training.stops import StopRules
from .models import LIKELIHOODS, MODELS, ModelSpec, build_model
from .runs import RUN_OUTPUTS, checkpoint_path, run_in

DEFAULTS, RESUMABLE = cfg.DEFAULTS, cfg.RESUMABLE
#: The seed every test number of a run is drawn with (the ELBO's, the log-likelihood's, each point's score).
EVALUATION_SEED = 0


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for but torch sees no CUDA device")
    if name not in ("cpu", "cuda"):
        raise ValueError(f"device must be auto, cpu or cuda, got {name!r}")
    return torch.device(name)


def migrate(config: dict) -> dict:
    """A configuration written by an earlier version in today's keys: ``model: bernoulli|gaussian``
    (the likelihood of the one MLP model) is ``model: mlp`` with that ``likelihood``, an
    integer ``hidden_dim`` is ``hidden_dims`` of one layer, and ``jit: true`` (removed) is
    ``compile: trace``."""
    config = dict(config)
    if config.get("model") in ("bernoulli", "gaussian"):
        config["likelihood"], config["model"] = config["model"], "mlp"
    if "jit" in config:  # --jit (Pyro's JIT on the deprecated torch.jit.trace) is gone: the traced step replaces it
        if config.pop("jit") and config.get("compile", "off") == "off":
            config["compile"] = "trace"
    if "hidden_dim" in config:
        hidden = config.pop("hidden_dim")
        config.setdefault("hidden_dims", None if hidden is None else [hidden])
    return config


def resolve_run_config(config: dict) -> dict:
    """A complete run configuration: ``config``'s keys (after :func:`migrate`) checked against the
    option table, missing keys filled with their defaults, and the defaults that depend on other
    keys resolved (``lr`` by the optimiser, ``hidden_dims`` by the data set for a model that
    reads them, ``estimator="auto"`` by whether the guide and the model declare a closed-form
    KL); then :func:`check_combination`."""
    config = {**DEFAULTS, **cfg.validate(migrate(config), cfg.RUN_KEYS, where="run configuration")}
    if config["lr"] is None:
        config["lr"] = cfg.DEFAULT_LR[config["optimizer"]]
    if config["hidden_dims"] is None and MODELS[config["model"]].reads_hidden_dims:
        # a data set of one's own gets the paper's MNIST width
        config["hidden_dims"] = list(cfg.PAPER_HIDDEN.get(config["dataset"], cfg.PAPER_HIDDEN["mnist"]))
    config["estimator"] = rules.resolve_estimator(
        config["estimator"], MODELS[config["model"]].cls, configured_guide(config)
    )
    check_combination(config)
    return config


def configured_guide(config: dict) -> type:
    """The class declaring the capabilities of the guide ``config`` builds (before it is built)."""
    return guide_class(config["guide"], flow_steps=config["flow_steps"], flow_type=config["flow_type"])


def trained_guide(config: dict):
    """:func:`configured_guide` where the configured algorithm trains a guide, else None."""
    return configured_guide(config) if capabilities(ALGORITHMS[config["inference"]], "algorithm").needs_guide else None


@dataclass
class Experiment:
    config: dict
    train: data_module.Split
    test: data_module.Split
    model: torch.nn.Module
    guide: object  # None for algorithms without an encoder (mcem)
    algorithm: object
    optimizer: torch.optim.Optimizer
    step: object = None  # the algorithm's step as trained: compiled and mixed precision composed once (build)
    #: report progress of long steps (:mod:`aevb.inference.training.progress`)
    progress: bool = field(default=True, compare=False)
    #: finished epochs' records, when loaded from a checkpoint
    history: list = field(default_factory=list, compare=False)

    def scoring_pair(self, x):
        """The model and guide that test numbers on ``x`` are computed with: the model at q(θ)'s
        mean for full VB; for a non-amortised guide, parameters fitted to ``x``
        (``refine_steps`` steps, :mod:`aevb.inference.diagnostics.refine`)."""
        point_model = capabilities(self.algorithm, "algorithm").point_model
        model = point_model() if point_model is not None else self.model
        guide = self.guide
        if guide is not None and not capabilities(guide, "guide").amortised:
            guide = fitted_guide(
                model,
                guide,
                x,
                steps=self.config["refine_steps"],
                lr=self.config["refine_lr"],
                seed=self.config["seed"],
                progress=self.progress and "fitting the mean-field guide to new points",
            )
        return model, guide

    def evaluate(self) -> dict:
        """Test ELBO per datapoint, from the shared evaluation module with its fixed seed
        (nothing for an algorithm without a guide: it has no ELBO), and the algorithm's own
        diagnostics (full VB: the weight KL per datapoint)."""
        diagnostics = capabilities(self.algorithm, "algorithm").diagnostics
        record = diagnostics(len(self.train)) if diagnostics is not None else {}
        if self.guide is not None:
            x = self.test.head()
            record["test_elbo"] = self.elbo(self.scoring_pair(x), x).mean().item()
        return record

    def elbo(self, pair, x, num_samples: int = None):
        """The ELBO of every row of ``x`` with ``num_samples`` draws (default: the run's
        ``elbo_samples``) from ``pair`` (:meth:`scoring_pair` of ``x``), under the evaluation's seed:
        the per-epoch test ELBO is its mean over the test set."""
        model, guide = pair
        n = num_samples or self.config["elbo_samples"]
        return elbo_per_point(model, guide, x, num_samples=n, seed=EVALUATION_SEED, progress=False)

    def amortisation_gap(self, num_points: int = 1000) -> dict:
        """ELBO after refining each of the first ``num_points`` test points' λ for ``refine_steps``
        steps, minus the encoder's ELBO (Cremer et al. 2018); needs an amortised guide."""
        x = self.test.head(num_points)
        model, _ = self.scoring_pair(x)
        c = self.config
        return amortisation_gap(
            model,
            self.guide,
            x,
            steps=c["refine_steps"],
            lr=c["refine_lr"],
            num_samples=c["elbo_samples"],
            seed=c["seed"],
            progress=self.progress,
        )

    def log_likelihood(self) -> dict:
        """Test log-likelihood on the first ``eval_points`` test points with ``ll_estimator`` (the
        registry :data:`aevb.inference.LL_ESTIMATORS`: ``is``, importance sampling with the guide,
        K = ``eval_samples``; ``appendix-d``, ``eval_samples`` HMC posterior samples per point;
        ``ais``, ``eval_samples`` annealing steps and 16 chains, from the guide when it can start
        them, else from the prior). ``standard_error`` is the estimator's Monte Carlo error of
        that average, the points held fixed; ``unreliable`` counts the points whose estimate cannot
        be trusted (too few effective samples, or Appendix D's chains not mixing) and ``refused``
        those left out of the average (Appendix D's), ``min_ess`` the smallest effective sample
        size (:func:`aevb.inference.estimators.uncertainty.summary`)."""
        c = self.config
        x = self.test.head(c["eval_points"])
        points = self.estimate(self.scoring_pair(x), x)
        return {**summary(points), "estimator": c["ll_estimator"], "num_samples": c["eval_samples"]}

    def estimate(self, pair, x, estimator: str = None, num_samples: int = None):
        """log p(x) of every row of ``x`` with its error, ESS and flag
        (:class:`~aevb.inference.estimators.uncertainty.PointEstimates`) by ``estimator`` with
        ``num_samples`` (default: the run's ``ll_estimator`` and ``eval_samples``), from ``pair``
        (:meth:`scoring_pair` of ``x``), under the evaluation's fixed seed: the one computation
        behind the final evaluation and every per-point score (:func:`aevb.scoring.score`)."""
        c = self.config
        model, guide = pair
        return LL_ESTIMATORS[estimator or c["ll_estimator"]].estimate(
            model,
            guide,
            x,
            num_samples=num_samples or c["eval_samples"],
            seed=EVALUATION_SEED,
            progress=self.progress,
            with_error=True,
        )

    def checkpointer(self, out_dir) -> Checkpointer:
        """What this run's checkpoint in ``out_dir/checkpoint.pt`` holds: model, guide, the
        algorithm's own state (e.g. MCEM's chains), optimiser, RNG states, history, configuration."""
        modules = {"model": self.model}
        if self.guide is not None:
            modules["guide"] = self.guide
        if isinstance(self.algorithm, torch.nn.Module):
            modules["algorithm"] = self.algorithm
        return Checkpointer(Path(out_dir) / "checkpoint.pt", modules, self.optimizer, self.config)


def build(
    config: dict, *, data=None, data_dir=None, device="auto", log=print, progress: bool = True, memory_budget=None
) -> Experiment:
    """Build every piece of a run from ``config`` (see :func:`resolve_run_config`): the data on
    ``device`` (streamed from host memory when they do not fit there, or exceed ``memory_budget``
    bytes), the model, the guide (none for an encoder-free algorithm), the algorithm and its
    optimiser. ``progress`` reports the long steps of the returned run.

    ``data`` replaces the configuration's ``dataset`` with data given in Python: anything
    :func:`aevb.data.load_source` reads (a tensor or array of rows, a ``(train, test)`` pair, a
    torchvision dataset, a path); the configuration then records ``dataset: in-memory`` (or the path)."""
    if data is not None:
        config = {**config, "dataset": str(data) if isinstance(data, (str, Path)) else data_module.IN_MEMORY}
    config = resolve_run_config(config)
    ctx, device = distributed.init_distributed(resolve_device(device))  # a no-op unless launched by torchrun
    if ctx.enabled:
        check_data_parallel(config)
    pyro.clear_param_store()
    pyro.set_rng_seed(config["seed"])
    train, test = data_module.load_dataset(
        config["dataset"] if data is None else data,
        data_dir,
        binarize_mode=config["binarize"],
        seed=config["seed"],
        device=device,
        train_size=config["train_size"],
        test_size=config["test_size"],
        test_fraction=config["test_fraction"],
        split_seed=config["split_seed"],
        image_size=config["image_size"],
        binary_data=LIKELIHOODS[config["likelihood"]].binary,
        memory_budget=memory_budget,
        log=log,
    )
    if config["eval_points"] is not None and not 1 <= config["eval_points"] <= len(test):
        raise ValueError(f"eval_points must be between 1 and {len(test)}, got {config['eval_points']}")
    spec = ModelSpec(
        data_dim=train.x.shape[1],
        image_shape=tuple(train.image_shape),
        latent_dim=config["latent_dim"],
        hidden_dims=tuple(config["hidden_dims"] or ()),
        likelihood=config["likelihood"],
        init=config["init"],
    )
    model = build_model(config["model"], spec).to(device)
    algorithm_class = ALGORITHMS[config["inference"]]
    guide = None
    if capabilities(algorithm_class, "algorithm").needs_guide:
        guide = make_guide(
            config["guide"],
            model,
            init=config["init"],
            num_data=len(train),
            flow_steps=config["flow_steps"],
            flow_type=config["flow_type"],
        ).to(device)
    algorithm = algorithm_class.from_config(model, guide, config, len(train))
    # the step wrappers, composed once here: mixed precision inside, the compiled graph around it
    step = mixed_precision(algorithm.step, [model, guide], config["precision"])
    step = compile_step(
        algorithm,
        config["compile"],
        modules=[model, guide],
        step=step,
        programs=(model, guide),
        steps=config["epochs"] * math.ceil(len(train) / config["batch_size"]),
        log=log,
        cache_dir=Path(data_dir or data_module.default_data_dir()) / "inductor",
    )
    sparse = guide.sparse_parameters() if guide is not None else ()
    optimizer = make_optimizer(
        config["optimizer"], algorithm.parameters(), config["lr"], sparse_params=sparse, eps=config["optimizer_eps"]
    )
    return Experiment(config, train, test, model, guide, algorithm, optimizer, step=step, progress=progress)


def check_combination(config: dict) -> None:
    """Refuse what cannot work together, with the reason, before any work is done: the model's
    configuration keys (:data:`aevb.models.MODELS`), then the combination rules of
    :mod:`aevb.inference.rules` on the registered classes the configuration names (their
    declarations, never their names), in the words of the flags."""
    entry, m = MODELS[config["model"]], config["model"]
    if config["likelihood"] not in entry.likelihoods:
        raise ValueError(
            f"--model {m} supports --likelihood {' or '.join(entry.likelihoods)}, got {config['likelihood']}"
        )
    if config["hidden_dims"] is not None and not entry.reads_hidden_dims:
        raise ValueError(f"--model {m} does not read --hidden-dims (its layers follow from --latent-dim); leave it out")
    rules.check(
        ALGORITHMS[config["inference"]],
        model=entry.cls,
        guide=trained_guide(config),
        estimator=LL_ESTIMATORS[config["ll_estimator"]],
        num_particles=config["num_particles"],
        sgvb=config["estimator"],
        map_prior=config["map_prior"],
        compiled=config["compile"] in TRACED,
        latent_size=entry.latent_size(config["latent_dim"]) if entry.latent_size else None,
        names=flag_names(config),
    )


def check_data_parallel(config: dict) -> None:
    """Refuse what cannot be split across ranks: per-datapoint state that each rank would update
    for its own points only (the algorithm's and the guide's declarations)."""
    rules.check(
        ALGORITHMS[config["inference"]], guide=trained_guide(config), data_parallel=True, names=flag_names(config)
    )


def flag_names(config: dict) -> dict:
    """How the rules' messages name the pieces of a configured run: by the flags that chose them."""
    # a family whose declarations depend on --flow-type is named with it
    flow = f" --flow-type {config['flow_type']}" if configured_guide(config) is not GUIDES[config["guide"]] else ""
    return {
        "algorithm": f"--inference {config['inference']}",
        "model": f"--model {config['model']}",
        "guide": f"--guide {config['guide']}{flow}",
        "estimator": f"--ll-estimator {config['ll_estimator']}",
        "sgvb": "--estimator",
        "compile": "--compile",
        "num_particles": "--num-particles",
        "map_prior": "--map-prior",
    }


def stored_config(checkpoint_path) -> dict:
    """The configuration a checkpoint was trained with, resolved (keys added since it was written
    take their defaults); raises :class:`CheckpointError` when it is not a valid configuration."""
    stored = load_checkpoint(checkpoint_path).get("config")
    if not isinstance(stored, dict):
        raise CheckpointError(f"{checkpoint_path} holds no run configuration")
    try:
        return resolve_run_config(stored)
    except (cfg.ConfigError, ValueError) as e:
        raise CheckpointError(f"{checkpoint_path} holds an unusable configuration: {e}") from None


def resume_config(checkpoint_path, overrides: dict) -> dict:
    """The stored configuration of a checkpointed run, with ``overrides`` (the keys the user set)
    applied; raises :class:`CheckpointError` when they change a key outside :data:`RESUMABLE`
    (e.g. another latent size): that would not continue the same run."""
    stored = stored_config(checkpoint_path)
    try:
        wanted = resolve_run_config({**stored, **overrides})
    except ValueError:
        # a key that may not change was changed: say that, not what the changed key cannot combine with
        given = cfg.validate(migrate(overrides), cfg.RUN_KEYS, where="run configuration")
        clashes = {k: (stored[k], v) for k, v in given.items() if k not in RESUMABLE and stored[k] != v}
        if not clashes:
            raise
    else:
        clashes = {k: (stored[k], wanted[k]) for k in overrides if k not in RESUMABLE and stored[k] != wanted[k]}
    if clashes:
        listed = ", ".join(f"{k}: checkpoint {a!r}, asked {b!r}" for k, (a, b) in sorted(clashes.items()))
        raise CheckpointError(f"cannot resume {checkpoint_path} with a different configuration ({listed})")
    return wanted


def build_in(folder, config: dict, *, resume: bool, **kwargs) -> tuple:
    """``(run, state)``: the run of ``config`` whose run folder is ``folder``, and the state to train
    it from. With ``resume`` and a checkpoint in ``folder``: the checkpoint's configuration with
    ``config`` applied (:func:`resume_config`, which refuses a key that may not change) and its
    restored state; otherwise a fresh run and None. ``kwargs`` are :func:`build`'s."""
    checkpoint = Path(folder) / "checkpoint.pt"
    if not (resume and checkpoint.exists()):
        return build(config, **kwargs), None
    run = build(resume_config(checkpoint, config), **kwargs)
    return run, run.checkpointer(folder).restore()


def train(experiment: Experiment, out_dir, *, resume: bool = False, overwrite: bool = False, **kwargs) -> TrainState:
    """Train ``experiment`` into the run folder ``out_dir``, guarded as the programs guard ``--out``
    (:class:`aevb.folder.RunFolder`): a folder that holds a run is refused unless ``resume=True``
    continues it or ``overwrite=True`` replaces it (its run's own files deleted first, nothing
    else); a folder holding files this collection did not write is refused whatever the arguments;
    one writer at a time. ``state``, the state an earlier call in this process returned, continues
    that run. The other keywords are :func:`train_in`'s."""
    with RunFolder(
        out_dir,
        holds=run_in,
        outputs=RUN_OUTPUTS,
        resume=resume or kwargs.get("state") is not None,
        overwrite=overwrite,
        words=API_WORDS,
    ):
        return train_in(experiment, out_dir, resume=resume and run_in(out_dir) is not None, **kwargs)


def train_in(
    experiment: Experiment,
    out_dir,
    *,
    resume: bool = False,
    state: TrainState = None,
    on_epoch_end=None,
    max_examples=None,
    evaluate=True,
    progress=None,
) -> TrainState:
    """:func:`train` in a folder its caller already holds (a program's ``--out``, opened with
    :class:`aevb.folder.RunFolder`): train with checkpoints in ``out_dir/checkpoint.pt`` (continuing
    it when ``resume``, or from ``state``, the state a previous call in this process returned,
    without reading the checkpoint);
    ``on_epoch_end(state)`` runs after every epoch; the configuration's ``max_seconds`` and
    ``max_examples`` end training early (see :func:`aevb.inference.training.loop.fit`); every epoch's step
    size is the configuration's ``lr_schedule`` at that epoch; ``evaluate=False``
    skips the per-epoch test ELBO; ``progress`` (default: the run's) shows the epochs' progress."""
    c = experiment.config
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    checkpointer = experiment.checkpointer(out_dir)
    if state is None:
        state = checkpointer.restore() if resume else TrainState()
    prior = experiment.model.parameters() if c["map_prior"] else None
    return fit(
        experiment.algorithm,
        experiment.optimizer,
        experiment.train,
        epochs=c["epochs"],
        batch_size=c["batch_size"],
        seed=c["seed"],
        step=experiment.step,
        prior_params=prior,
        state=state,
        stops=StopRules(max_seconds=c["max_seconds"], max_examples=max_examples),
        evaluate=experiment.evaluate if evaluate else None,
        checkpointer=checkpointer,
        on_epoch_end=on_epoch_end,
        lr_at=functools.partial(LR_SCHEDULES[c["lr_schedule"]], c["lr"]),
        progress=experiment.progress if progress is None else progress,
    )


def fit_in(
    folder,
    model,
    guide,
    train,
    *,
    config: dict,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    evaluate=None,
    on_epoch_end=None,
) -> TrainState:
    """``model`` and ``guide`` fitted by AEVB with Adam at ``lr`` for ``epochs`` epochs, a checkpoint
    in ``folder/checkpoint.pt`` after every epoch (holding ``config``), continued from it when there
    is one: the training of a program that builds its models itself instead of from a run
    configuration (``examples/semi_supervised_m2.py``, ``examples/conditional_vae.py``). ``evaluate``
    and ``on_epoch_end`` are :func:`~aevb.inference.training.loop.fit`'s."""
    algorithm = ALGORITHMS["aevb"](model, guide)
    optimizer = torch.optim.Adam(algorithm.parameters(), lr=lr)
    Path(folder).mkdir(parents=True, exist_ok=True)
    checkpointer = Checkpointer(Path(folder) / "checkpoint.pt", {"model": model, "guide": guide}, optimizer, config)
    state = checkpointer.restore() if checkpointer.path.is_file() else TrainState()
    return fit(
        algorithm,
        optimizer,
        train,
        epochs=epochs,
        batch_size=batch_size,
        seed=seed,
        state=state,
        evaluate=evaluate,
        checkpointer=checkpointer,
        on_epoch_end=on_epoch_end,
        progress=False,
    )


def load(path, *, data=None, data_dir=None, device="auto", log=print, progress: bool = True) -> Experiment:
    """The run checkpointed at ``path`` (a run folder or its ``checkpoint.pt``), rebuilt from its
    stored configuration with the trained weights, optimiser state and per-point state restored
    (the RNG is left alone); ``run.history`` holds its finished epochs' records. A run trained on
    data given in Python (``dataset: in-memory``) needs them again as ``data``."""
    path = checkpoint_path(path)
    experiment = build(stored_config(path), data=data, data_dir=data_dir, device=device, log=log, progress=progress)
    state = experiment.checkpointer(path.parent).restore(load_checkpoint(path), rng=False)
    experiment.history = state.history
    return experiment
