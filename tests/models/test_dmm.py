"""The deep Markov model, its sequence distributions and its guides, on tiny random sequences."""

import pyro
import pytest
import torch

from aevb.data.sequences import pack
from aevb.guides import GUIDES, make_guide
from aevb.inference.algorithms import AEVB, IWAE
from aevb.inference.estimators.weights import guide_and_model_traces, log_importance_weights, site_log_prob_sum
from aevb.inference.rules import CombinationError, check
from aevb.inference.training.compile import compile_step
from aevb.models import DMM, MLPVAE, LinearStateSpace

STEPS, WIDTH, LATENT = 7, 6, 3
SEQUENCE_GUIDES = ("structured", "steps", "structured-iaf")


def binary_sequences(count=5, steps=STEPS, seed=0):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, steps + 1, (count,), generator=g)
    lengths[0] = steps
    return pack(torch.bernoulli(torch.full((count, steps, WIDTH), 0.3), generator=g), lengths)


def small_dmm(steps=STEPS):
    pyro.clear_param_store()
    torch.manual_seed(0)
    return DMM(steps, WIDTH, LATENT, transition_dim=8, emission_dim=8)


def guide_for(model, name):
    return make_guide(name, model, flow_steps=1)


@pytest.mark.parametrize("name", SEQUENCE_GUIDES)
def test_log_q_at_a_draw_equals_log_q_evaluated_anywhere(name):
    """The guide's density of its own draw (computed while drawing) and of the same value given back
    (vectorised over the steps, through the IAF's inverse) agree: density_anywhere is true."""
    model = small_dmm()
    guide = guide_for(model, name)
    x = binary_sequences()
    trace = pyro.poutine.trace(guide).get_trace(x)
    site = trace.nodes["z"]
    drawn = site["fn"].log_prob(site["value"])
    again = site["fn"].log_prob(site["value"].clone())
    torch.testing.assert_close(again, drawn, rtol=1e-5, atol=1e-4)


def test_markov_density_is_the_product_of_its_steps():
    model = small_dmm()
    present = torch.tensor([[True] * 4 + [False] * 3])
    prior = model.prior(present)
    z = torch.randn(1, STEPS, LATENT)
    total, z_prev = 0.0, model.initial.expand(1, LATENT)
    for t in range(STEPS):
        if t < 4:
            loc, scale = model.transition(z_prev)
            total = total + torch.distributions.Normal(loc, scale).log_prob(z[:, t]).sum(-1)
        else:  # past the end: N(0, I)
            total = total + torch.distributions.Normal(0.0, 1.0).log_prob(z[:, t]).sum(-1)
        z_prev = z[:, t]
    torch.testing.assert_close(prior.log_prob(z.flatten(-2)), total)


def test_padding_changes_no_importance_weight():
    """The same sequences in rows of 7 and 10 steps: p(x, z) and q(z|x) each gain exactly the N(0, I)
    density of the padding's latents, which cancels."""
    short, x = small_dmm(), binary_sequences()
    long = DMM(STEPS + 3, WIDTH, LATENT, transition_dim=8, emission_dim=8)
    long.load_state_dict(short.state_dict())
    padded = torch.cat([x, x.new_zeros(len(x), 3 * (WIDTH + 1))], dim=1)
    guide_short = guide_for(short, "structured")
    guide_long = guide_for(long, "structured")
    guide_long.load_state_dict(guide_short.state_dict())
    torch.manual_seed(1)
    q_trace, p_trace = guide_and_model_traces(long, guide_long, padded)
    z = q_trace.nodes["z"]["value"]  # a sequence's latents, step after step: the first 7 steps' come first
    replay = pyro.poutine.replay
    q_short = pyro.poutine.trace(replay(guide_short, trace=_with_value(q_trace, z[:, : STEPS * LATENT]))).get_trace(x)
    p_short = pyro.poutine.trace(replay(short, trace=q_short)).get_trace(x)
    long_w = site_log_prob_sum(p_trace) - site_log_prob_sum(q_trace)
    short_w = site_log_prob_sum(p_short) - site_log_prob_sum(q_short)
    torch.testing.assert_close(long_w, short_w, rtol=1e-5, atol=1e-4)


def _with_value(trace, value):
    """A trace to replay that gives the site ``z`` the value ``value`` (and nothing else)."""
    only = pyro.poutine.Trace()
    only.add_node("z", **{**trace.nodes["z"], "value": value})
    return only


@pytest.mark.parametrize("name", SEQUENCE_GUIDES)
@pytest.mark.parametrize("algorithm", [AEVB, IWAE])
def test_every_sequence_guide_trains_with_aevb_and_iwae(name, algorithm):
    model = small_dmm()
    guide = guide_for(model, name)
    fit = algorithm(model, guide, num_particles=2)
    optimizer = torch.optim.Adam(fit.parameters(), lr=1e-2)
    x = binary_sequences(8)
    before = [p.detach().clone() for p in fit.parameters()]
    for _ in range(3):
        optimizer.zero_grad()
        loss, bound = fit.step(x, num_data=len(x))
        loss.backward()
        optimizer.step()
        assert torch.isfinite(loss) and torch.isfinite(bound)
    assert all(not torch.equal(a, b) for a, b in zip(before, fit.parameters()) if a.numel() > 1)


def test_the_kl_weight_anneals_training_and_never_the_estimators():
    model = small_dmm()
    guide = guide_for(model, "structured")
    aevb, x = AEVB(model, guide), binary_sequences()

    def loss_and_weights():
        pyro.set_rng_seed(3)
        loss = aevb.loss(x, num_data=len(x)).item()
        pyro.set_rng_seed(3)
        return loss, log_importance_weights(model, guide, x, 4)

    loss, weights = loss_and_weights()
    model.kl.set(0.2)
    annealed, annealed_weights = loss_and_weights()
    assert annealed != pytest.approx(loss)
    torch.testing.assert_close(annealed_weights, weights)


def test_compile_auto_runs_the_cut_step_eagerly_and_says_why():
    """The DMM cuts each minibatch to its longest sequence, a shape read from the data: --compile auto
    cannot trace it, falls back to the eager step (same numbers) and says so in one line."""
    model = small_dmm()
    guide = guide_for(model, "structured")
    aevb, x = AEVB(model, guide), binary_sequences()
    said = []
    step = compile_step(aevb, "auto", modules=[model, guide], programs=(model, guide), steps=100, log=said.append)
    pyro.set_rng_seed(5)
    eager, _ = aevb.step(x, num_data=10)
    pyro.set_rng_seed(5)
    auto, _ = step(x, num_data=10)
    torch.testing.assert_close(auto, eager)
    assert len(said) == 1 and "eagerly" in said[0], said


def test_a_minibatch_is_cut_to_its_longest_sequence():
    """The latents of a minibatch whose longest sequence has 4 of the rows' 7 steps: 4 x size numbers;
    and the same sequences scored alone or beside a longer one give the same weights."""
    model = small_dmm()
    guide = guide_for(model, "structured")
    x = binary_sequences(4)
    short = x[1:][x[1:].reshape(3, STEPS, WIDTH + 1)[..., WIDTH].sum(-1) < STEPS]
    longest = int(short.reshape(len(short), STEPS, WIDTH + 1)[..., WIDTH].sum(-1).max())
    both = torch.cat([x[:1], short])  # beside a sequence of all 7 steps
    q_both, p_both = guide_and_model_traces(model, guide, both)
    z = q_both.nodes["z"]["value"][1:, : longest * LATENT]
    q_short = pyro.poutine.trace(pyro.poutine.replay(guide, trace=_with_value(q_both, z))).get_trace(short)
    p_short = pyro.poutine.trace(pyro.poutine.replay(model, trace=q_short)).get_trace(short)
    assert q_short.nodes["z"]["value"].shape == (len(short), longest * LATENT)
    alone = site_log_prob_sum(p_short) - site_log_prob_sum(q_short)
    beside = (site_log_prob_sum(p_both) - site_log_prob_sum(q_both))[1:]
    torch.testing.assert_close(alone, beside, rtol=1e-5, atol=1e-4)


def test_sequence_guides_refuse_a_model_without_time_steps():
    vae = MLPVAE(12, 2, (8,))
    with pytest.raises(CombinationError, match="needs_sequence_model"):
        check(AEVB, model=MLPVAE, guide=GUIDES["structured"])
    with pytest.raises(ValueError, match="sequence model"):
        make_guide("structured", vae)
    check(AEVB, model=DMM, guide=GUIDES["structured"])  # and accept one that has them
    check(AEVB, model=LinearStateSpace, guide=GUIDES["steps"])


def test_the_model_refuses_rows_that_are_not_packed_sequences():
    model = small_dmm()
    x = binary_sequences()
    bad = x.clone().reshape(len(x), STEPS, WIDTH + 1)
    bad[0, 0, WIDTH] = 0  # a sequence whose first step is padding
    with pytest.raises(ValueError, match="at least one step|steps must come first"):
        model(bad.reshape(len(x), -1))
    with pytest.raises(ValueError, match="packed sequences"):
        model(x[:, :-1])


def test_samples_are_packed_sequences_of_the_asked_lengths():
    model = small_dmm()
    rows = model.sample(torch.tensor([2, 7]))
    values = rows.reshape(2, STEPS, WIDTH + 1)
    assert values[..., WIDTH].sum(-1).tolist() == [2.0, 7.0]
    assert torch.all(values[0, 2:, :WIDTH] == 0) and torch.all((values[..., :WIDTH] >= 0) & (values[..., :WIDTH] <= 1))
