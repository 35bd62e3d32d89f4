import contextlib
import importlib.util
import io
import math
from pathlib import Path
from types import SimpleNamespace

import pyro
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def fresh_pyro():
    """Every test starts with an empty param store, a fixed seed and validation on."""
    pyro.clear_param_store()
    pyro.set_rng_seed(0)
    pyro.enable_validation(True)
    yield
    pyro.clear_param_store()


def mnist_dir():
    """The MNIST folder the test command prepared (`make test` fetches it first); tests never download."""
    from aevb.data import default_data_dir
    from aevb.data.mnist import SHA256, _find

    d = default_data_dir()
    return d if all(_find(d, n) is not None for n in SHA256) else None


requires_mnist = pytest.mark.skipif(
    mnist_dir() is None, reason="MNIST not in the data folder: run `make data` (tests never download)"
)


def tiny_model_and_guide(data_dim=6, latent_dim=2, hidden_dim=8, seed=0):
    from aevb.guides import DiagonalGaussianGuide
    from aevb.models import BernoulliVAE

    torch.manual_seed(seed)
    return BernoulliVAE(data_dim, latent_dim, hidden_dim), DiagonalGaussianGuide(data_dim, latent_dim, hidden_dim)


def grey_split(n=60, d=6):
    """A small grey-level training split with dynamic binarisation (a fixed draw)."""
    from aevb.data import Split

    return Split(torch.rand(n, d, generator=torch.Generator().manual_seed(4)), (2, 3), dynamic=True)


def binary_data(n, d, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.bernoulli(torch.full((n, d), 0.3), generator=g)


def linear_gaussian_problem(
    data_dim=5, latent_dim=2, num_train=1000, num_test=200, sigma=0.5, seed=0, dtype=torch.float32
):
    """A linear-Gaussian model with known parameters and train/test samples drawn from it."""
    from aevb.models.linear_gaussian import LinearGaussianModel

    g = torch.Generator().manual_seed(seed)
    W = torch.randn(data_dim, latent_dim, generator=g, dtype=torch.float64)
    b = torch.randn(data_dim, generator=g, dtype=torch.float64)
    truth = LinearGaussianModel(data_dim, latent_dim).double().set_parameters(W, b, sigma)
    with torch.no_grad():
        x = truth.marginal().sample((num_train + num_test,))
    return truth.to(dtype), x[:num_train].to(dtype), x[num_train:].to(dtype)


def anisotropic_linear_gaussian(latent_dim=10, num_points=100, seed=1):
    """The oracle of issue 15: a linear-Gaussian model whose exact posterior standard deviations
    run geometrically from 0.9 down by a factor of 50 (0.9 … 0.018) along the latent axes, and
    ``num_points`` points drawn from its marginal. One step size cannot suit every dimension."""
    from aevb.models.linear_gaussian import LinearGaussianModel

    scales = (0.9 * torch.logspace(0, -math.log10(50), latent_dim, dtype=torch.float64)).tolist()
    model = LinearGaussianModel.with_posterior_scales(scales, sigma=0.5).float()
    model.train(False)
    for p in model.parameters():
        p.requires_grad_(False)
    torch.manual_seed(seed)
    with torch.no_grad():
        x = model.marginal().sample((num_points,))
    return model, x


def rotated_linear_gaussian(latent_dim=10, num_points=20, seed=0, spread=50.0):
    """The anisotropic oracle with its latent basis rotated (issue 27): posterior standard
    deviations 0.9 … 0.9/``spread`` along the directions of a random rotation drawn from ``seed``,
    so the posterior is correlated (a trained decoder's posteriors look like this), frozen, and
    ``num_points`` points (z, x) ~ p(z) p(x|z) simulated from it: (model, x); the exact posterior
    draws come from :func:`rotated_linear_gaussian_with_draws`."""
    model, x, _ = rotated_linear_gaussian_with_draws(latent_dim, num_points, seed, spread)
    return model, x


def rotated_linear_gaussian_with_draws(latent_dim=10, num_points=20, seed=0, spread=50.0):
    """:func:`rotated_linear_gaussian` and the exact posterior draws z that made its points."""
    from aevb.inference.estimators.bdmc import simulate
    from aevb.models.linear_gaussian import LinearGaussianModel

    scales = (0.9 * spread ** -torch.linspace(0, 1, latent_dim, dtype=torch.float64)).tolist()
    model = LinearGaussianModel.with_posterior_scales(scales, sigma=0.5, seed=seed, rotated=True).float()
    model.train(False)
    for p in model.parameters():
        p.requires_grad_(False)
    x, z = simulate(model, torch.zeros(num_points, model.data_dim), seed=seed)
    return model, x, z


def correlated_linear_gaussian():
    """A linear-Gaussian model whose exact posterior has correlation −0.93 (W's columns nearly
    parallel), so the best diagonal Gaussian is 1.0 nats per datapoint from it."""
    from aevb.models.linear_gaussian import LinearGaussianModel

    g = torch.Generator().manual_seed(0)
    W = torch.randn(5, 1, generator=g).repeat(1, 2) + 0.3 * torch.randn(5, 2, generator=g)
    truth = LinearGaussianModel(5, 2).set_parameters(W, torch.randn(5, generator=g), 0.5)
    for p in truth.parameters():
        p.requires_grad_(False)
    with torch.no_grad():
        x = truth.marginal().sample((1200,))
    return truth, x[:1000], x[1000:]


def load_script(path):
    """A script that is not part of the package (e.g. ``benchmarks/reference_vae.py``), imported
    from its file."""
    path = Path(path)
    spec = importlib.util.spec_from_file_location(f"script_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_program(module, *args, check: bool = True):
    """``module.main(args)`` in this process through the programs' one error wrapper
    (:func:`aevb.cli.run`, as ``python examples/NAME.py ARGS`` runs it), with stdout and stderr
    captured: ``.returncode``, ``.stdout``, ``.stderr``."""
    from aevb import cli

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.run(module.main, [str(a) for a in args])
    result = SimpleNamespace(returncode=code, stdout=out.getvalue(), stderr=err.getvalue())
    if check:
        assert code == 0, result.stderr[-3000:]
    return result


@pytest.fixture
def small_disk(tmp_path):
    """``small_disk(kilobytes)``: a folder on a real filesystem of that size (a tmpfs) when this
    test may mount one, else None (the caller then patches a write to raise ENOSPC instead)."""
    import subprocess

    mounted = []

    def make(kilobytes: int):
        folder = tmp_path / f"disk{len(mounted)}"
        folder.mkdir()
        result = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={kilobytes}k", "tmpfs", str(folder)], capture_output=True
        )
        if result.returncode != 0:
            return None
        mounted.append(folder)
        return folder

    yield make
    for folder in mounted:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


class FullDiskFile:
    """A file object whose writes fail with ENOSPC once ``budget`` bytes were written: a disk that
    fills up in the middle of a write."""

    def __init__(self, file, budget: int):
        self.file, self.budget = file, budget

    def write(self, data):
        import errno

        if len(data) > self.budget:
            self.file.write(bytes(data[: self.budget]))
            raise OSError(errno.ENOSPC, "No space left on device")
        self.budget -= len(data)
        return self.file.write(data)

    def __getattr__(self, name):
        return getattr(self.file, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.file.close()


def two_layer_problem(num_train=1000, num_test=20, sizes=(2, 1), seed=0):
    """A two-layer linear-Gaussian model (z₂ → z₁ → x, 5 data dimensions) with known parameters,
    frozen, and train/test samples drawn from it: the oracle for models with several latent sites."""
    from aevb.models.linear_gaussian import TwoLayerLinearGaussian

    g = torch.Generator().manual_seed(seed)
    k1, k2 = sizes
    model = TwoLayerLinearGaussian(5, sizes).set_parameters(
        torch.randn(k1, k2, generator=g),
        torch.randn(k1, generator=g),
        0.7,
        torch.randn(5, k1, generator=g),
        torch.randn(5, generator=g),
        0.5,
    )
    model.train(False)  # frozen: its parameters are not registered for training
    for p in model.parameters():
        p.requires_grad_(False)
    with torch.no_grad():
        x = model.marginal().sample((num_train + num_test,))
    return model, x[:num_train], x[num_train:]


def built_chorales(tmp_path_factory, count: int):
    """A data folder holding the first ``count`` chorales of music21's corpus, built and split
    (seconds; skipped where music21, an optional extra that make test installs, is missing)."""
    pytest.importorskip("music21")
    from aevb.data import chorales

    folder = tmp_path_factory.mktemp("chorales")
    chorales.build(folder, limit=count, log=lambda *a: None)
    return folder
