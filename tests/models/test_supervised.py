"""M2 (semi-supervised, its labels carried in the rows) and the conditional VAE with its baseline."""

import pytest
import torch

from aevb.data.errors import DataError
from aevb.data.labelled import balanced_labels, labelled_rows, split_rows
from aevb.guides import make_guide
from aevb.guides.exact import NoLatentsGuide
from aevb.guides.semi_supervised import M2Guide
from aevb.inference import AEVB, fit
from aevb.inference.estimators import LL_ESTIMATORS, elbo_per_point
from aevb.models.conditional import ConditionalVAE, QuadrantBaseline, quadrant_mask
from aevb.models.semi_supervised import M2


def test_labels_are_balanced_seeded_and_carried_in_the_rows():
    y = torch.arange(100) % 10
    chosen = balanced_labels(y, 20, 10, seed=3)
    assert torch.equal(torch.bincount(y[chosen], minlength=10), torch.full((10,), 2))
    assert torch.equal(chosen, balanced_labels(y, 20, 10, seed=3))
    assert not torch.equal(chosen, balanced_labels(y, 20, 10, seed=4))
    x = torch.rand(100, 5)
    rows = labelled_rows(x, y, chosen, 10)
    pixels, code, labelled = split_rows(rows, 10)
    assert torch.equal(pixels, x) and torch.equal(labelled.nonzero().flatten(), chosen)
    assert torch.equal(code[chosen].argmax(-1), y[chosen]) and code[~labelled].abs().sum() == 0
    # dynamic binarisation draws the pixels afresh and leaves every label's code as it is
    assert torch.equal(split_rows(torch.bernoulli(rows), 10)[1], code)
    with pytest.raises(DataError, match="multiple of the 10 classes"):
        balanced_labels(y, 15, 10, seed=0)


@pytest.fixture(scope="module")
def small_m2():
    torch.manual_seed(0)
    model = M2(data_dim=12, classes=3, latent_dim=2, hidden=8)
    x = torch.bernoulli(torch.full((6, 12), 0.4))
    rows = labelled_rows(x, torch.tensor([0, 1, 2, 0, 1, 2]), torch.tensor([0, 1, 2]), 3)
    return model, M2Guide(model, hidden=8, alpha=2.0), rows


def test_a_labelled_rows_elbo_does_not_depend_on_the_classifier_and_an_unlabelled_ones_does(small_m2):
    model, guide, rows = small_m2
    before = elbo_per_point(model, guide, rows, num_samples=4, seed=1)
    with torch.no_grad():
        guide.classifier[-1].bias += torch.tensor([3.0, 0.0, -3.0])
    after = elbo_per_point(model, guide, rows, num_samples=4, seed=1)
    with torch.no_grad():
        guide.classifier[-1].bias -= torch.tensor([3.0, 0.0, -3.0])
    torch.testing.assert_close(after[:3], before[:3])  # q(y|x) is the label: the classifier plays no part
    assert (after[3:] - before[3:]).abs().min() > 1e-3  # Σ_y q(y|x) L(x, y) + H(q): it does


def test_the_classification_term_is_alpha_times_the_labelled_rows_cross_entropy(small_m2):
    model, guide, rows = small_m2
    labelled = rows[:3]
    log_q = guide.class_logits(labelled[:, :12]).log_softmax(-1)
    expected = -2.0 * (60 / 6) * log_q[torch.arange(3), torch.tensor([0, 1, 2])].sum()
    torch.testing.assert_close(guide.auxiliary_loss(rows, num_data=60), expected)
    assert guide.auxiliary_loss(rows[3:], num_data=60).item() == 0  # no labels in the batch, no term


def test_fit_adds_the_guides_declared_auxiliary_loss_to_the_objective_only(small_m2):
    model, _, rows = small_m2
    rows = labelled_rows(rows[:, :12], torch.zeros(6, dtype=torch.long), torch.arange(3), 3)  # three labels, all 0

    def trained(alpha):  # the same start and draws; only the classifier's last bias moves
        torch.manual_seed(0)
        guide = M2Guide(model, hidden=8, alpha=alpha)
        state = fit(
            AEVB(model, guide),
            torch.optim.SGD([guide.classifier[-1].bias], lr=1e-2),
            rows,
            epochs=3,
            batch_size=6,
            seed=0,
            progress=False,
        )
        log_q = guide.class_logits(rows[:3, :12]).log_softmax(-1)[:, 0].sum().item()
        return log_q, state.history[-1]["train_elbo"], guide

    with_term, bound, guide = trained(50.0)
    without, _, _ = trained(0.0)
    assert with_term > without + 0.1  # the classification term pulled q(label | x) up
    elbo = elbo_per_point(model, guide, rows, num_samples=200, seed=0).mean().item()
    assert abs(bound - elbo) < 0.1 * abs(elbo)  # the reported number is the bound, not the objective


def test_m2_scores_log_p_x_with_y_summed(small_m2):
    model, guide, rows = small_m2
    test = torch.cat([rows[3:, :12], torch.zeros(3, 3)], -1)  # test rows carry no label
    estimate = LL_ESTIMATORS["is"].estimate(model, guide, test, num_samples=500)
    assert (estimate > elbo_per_point(model, guide, test, num_samples=50)).all() and (estimate < 0).all()


def test_the_cvae_observes_the_missing_quadrants_and_the_baseline_is_scored_exactly():
    given = quadrant_mask(4)
    assert given.reshape(4, 4)[2:, :2].all() and given.sum() == 4
    torch.manual_seed(0)
    x = torch.bernoulli(torch.full((5, 16), 0.5))
    baseline = QuadrantBaseline((8,), given=given)
    logits = baseline.net(x[:, given])
    exact = torch.distributions.Bernoulli(logits=logits).log_prob(x[:, ~given]).sum(-1)
    torch.testing.assert_close(
        LL_ESTIMATORS["is"].estimate(baseline, NoLatentsGuide(), x, num_samples=3), exact.detach()
    )
    cvae = ConditionalVAE(latent_dim=2, hidden_dims=(8,), given=given)
    guide = make_guide("diag", cvae)
    flipped = x.clone()
    flipped[:, ~given] = 1 - flipped[:, ~given]
    scored = LL_ESTIMATORS["is"].estimate(cvae, guide, x, num_samples=20, seed=0)
    assert not torch.allclose(scored, LL_ESTIMATORS["is"].estimate(cvae, guide, flipped, num_samples=20, seed=0))
    # 12 missing pixels observed: log p(x_missing | x_given) of a barely trained model is near 12 log 1/2
    assert ((scored / 12 + 0.69).abs() < 0.2).all()
    completions = cvae.sample_completions(x, 3)
    assert completions.shape == (3, 5, 16) and torch.equal(completions[:, :, given], x[:, given].expand(3, 5, 4))
    fit(AEVB(baseline, NoLatentsGuide()), torch.optim.Adam(baseline.parameters(), 1e-2), x, epochs=20, progress=False)
    trained = LL_ESTIMATORS["is"].estimate(baseline, NoLatentsGuide(), x, num_samples=1)
    assert trained.mean() > exact.mean()  # AEVB with no latents is maximum likelihood
