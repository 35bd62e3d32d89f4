#!/usr/bin/env python
"""Our M2 and conditional VAE beside Pyro's ``examples/vae/ss_vae_M2.py`` and ``examples/cvae`` models:
same data, same budget, same scoring, one run.

    python benchmarks/supervised_peer.py [--epochs 2] [--labels 3000] [--seed 0]

**M2**: MNIST's first 50,000 training images, --labels of them labelled (balanced, seeded: the same
subset for both), dynamically binarised; --epochs epochs of minibatches of 200, Adam 3e-4, the
same networks (one hidden layer of 500 softplus units, z of 50) and the same α per labelled image
(Kingma et al.'s 0.1 · N / N_labelled). Ours: one minibatch stream of rows carrying their labels,
AEVB with TraceEnum_ELBO and the guide's declared auxiliary loss (``examples/semi_supervised_m2.py``);
the peer: the example's two SVI objects on labelled and unlabelled batches in turn
(benchmarks/pyro_ss_vae.py). Scored by test classification error (all 10,000 test images) and by
the collection's IS of log p(x) (y summed exactly, K = --eval-samples, the first --points test
images), the peer through :func:`aevb.wrap`.

**CVAE**: all 60,000 training images binarised once (seeded; the same rows for both), the
bottom-left quadrant given; the deterministic baseline for --baseline-epochs and the CVAE for
--epochs epochs, minibatches of 128, Adam 1e-3, ReLU layers of 500 and 500, z of 200. Ours:
``examples/conditional_vae.py``'s models; the peer: the example's masked images, its baseline in a
torch loop and a CVAE whose prior network reads the baseline's guess (benchmarks/pyro_cvae.py).
Scored on the first --points test images by the negative log-likelihood of the missing quadrants:
exact for both baselines, IS (K = --eval-samples) for both CVAEs (the peer through
:func:`aevb.wrap`), and the peer's own number, Pyro's Trace_ELBO(num_particles=10) loss.

Examples per second: training images seen over training seconds (scoring excluded).
"""

import sys
import time

import pyro
import torch
from pyro.infer import Trace_ELBO, config_enumerate
from pyro_cvae import as_collection, masked, masked_bce, train_baseline, train_cvae  # beside this script
from pyro_ss_vae import PyroSSVAE
from pyro_ss_vae import train as train_peer_m2

import aevb
from aevb import cli
from aevb.data import Split, default_data_dir, load_mnist
from aevb.data.labelled import balanced_labels, labelled_rows
from aevb.guides import make_guide
from aevb.guides.exact import NoLatentsGuide
from aevb.guides.semi_supervised import M2Guide
from aevb.inference import AEVB, fit
from aevb.inference.estimators import LL_ESTIMATORS
from aevb.models.conditional import GIVEN, ConditionalVAE, QuadrantBaseline
from aevb.models.semi_supervised import M2

PROGRAM = cli.Program(
    "supervised_peer",
    __doc__,
    keys=("labels", "baseline_epochs", "epochs", "seed", "points", "eval_samples", "data_dir"),
    defaults={"labels": [3000], "baseline_epochs": 1, "epochs": 2, "points": 500, "eval_samples": 100},
)
TRAIN, CLASSES = 50_000, 10


def row(*cells) -> str:
    """One markdown table row."""
    return "| " + " | ".join(str(c) for c in cells) + " |"


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def nll(model, guide, x, samples):
    return -LL_ESTIMATORS["is"].estimate(model, guide, x, num_samples=samples).mean().item()


def m2_rows(settings, labels, train, test):
    seed, epochs = settings["seed"], settings["epochs"]
    x, y = train.x[:TRAIN], train.y[:TRAIN]
    chosen = balanced_labels(y, labels, CLASSES, seed)
    alpha = 0.1 * TRAIN / labels
    test_rows = labelled_rows(test.x, test.y, torch.zeros(0, dtype=torch.long), CLASSES)
    scored = test_rows[: settings["points"]]

    pyro.set_rng_seed(seed)
    model = M2()
    guide = M2Guide(model, alpha=alpha)
    algorithm = AEVB(model, guide)
    optimizer = torch.optim.Adam(algorithm.parameters(), lr=3e-4)
    split = Split(x=labelled_rows(x, y, chosen, CLASSES), image_shape=(28, 28), dynamic=True)
    _, ours_seconds = timed(lambda: fit(algorithm, optimizer, split, epochs=epochs, batch_size=200, seed=seed))
    ours = (
        100 * (guide.classify(test.x) != test.y).double().mean().item(),
        nll(model, guide, scored, settings["eval_samples"]),
    )

    pyro.set_rng_seed(seed)
    peer = PyroSSVAE(alpha=alpha)
    unlabelled = torch.ones(len(x), dtype=torch.bool)
    unlabelled[chosen] = False
    one_hot = torch.nn.functional.one_hot(y[chosen], CLASSES).float()
    with pyro.validation_enabled(False):
        _, peer_seconds = timed(
            lambda: train_peer_m2(
                peer, (x[chosen], one_hot), x[unlabelled], epochs=epochs, batch_size=200, lr=3e-4, seed=seed
            )
        )
    wrapped = aevb.wrap(
        lambda rows: peer.model(rows[..., :784]),
        config_enumerate(lambda rows: peer.guide(rows[..., :784])),
        observed="x",
        plate="data",
    )
    theirs = (
        100 * (peer.classify(test.x) != test.y).double().mean().item(),
        nll(*wrapped, scored, settings["eval_samples"]),
    )
    examples = epochs * TRAIN
    return [
        row(
            f"ours (examples/semi_supervised_m2.py), {labels} labels",
            f"{ours[0]:.2f}",
            f"{-ours[1]:.2f}",
            f"{ours_seconds:.0f}",
            f"{examples / ours_seconds:.0f}",
        ),
        row(
            f"Pyro's ss_vae_M2 model, {labels} labels",
            f"{theirs[0]:.2f}",
            f"{-theirs[1]:.2f}",
            f"{peer_seconds:.0f}",
            f"{examples / peer_seconds:.0f}",
        ),
    ]


def cvae_rows(settings, train, test):
    seed, epochs, base_epochs = settings["seed"], settings["epochs"], settings["baseline_epochs"]
    rows = torch.bernoulli(train.x, generator=torch.Generator().manual_seed(seed))
    x = test.x[: settings["points"]]
    samples = settings["eval_samples"]
    split = Split(x=rows, image_shape=(28, 28))

    def ours_fit(model, guide, n):
        algorithm = AEVB(model, guide)
        optimizer = torch.optim.Adam(algorithm.parameters(), lr=1e-3)
        return fit(algorithm, optimizer, split, epochs=n, batch_size=128, seed=seed)

    pyro.set_rng_seed(seed)
    baseline, cvae = QuadrantBaseline(), ConditionalVAE()
    guide = make_guide("diag", cvae)
    _, b_seconds = timed(lambda: ours_fit(baseline, NoLatentsGuide(), base_epochs))
    _, c_seconds = timed(lambda: ours_fit(cvae, guide, epochs))
    ours = (nll(baseline, NoLatentsGuide(), x, 1), nll(cvae, guide, x, samples))

    with pyro.validation_enabled(False):
        peer_base, pb_seconds = timed(
            lambda: train_baseline(rows, GIVEN, epochs=base_epochs, batch_size=128, lr=1e-3, seed=seed)
        )
        peer, pc_seconds = timed(
            lambda: train_cvae(rows, GIVEN, peer_base, epochs=epochs, batch_size=128, lr=1e-3, seed=seed)
        )
        with torch.no_grad():
            peer_base_nll = masked_bce(peer_base(masked(x, GIVEN)[0]), masked(x, GIVEN)[1]).item() / len(x)
            own = Trace_ELBO(num_particles=10).loss(peer.model, peer.guide, *masked(x, GIVEN)) / len(x)
    theirs = (peer_base_nll, nll(*as_collection(peer, GIVEN), x, samples))
    n = len(rows)
    return [
        row("ours: baseline", f"{ours[0]:.2f}", "exact", "", f"{b_seconds:.0f}", f"{base_epochs * n / b_seconds:.0f}"),
        row(
            "Pyro's baseline",
            f"{theirs[0]:.2f}",
            "exact",
            "",
            f"{pb_seconds:.0f}",
            f"{base_epochs * n / pb_seconds:.0f}",
        ),
        row(
            "ours: CVAE",
            f"{ours[1]:.2f}",
            f"IS, K = {samples}",
            "",
            f"{c_seconds:.0f}",
            f"{epochs * n / c_seconds:.0f}",
        ),
        row(
            "Pyro's CVAE",
            f"{theirs[1]:.2f}",
            f"IS, K = {samples}",
            f"{own:.2f}",
            f"{pc_seconds:.0f}",
            f"{epochs * n / pc_seconds:.0f}",
        ),
    ]


def main(argv=None):
    settings = PROGRAM.parse(argv)
    train, test = load_mnist(settings["data_dir"] or default_data_dir(), log=lambda *a: None)
    m2 = [line for labels in settings["labels"] for line in m2_rows(settings, labels, train, test)]
    cvae = cvae_rows(settings, train, test)
    print(
        f"\nM2: {' and '.join(map(str, settings['labels']))} labels of 50,000 training images, "
        f"{settings['epochs']} epochs, seed "
        f"{settings['seed']}; test error on 10,000 test images, log p(x) on the first {settings['points']}\n"
    )
    print("| M2 | test error (%) | test log p(x) (IS, y summed) | training s | images/s |")
    print("|---|---:|---:|---:|---:|")
    print("\n".join(m2))
    print(
        f"\nCVAE: 60,000 training images, the bottom-left quadrant given; baselines {settings['baseline_epochs']} "
        f"epochs, CVAEs {settings['epochs']}; NLL of the missing quadrants on the first {settings['points']} "
        "test images\n"
    )
    print("| structured output | test NLL (nats) | how | Pyro's own −ELBO (10 particles) | training s | images/s |")
    print("|---|---:|---|---:|---:|---:|")
    print("\n".join(cvae))


if __name__ == "__main__":
    sys.exit(cli.run(main))
