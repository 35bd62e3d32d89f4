"""The one table of shared options: every run key, and every program key more than one program reads,
with its default, type, range and help. A program's own options (read by it alone) are declared in
the program (``cli.Program(options=...)``) with the same :class:`Option`.

Every command-line flag is generated from this table (:mod:`aevb.cli`), so a flag has the same
name, default and help in every program that offers it; a configuration file (``--config``)
and the Python API (:func:`aevb.experiment.build`) are validated against the same entries.

Keys come in two kinds:

* **run keys** (``run=True``) make up a run's configuration: what :func:`aevb.experiment.build`
  assembles data, model, guide, algorithm and optimiser from. They are stored in the run's
  checkpoint and ``metrics.json``; ``resumable`` ones may change when a run is continued.
* **program keys** say where and how a program works (output folder, device, a sweep's
  budget, a comparison's grid) and never change what a run computes.

A default of ``None`` is resolved in one place each: ``lr`` by :data:`DEFAULT_LR` for the
optimiser, ``hidden_dims`` by :data:`PAPER_HIDDEN` for the data set (Appendix C: one layer of
500 units for MNIST, of 200 for Frey Face), ``estimator="auto"`` by the declared closed-form KL
of the guide and the model (:func:`aevb.experiment.resolve_run_config`), and the figure
programs' sweep keys by each figure's own definition (said in the option's help).
"""

import math
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

#: The largest integer any key accepts: the largest tensor dimension torch indexes with 32-bit sizes.
MAX_INT = 2**31 - 1


#: The metavars of options that name a path, and what they name (an empty name is refused).
PATH_METAVARS = {"DIR": "folder", "FILE": "file", "PATH": "file or folder"}


class ConfigError(ValueError):
    """A configuration value, file or flag is not acceptable; the message says which and why."""


#: The step size a run gets when ``lr`` is not given: Adam's usual 1e-3, and for Adagrad the
#: middle of the paper's {0.01, 0.02, 0.1} (§5).
DEFAULT_LR = {"adam": 1e-3, "adagrad": 0.02}
#: Hidden layers per data set when ``hidden_dims`` is not given (Appendix C, §5: one tanh layer).
PAPER_HIDDEN = {"mnist": [500], "fashion-mnist": [200], "frey": [200]}


def registry(module: str, name: str) -> Callable[[], list]:
    """Choices read from a registry when first needed (the registries import this module's users)."""

    def choices():
        import importlib

        return sorted(getattr(importlib.import_module(module), name))

    return choices


@dataclass(frozen=True)
class Option:
    """One key of the table.

    :param key: the name in configurations; the flag is ``--key-with-dashes``.
    :param default: the value when neither a configuration file nor a flag sets it.
    :param help: one line for ``--help``.
    :param type: ``int``, ``float``, ``str`` or ``bool`` (a switch) of each value.
    :param choices: allowed values, or a callable returning them (a registry's names).
    :param many: the value is a list of ``type`` (one or more values after the flag).
    :param low: the smallest allowed value (``open_low``: values must exceed it).
    :param run: part of a run's configuration (see the module docstring).
    :param resumable: a run key that may differ when a run is resumed.
    :param or_path: a value outside ``choices`` is accepted when it names a file or folder
        (``--dataset path/to/data.npz``).
    """

    key: str
    default: Any
    help: str
    type: type = str
    choices: Optional[Any] = None
    many: bool = False
    low: Optional[float] = None
    open_low: bool = False
    run: bool = False
    resumable: bool = False
    metavar: Optional[str] = None
    or_path: bool = False

    @property
    def flag(self) -> str:
        return "--" + self.key.replace("_", "-")

    def allowed(self) -> Optional[Sequence]:
        return self.choices() if callable(self.choices) else self.choices

    def validate(self, value, name: str = None):
        """``value`` converted to this option's type and checked; raises :class:`ConfigError`
        whose message calls the value ``name`` (default: the key)."""
        name = name or self.key
        if value is None:
            if self.default is None:
                return None
            raise ConfigError(f"{name} must be set (it has no empty value), got null")
        if self.many:
            if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
                value = [value]
            if not value:
                raise ConfigError(f"{name} needs at least one value")
            return [self._one(v, name) for v in value]
        return self._one(value, name)

    def _one(self, value, name):
        kind, given = self.type, value
        if kind in (int, float) and isinstance(value, str):  # a flag's text, or YAML's "1e-3" (a string in YAML 1.1)
            try:
                value = float(value) if kind is float or not value.strip().lstrip("+-").isdigit() else int(value)
            except ValueError:
                raise ConfigError(
                    f"{name} must be {'an integer' if kind is int else 'a number'}, got {given!r}"
                ) from None
        if kind is bool:
            if not isinstance(value, bool):
                raise ConfigError(f"{name} must be true or false, got {value!r}")
        elif kind is int:
            if isinstance(value, bool) or not (
                isinstance(value, int) or (isinstance(value, float) and value.is_integer())
            ):
                raise ConfigError(f"{name} must be an integer, got {given!r}")
            value = int(value)
            if abs(value) > MAX_INT:  # every integer key sizes or counts something a tensor holds
                raise ConfigError(f"{name} must be at most {MAX_INT} in size, got {value}")
        elif kind is float:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"{name} must be a number, got {value!r}")
            value = float(value)
            if not math.isfinite(value):
                raise ConfigError(f"{name} must be a finite number, got {given!r}")
        elif not isinstance(value, str):
            raise ConfigError(f"{name} must be a string, got {value!r}")
        elif self.metavar in PATH_METAVARS and not value.strip():
            raise ConfigError(f"{name} must name a {PATH_METAVARS[self.metavar]}, got an empty name")
        if self.low is not None and (value <= self.low if self.open_low else value < self.low):
            bound = f"greater than {self.low:g}" if self.open_low else f"at least {self.low:g}"
            raise ConfigError(f"{name} must be {bound}, got {value!r}")
        allowed = self.allowed()
        if allowed is not None and value not in allowed and not (self.or_path and _names_path(value)):
            path = " or a path to a .npy or .npz file or a folder of images" if self.or_path else ""
            raise ConfigError(f"{name} must be one of {list(allowed)}{path}, got {value!r}")
        return value


def _names_path(value: str) -> bool:
    from .data import is_path  # the data layer's rule, imported when first needed

    return is_path(value)


def positive(key, default, help, **kw):
    return Option(key, default, help, type=int, low=1, **kw)


OPTIONS = [
    # ------------------------------------------------------------------ a run: data, model, guide, algorithm
    Option(
        "dataset",
        "mnist",
        "data set: mnist, fashion-mnist, frey or chorales (sequences: --model dmm), or a .npy/.npz file or a folder "
        "of images (docs/your_model.md)",
        choices=registry("aevb.data", "DATASETS"),
        or_path=True,
        metavar="NAME|PATH",
        run=True,
    ),
    Option(
        "test_fraction",
        0.1,
        "--dataset PATH without a test split of its own: the fraction of rows held out as the test set",
        type=float,
        low=0,
        open_low=True,
        run=True,
    ),
    Option("split_seed", 0, "--dataset PATH: the seed of the held-out rows' permutation", type=int, low=0, run=True),
    positive(
        "image_size",
        None,
        "--dataset FOLDER: resize every image to N x N (default: all must be one size)",
        metavar="N",
        run=True,
    ),
    Option(
        "model",
        "mlp",
        "the model p(z) p(x|z) (docs/models.md describes each)",
        choices=registry("aevb.models", "MODELS"),
        run=True,
    ),
    Option(
        "likelihood",
        "bernoulli",
        "p(x|z): bernoulli for binary data, gaussian for real-valued data",
        choices=registry("aevb.models", "LIKELIHOODS"),
        run=True,
    ),
    Option("guide", "diag", "the guide q(z|x) (docs/guides.md)", choices=registry("aevb.guides", "GUIDES"), run=True),
    Option(
        "inference", "aevb", "fitting algorithm", choices=registry("aevb.inference.algorithms", "ALGORITHMS"), run=True
    ),
    positive("latent_dim", 20, "Nz, the size of z", run=True),
    Option(
        "hidden_dims",
        None,
        "tanh layers of the mlp model's decoder and its guides' encoders, e.g. 200 200 (default: the paper's "
        "one layer for the data set: 500 MNIST, 200 Frey Face and Fashion-MNIST)",
        type=int,
        many=True,
        low=1,
        run=True,
    ),
    Option(
        "init",
        "default",
        "'paper': every parameter from N(0, 0.01^2) (§5); 'glorot': Glorot & Bengio's uniform weights, zero biases "
        "(Burda et al.); 'default': PyTorch's",
        choices=registry("aevb.models.networks", "INITS"),
        run=True,
    ),
    Option(
        "binarize",
        "dynamic",
        "binary data: a fresh draw per minibatch (dynamic), one fixed draw (static), or none",
        choices=("dynamic", "static", "none"),
        run=True,
    ),
    positive("train_size", None, "use the first N training points (default: all)", run=True),
    positive("test_size", None, "use the first N test points (default: all)", run=True),
    Option("seed", 0, "random seed of initialisation, data order and every draw", type=int, low=0, run=True),
    # ------------------------------------------------------------------ a run: the objective and the optimiser
    Option(
        "estimator",
        "auto",
        "SGVB estimator: A (generic, eq. 6), B (analytic KL, eq. 7), or auto: B where the guide has a closed-form "
        "KL, else A",
        choices=("auto", "A", "B"),
        run=True,
    ),
    positive(
        "num_particles", 1, "L, eps draws per datapoint (aevb, full-vb); k, importance samples (iwae, rws)", run=True
    ),
    positive("flow_steps", 2, "flow guide: number of conditional flow steps K", run=True),
    Option(
        "flow_type", "iaf", "flow guide: the type of each flow step", choices=registry("aevb.guides", "FLOWS"), run=True
    ),
    Option(
        "global_guide",
        "normal",
        "full-vb: Pyro AutoGuide over the decoder weights (normal scales to MNIST; mvn only to small models)",
        choices=registry("aevb.guides.global_latents", "AUTOGUIDES"),
        run=True,
    ),
    Option(
        "optimizer",
        "adam",
        "the optimiser (adagrad is the paper's)",
        choices=registry("aevb.inference.training.optim", "OPTIMIZERS"),
        run=True,
    ),
    Option(
        "lr", None, "step size (default: 1e-3 for adam, 0.02 for adagrad)", type=float, low=0, open_low=True, run=True
    ),
    Option(
        "lr_schedule",
        "constant",
        "the step size per epoch: constant, or burda (Burda et al.'s stages: lr*10^(-i/7) for 3^i epochs, "
        "i = 0, 1, ...)",
        choices=registry("aevb.inference.training.schedule", "LR_SCHEDULES"),
        run=True,
    ),
    Option(
        "optimizer_eps",
        None,
        "the optimiser's epsilon (default: torch's, 1e-8 for adam; Burda et al. used 1e-4)",
        type=float,
        low=0,
        open_low=True,
        run=True,
    ),
    positive("batch_size", 100, "minibatch size M", run=True),
    Option(
        "map_prior",
        False,
        "add the paper's N(0, I) prior on the decoder weights (weight decay, §5)",
        type=bool,
        run=True,
    ),
    Option(
        "precision",
        "32",
        "training steps in float32 (32), or the networks' layers in bfloat16 with every density, KL and "
        "reduction in float32 (bf16-mixed); evaluation is always float32",
        choices=registry("aevb.inference.training.precision", "PRECISIONS"),
        run=True,
        resumable=True,
    ),
    Option(
        "compile",
        "auto",
        "trace the training step once per batch shape and run the graph without Pyro's per-step Python: "
        "trace (PyTorch's kernels, the same numbers as off), inductor (torch.compile of that graph), off (Pyro on "
        "every step), auto (trace where the algorithm declares it and the model's sites do not depend on the "
        "values drawn, checked on the first batch; off otherwise, saying why)",
        choices=registry("aevb.inference.training.compile", "MODES"),
        run=True,
        resumable=True,
    ),
    positive("epochs", 10, "total epochs (also with --resume)", run=True, resumable=True),
    Option(
        "max_seconds",
        None,
        "stop training after this many seconds of training (the epoch it ends in is evaluated and kept)",
        type=float,
        low=0,
        open_low=True,
        run=True,
        resumable=True,
    ),
    # ------------------------------------------------------------------ a run: how it is scored
    positive("elbo_samples", 10, "z draws per point for the test ELBO", run=True),
    Option(
        "ll_estimator",
        "is",
        "the test log-likelihood estimator (docs/models.md says where each applies)",
        choices=registry("aevb.inference.estimators", "LL_ESTIMATORS"),
        run=True,
        resumable=True,
    ),
    positive(
        "eval_samples",
        1000,
        "is: K importance samples; appendix-d: posterior samples; ais: annealing steps",
        run=True,
        resumable=True,
    ),
    positive("eval_points", None, "test points for the log-likelihood (default: all)", run=True, resumable=True),
    Option(
        "refine_steps",
        200,
        "per-point Adam steps: the amortisation gap and the meanfield guide's test fit",
        type=int,
        low=0,
        run=True,
        resumable=True,
    ),
    Option("refine_lr", 0.05, "step size of those fits", type=float, low=0, open_low=True, run=True, resumable=True),
    # ------------------------------------------------------------------ every program
    Option(
        "config",
        None,
        "a YAML or JSON file of keys (a run's saved config.yaml reruns it); flags override it",
        metavar="FILE",
    ),
    Option("out", None, "output folder (default: runs/PROGRAM)", metavar="DIR"),
    Option(
        "data_dir",
        None,
        "data folder (default: $AEVB_DATA_DIR, else .data/ in a checkout, else ~/.cache/aevb-pyro)",
        metavar="DIR",
    ),
    Option("device", "auto", "auto, cpu or cuda", choices=("auto", "cpu", "cuda")),
    Option("resume", False, "continue the run(s) checkpointed in --out", type=bool),
    Option(
        "overwrite",
        False,
        "replace what --out holds: its run's checkpoint, metrics, configuration and figures are deleted first",
        type=bool,
    ),
    Option("quiet", False, "no progress and no per-epoch lines", type=bool),
    Option(
        "tensorboard",
        None,
        "write TensorBoard event files (scalars, images, configuration) into this folder",
        metavar="DIR",
    ),
    # ------------------------------------------------------------------ the paper-figure programs
    Option(
        "data",
        "mnist",
        "mnist, or frey (Frey Face; Fashion-MNIST when Frey Face cannot be had)",
        choices=("mnist", "frey"),
    ),
    Option(
        "latent_dims",
        None,
        "latent sizes, one panel or model each (default: the figure's, from the paper)",
        type=int,
        many=True,
        low=1,
    ),
    Option(
        "methods",
        None,
        "algorithms compared (default: every one the figure shows)",
        many=True,
        choices=registry("aevb.inference.algorithms", "ALGORITHMS"),
    ),
    positive(
        "budget", None, "training samples per run (default: the figure's CPU budget, see the program's description)"
    ),
    Option(
        "lr_candidates",
        None,
        "step sizes tried (default: 0.01 0.02 0.1 for adagrad as in §5; 3e-4 1e-3 3e-3 for adam)",
        type=float,
        many=True,
        low=0,
        open_low=True,
    ),
    positive("lr_search_samples", 20_000, "training samples per step-size trial"),
    positive(
        "lr_search_points",
        100,
        "held-out training points (after --train-size) scoring the step-size trials of an algorithm "
        "without a training bound (mcem), by AIS from the prior",
    ),
    positive("train_eval_points", 10_000, "training points a train curve is computed on"),
    positive("bound_samples", 1, "draws from q(z|x) per point for each point of a bound curve"),
    positive("first_eval", 10_000, "training samples at a curve's first evaluation"),
    positive(
        "evals_per_decade",
        None,
        "curve evaluations per decade of samples (default: the figure's: 5 for Figure 2, 2 for Figure 3)",
    ),
    positive("ais_steps", 300, "Figure 3: AIS annealing steps"),
    # ------------------------------------------------------------------ protocols of repeated runs
    Option("seeds", [0, 1, 2], "the seeds of the protocol's repeated runs", type=int, many=True, low=0),
    # ------------------------------------------------------------------ the supervised models (§6 (iv))
    Option(
        "labels", [100, 3000], "M2: labelled training images per run (a multiple of 10)", type=int, many=True, low=10
    ),
    positive("baseline_epochs", 5, "the conditional VAE's deterministic baseline: its epochs"),
    # ------------------------------------------------------------------ benchmarks/
    positive("points", 100, "points scored"),
    Option("run_dirs", None, "run folders, each with a checkpoint.pt", many=True, metavar="DIR"),
    # ------------------------------------------------------------------ programs that read one trained run
    Option("checkpoint", None, "a run's checkpoint.pt (or its folder)", metavar="PATH"),
]

#: key → :class:`Option`.
TABLE = {option.key: option for option in OPTIONS}
#: The keys of a run's configuration, and their defaults (what :func:`aevb.experiment.build` fills in).
RUN_KEYS = tuple(option.key for option in OPTIONS if option.run)
DEFAULTS = {key: TABLE[key].default for key in RUN_KEYS}
#: Run keys that may differ when a run is resumed; every other run key must match the checkpoint.
RESUMABLE = frozenset(option.key for option in OPTIONS if option.resumable)


def option(key: str) -> Option:
    if key not in TABLE:
        raise ConfigError(f"unknown configuration key {key!r}")
    return TABLE[key]


def validate(values: dict, allowed=None, where: str = "configuration", table: dict = None) -> dict:
    """Every entry of ``values`` checked against the table (``table``: a program's, its own options
    included; and, with ``allowed``, restricted to those keys); returns the converted values. Raises
    :class:`ConfigError` naming the key."""
    table = TABLE if table is None else table
    odd = [k for k in values if not isinstance(k, str)]
    if odd:
        raise ConfigError(f"the {where} has keys that are not names: {', '.join(map(repr, odd[:3]))}")
    unknown = [k for k in values if k not in table or (allowed is not None and k not in allowed)]
    if unknown:
        hint = "" if allowed is None else f"; this program reads {', '.join(sorted(allowed))}"
        raise ConfigError(
            f"unknown key{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, sorted(unknown)))} in the {where}{hint}"
        )
    return {k: table[k].validate(v) for k, v in values.items()}


def load_file(path) -> dict:
    """The mapping in a YAML or JSON file: either the keys themselves or, as in a run's
    ``metrics.json``, under a top-level ``"config"`` entry."""
    import json
    from pathlib import Path

    import yaml

    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(f"cannot read the configuration file {path}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"the configuration file {path} is not a text file (YAML or JSON)") from None
    try:
        values = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ConfigError(f"{path} is not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {first}") from None
    if values is None:
        return {}
    if isinstance(values, dict) and isinstance(values.get("config"), dict) and "epochs" in values:
        values = values["config"]  # a metrics.json: its configuration
    if not isinstance(values, dict):
        raise ConfigError(f"{path} must hold a mapping of configuration keys, got {type(values).__name__}")
    return values


def dump(values: dict) -> str:
    """``values`` as YAML, in the table's order (readable back with :func:`load_file`)."""
    import yaml

    order = {k: i for i, k in enumerate(TABLE)}
    ordered = {k: values[k] for k in sorted(values, key=lambda k: order.get(k, len(order)))}
    return yaml.safe_dump(ordered, sort_keys=False, default_flow_style=False)
