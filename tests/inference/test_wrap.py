"""A model and guide written as in Pyro's own VAE example (methods or functions, a plate of the
batch's size, the observed site ``"obs"``, no ``num_data``): refused before any work with one line
naming the fix, or, wrapped (:func:`aevb.wrap`), trained and scored with the same numbers as the
collection's equivalent model; and every refusal of the check before any work
(:mod:`aevb.inference.preflight`)."""

import copy

import pyro
import pyro.distributions as dist
import pytest
import torch
from torch import nn

import aevb
from aevb.data import Split
from aevb.guides import DiagonalGaussianGuide
from aevb.inference import (
    AEVB,
    ALGORITHMS,
    IWAE,
    LL_ESTIMATORS,
    RWS,
    capabilities,
    evaluate_elbo,
    fit,
    make_optimizer,
)
from aevb.inference.estimators.bdmc import bdmc, simulate
from aevb.inference.preflight import ContractError, preflight
from aevb.models import BernoulliVAE

D, Z, H, N = 12, 2, 16, 60


def binary_data(n=N, seed=0):
    return torch.bernoulli(torch.full((n, D), 0.3), generator=torch.Generator().manual_seed(seed))


class PyroStyleVAE(nn.Module):
    """Pyro's VAE example in shape: ``model``/``guide`` methods of one module, a plate of the batch's
    size, ``"latent"`` and ``"obs"``; its networks are given (so it can copy the collection's)."""

    def __init__(self, decoder: nn.Module, encoder):
        super().__init__()
        self.decoder, self.encoder = decoder, encoder

    def model(self, x):
        pyro.module("decoder", self.decoder)
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("latent", dist.Normal(x.new_zeros(len(x), Z), 1.0).to_event(1))
            pyro.sample("obs", dist.Bernoulli(logits=self.decoder(z), validate_args=False).to_event(1), obs=x)

    def guide(self, x):
        pyro.module("encoder", self.encoder)
        with pyro.plate("data", x.shape[0]):
            pyro.sample("latent", self.encoder.posterior(x))


def pyro_style_pair(seed=0):
    torch.manual_seed(seed)
    vae = PyroStyleVAE(BernoulliVAE(D, Z, H).decoder, DiagonalGaussianGuide(D, Z, H))
    return vae


# ---------------------------------------------------------------------------------------- refusals


def test_the_unwrapped_pyro_pair_is_refused_by_fit_naming_wrap():
    vae = pyro_style_pair()
    algorithm = AEVB(vae.model, vae.guide)
    with pytest.raises(ContractError, match=r"does not take the contract's keywords .*aevb.wrap\(model, guide\)"):
        fit(algorithm, torch.optim.Adam(vae.parameters()), binary_data(), epochs=1, progress=False)


def batch_sized_plate_pair():
    """The thinnest adapter of the issue: the contract's keywords taken and ignored, so the plate
    has the batch's size and every ELBO is off by N/M."""
    vae = pyro_style_pair()

    def model(x, *, num_data=None, index=None):
        pyro.module("decoder", vae.decoder)
        with pyro.plate("data", len(x)):
            z = pyro.sample("z", dist.Normal(x.new_zeros(len(x), Z), 1.0).to_event(1))
            pyro.sample("x", dist.Bernoulli(logits=vae.decoder(z)).to_event(1), obs=x)

    def guide(x, *, num_data=None, index=None):
        pyro.module("encoder", vae.encoder)
        with pyro.plate("data", len(x)):
            pyro.sample("z", vae.encoder.posterior(x))

    return vae, model, guide


def test_a_plate_of_the_batchs_size_is_refused_before_training_naming_the_factor():
    vae, model, guide = batch_sized_plate_pair()
    algorithm = AEVB(model, guide)
    optimizer = torch.optim.Adam(vae.parameters())
    before = [p.detach().clone() for p in vae.parameters()]
    with pytest.raises(
        ContractError, match=r"off by a factor N/M \(N = 60, M the batch's size\); use pyro.plate\('data', num_data"
    ):
        fit(algorithm, optimizer, binary_data(), epochs=1, batch_size=20, progress=False)
    assert all(torch.equal(a, b) for a, b in zip(before, vae.parameters()))  # refused before any step


def obs_named_pair():
    """The contract's plate, but the data observed at ``"obs"``."""
    vae = pyro_style_pair()

    def model(x, *, num_data=None, index=None):
        pyro.module("decoder", vae.decoder)
        with pyro.plate("data", num_data or len(x), subsample=torch.arange(len(x))):
            z = pyro.sample("z", dist.Normal(x.new_zeros(len(x), Z), 1.0).to_event(1))
            pyro.sample("obs", dist.Bernoulli(logits=vae.decoder(z)).to_event(1), obs=x)

    return model


def test_ais_and_bdmc_refuse_a_model_they_cannot_read_instead_of_returning_zero():
    model, x = obs_named_pair(), binary_data(8)
    fix = r"observes no site 'x' \(observed sites: 'obs'\): wrap it, aevb.wrap\(model, guide, observed='obs'\)"
    with pytest.raises(ContractError, match=fix):
        LL_ESTIMATORS["ais"].estimate(model, None, x, num_samples=5)
    with pytest.raises(ContractError, match=fix):
        simulate(model, x)
    wrapped = aevb.wrap(model, observed="obs")
    assert LL_ESTIMATORS["ais"].estimate(wrapped, None, x, num_samples=5).lt(-1).all()  # a real number now


def test_grey_levels_for_a_bernoulli_likelihood_are_refused_by_fit_and_the_elbo_even_without_validation():
    vae = pyro_style_pair()
    model, guide = aevb.wrap(vae.model, vae.guide)
    grey = torch.rand(N, D, generator=torch.Generator().manual_seed(0))
    algorithm = AEVB(model, guide)
    with pytest.raises(
        ContractError, match=r"not in the support of the model PyroStyleVAE.model's observed site 'x' \(Bern"
    ):
        fit(algorithm, torch.optim.Adam(algorithm.parameters()), grey, epochs=1, progress=False)
    with pytest.raises(ContractError, match="not in the support"):
        evaluate_elbo(model, guide, grey)


def test_a_plate_of_another_name_and_a_guide_of_other_sites_are_refused():
    vae = pyro_style_pair()

    def model(x, *, num_data=None, index=None):
        with pyro.plate("batch", num_data or len(x), subsample=torch.arange(len(x))):
            z = pyro.sample("z", dist.Normal(x.new_zeros(len(x), Z), 1.0).to_event(1))
            pyro.sample("x", dist.Bernoulli(logits=vae.decoder(z)).to_event(1), obs=x)

    with pytest.raises(ContractError, match=r"outside a plate named 'data' .*aevb.wrap\(model, guide, plate='batch'\)"):
        preflight(model, None, binary_data())
    wrapped_model, wrapped_guide = aevb.wrap(vae.model, vae.guide)

    def guide_of_another_site(x, *, num_data=None, index=None):
        with pyro.plate("data", num_data or len(x), subsample=torch.arange(len(x))):
            pyro.sample("w", vae.encoder.posterior(x))

    with pytest.raises(ContractError, match="does not sample the model's local latent site 'latent'"):
        preflight(wrapped_model, guide_of_another_site, binary_data())

    def guide_with_an_extra_site(x, *, num_data=None, index=None):
        wrapped_guide(x, num_data=num_data, index=index)
        pyro.sample("extra", dist.Normal(0.0, 1.0))

    with pytest.raises(ContractError, match=r"samples 'extra', which the model does not have"):
        preflight(wrapped_model, guide_with_an_extra_site, binary_data())


def test_a_guide_that_claims_density_anywhere_wrongly_is_refused_naming_the_declaration():
    vae = pyro_style_pair()

    def delta_guide(x):  # a point mass at the encoder's mean: no density anywhere else
        with pyro.plate("data", len(x)):
            pyro.sample("latent", dist.Delta(vae.encoder.posterior(x).mean, event_dim=1))

    model, guide = aevb.wrap(vae.model, delta_guide)
    assert capabilities(guide, "guide").density_anywhere  # wrap's claim, tested by the check
    with pytest.raises(ContractError, match="declares density_anywhere but .*declare density_anywhere=False"):
        preflight(model, guide, binary_data())
    model, guide = aevb.wrap(vae.model, delta_guide, density_anywhere=False)
    preflight(model, guide, binary_data())
    with pytest.raises(Exception, match="does not declare density_anywhere"):
        RWS(model, guide, num_particles=3)


def test_wrap_says_what_it_cannot_infer_and_checks_its_keywords():
    def two_observations(x):
        with pyro.plate("data", len(x)):
            z = pyro.sample("z", dist.Normal(x.new_zeros(len(x), Z), 1.0).to_event(1))
            pyro.sample("a", dist.Normal(z.sum(-1), 1.0), obs=x[:, 0])
            pyro.sample("b", dist.Normal(z.sum(-1), 1.0), obs=x[:, 1])

    with pytest.raises(ValueError, match=r"cannot tell which site observes the data \(observed sites: 'a', 'b'\)"):
        aevb.wrap(two_observations, example=binary_data(4))
    with pytest.raises(TypeError, match="unexpected keyword 'amortized'; declarations are"):
        aevb.wrap(two_observations, amortized=True)


# --------------------------------------------------------------------------- wrapped: same numbers


def collection_pair(vae: PyroStyleVAE):
    """The collection's model and guide with the Pyro-style pair's networks (copies)."""
    model = BernoulliVAE(D, Z, H)
    model.decoder = copy.deepcopy(vae.decoder)
    return model, copy.deepcopy(vae.encoder)


def trained(model, guide, algorithm_class, **options):
    pyro.clear_param_store()
    pyro.set_rng_seed(1)
    algorithm = algorithm_class(model, guide, **options)
    state = fit(
        algorithm,
        make_optimizer("adam", algorithm.parameters(), 0.01),
        Split(binary_data(), (3, 4)),
        epochs=3,
        batch_size=20,
        seed=1,
        progress=False,
    )
    scores = LL_ESTIMATORS["is"].estimate(model, guide, binary_data(10, seed=5), num_samples=50)
    return [h["train_elbo"] for h in state.history], scores


@pytest.mark.parametrize("algorithm_class, options", [(AEVB, {"estimator": "A"}), (IWAE, {"num_particles": 3})])
def test_the_wrapped_pyro_pair_gives_the_collections_numbers(algorithm_class, options):
    vae = pyro_style_pair()
    ours = collection_pair(vae)
    model, guide = aevb.wrap(vae.model, vae.guide)
    assert len(AEVB(model, guide).parameters()) == len(list(vae.parameters()))  # shared module, each once
    theirs_history, theirs_scores = trained(model, guide, algorithm_class, **options)
    ours_history, ours_scores = trained(*ours, algorithm_class, **options)
    # the training ELBO is the full-data bound on both (N/M = 3 applied by the wrapper), step for step
    assert theirs_history == pytest.approx(ours_history, rel=1e-5)
    assert theirs_scores == pytest.approx(ours_scores, rel=1e-5)


def test_plain_functions_with_pyro_params_are_found_through_the_param_store():
    pyro.clear_param_store()

    def model(x):
        w, b = pyro.param("w", torch.zeros(Z, D)), pyro.param("b", torch.zeros(D))
        with pyro.plate("points", len(x)):
            z = pyro.sample("z", dist.Normal(x.new_zeros(len(x), Z), 1.0).to_event(1))
            pyro.sample("pixels", dist.Bernoulli(logits=z @ w + b).to_event(1), obs=x)

    def guide(x):
        loc = pyro.param("loc", torch.zeros(D, Z))
        with pyro.plate("points", len(x)):
            pyro.sample("z", dist.Normal(x @ loc, 1.0).to_event(1))

    wrapped_model, wrapped_guide = aevb.wrap(model, guide, example=binary_data(2))
    assert wrapped_model.names.observed == "pixels" and wrapped_model.names.plate == "points"
    algorithm = AEVB(wrapped_model, wrapped_guide)
    assert {tuple(p.shape) for p in algorithm.parameters()} == {(Z, D), (D,), (D, Z)}
    assert algorithm.parameters()[0] is pyro.param("w").unconstrained()  # what the optimiser updates is used
    state = fit(
        algorithm,
        make_optimizer("adam", algorithm.parameters(), 0.05),
        binary_data(),
        epochs=5,
        batch_size=20,
        progress=False,
    )
    assert state.history[-1]["train_elbo"] > state.history[0]["train_elbo"]


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_the_wrapped_pyro_pair_trains_with_every_algorithm(name):
    pyro.clear_param_store()
    vae = pyro_style_pair()
    model, guide = aevb.wrap(vae.model, vae.guide, example=binary_data(2))  # MCEM and full VB read data_dim
    config = {"estimator": "auto", "num_particles": 3, "global_guide": "normal"}
    algorithm = ALGORITHMS[name].from_config(model, guide, config, N)
    state = fit(
        algorithm,
        make_optimizer("adam", algorithm.parameters(), 0.01),
        binary_data(),
        epochs=3,
        batch_size=20,
        progress=False,
    )
    metric = capabilities(algorithm, "algorithm").train_metric
    assert state.history[-1][metric] > state.history[0][metric]


def test_the_wrapped_pyro_pair_is_scored_by_every_estimator_and_bdmc():
    vae = pyro_style_pair()
    model, guide = aevb.wrap(vae.model, vae.guide)
    x = binary_data(6)
    scores = {name: estimator.estimate(model, guide, x, num_samples=40) for name, estimator in LL_ESTIMATORS.items()}
    assert all(torch.isfinite(s).all() and (s < 0).all() for s in scores.values())
    assert (scores["is"] - scores["ais"]).abs().mean() < 0.5  # two estimators of one log p(x) agree
    simulated, z_exact = simulate(model, x)
    sandwich = bdmc(model, simulated, z_exact, num_steps=20, num_chains=4)
    assert torch.isfinite(sandwich.gap).all()


def test_what_a_wrapped_model_has_not_seen_it_says_how_to_show_it():
    vae = pyro_style_pair()
    model = aevb.wrap(vae.model)
    with pytest.raises(ValueError, match=r"has not run yet, so its data size .*aevb.wrap\(..., example=x\[:2\]\)"):
        ALGORITHMS["mcem"].from_config(model, None, {}, N)
    model(binary_data(4))
    assert model.data_dim == D and [(s.name, s.size) for s in model.local_sites] == [("latent", Z)]


def test_a_guide_whose_plate_weighs_points_unlike_the_models_is_refused():
    vae = pyro_style_pair()

    def batch_guide(x):  # its own plate name: wrap renames only the model's plate
        with pyro.plate("batch", len(x)):
            pyro.sample("latent", vae.encoder.posterior(x))

    model, guide = aevb.wrap(vae.model, batch_guide)
    with pytest.raises(ContractError, match=r"samples 'latent' outside a plate named 'data' \(its plates: 'batch'\)"):
        preflight(model, guide, binary_data(), num_data=N)

    def unscaled_guide(x, *, num_data=None, index=None):  # the contract's names, the batch's size
        with pyro.plate("data", len(x)):
            pyro.sample("latent", vae.encoder.posterior(x))

    model = aevb.wrap(vae.model)
    with pytest.raises(ContractError, match="weighs 'latent' by 1 and the model by 7.5: give the guide's plate"):
        preflight(model, unscaled_guide, binary_data(), num_data=N)


def test_a_type_error_of_the_programs_own_is_not_taken_for_the_missing_keywords():
    def model(x, *, num_data=None, index=None):
        raise TypeError("only integer tensors of a single element can be converted to an index")

    with pytest.raises(TypeError, match="converted to an index"):  # the user's own bug, as it is
        preflight(model, None, binary_data())
