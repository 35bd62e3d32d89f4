"""A model and a guide written as a Pyro user writes them (plain modules and functions that inherit
nothing from the collection) are checked by the same rules as the collection's own: refusals name
the missing declaration, :func:`aevb.inference.declare` supplies it, and a run works."""

import pyro
import pyro.distributions as dist
import pytest
import torch
from conftest import grey_split
from torch import nn

from aevb.inference import AEVB, LL_ESTIMATORS, RWS, CombinationError, WakeSleep, capabilities, declare, fit
from aevb.inference.contracts import Algorithm, Guide, Model
from aevb.inference.training.optim import make_optimizer

D, Z = 6, 2


class UserModel(nn.Module):
    """p(z) = N(0, I), p(x|z) = Bernoulli(decoder(z)): a plain Pyro model of the contract's signature."""

    def __init__(self, latent=Z):
        super().__init__()
        self.latent = latent
        self.decoder = nn.Sequential(nn.Linear(latent, 16), nn.Tanh(), nn.Linear(16, D))

    def forward(self, x, *, num_data=None, index=None):
        pyro.module("user_decoder", self.decoder)
        with pyro.plate("data", num_data or len(x), subsample=index if index is not None else torch.arange(len(x))):
            z = pyro.sample("z", dist.Normal(x.new_zeros(len(x), self.latent), 1.0).to_event(1))
            pyro.sample("x", dist.Bernoulli(logits=self.decoder(z)).to_event(1), obs=x)


class UserGuide(nn.Module):
    """q(z|x) = N(μ(x), σ(x)²): an encoder, with no declarations."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(D, 16), nn.Tanh(), nn.Linear(16, 2 * Z))

    def forward(self, x, *, num_data=None, index=None):
        pyro.module("user_encoder", self.encoder)
        loc, log_scale = self.encoder(x).chunk(2, -1)
        with pyro.plate("data", num_data or len(x), subsample=index if index is not None else torch.arange(len(x))):
            pyro.sample("z", dist.Normal(loc, log_scale.clamp(-6, 2).exp()).to_event(1))


def test_undeclared_objects_get_the_defaults_which_claim_nothing():
    model, guide = UserModel(), UserGuide()
    assert isinstance(model, Model) and isinstance(guide, Guide)
    assert capabilities(model, "model").analytic_prior is False
    declared = capabilities(guide, "guide")
    assert not (declared.amortised or declared.analytic_kl or declared.density_anywhere or declared.per_point_state)


def test_refusals_name_the_missing_declaration_and_declare_supplies_it():
    model, guide = UserModel(), UserGuide()
    with pytest.raises(CombinationError, match="UserGuide does not declare analytic_kl; use estimator A"):
        AEVB(model, guide, estimator="B")
    with pytest.raises(
        CombinationError, match="RWS declares needs_density_anywhere .*UserGuide does not declare density_anywhere"
    ):
        RWS(model, guide, num_particles=3)
    with pytest.raises(
        CombinationError, match="WakeSleep declares needs_amortised_guide .*UserGuide does not declare amortised"
    ):
        WakeSleep(model, guide)
    assert declare(guide, amortised=True, density_anywhere=True) is guide
    RWS(model, guide, num_particles=3)
    WakeSleep(model, guide)
    with pytest.raises(CombinationError, match="UserModel does not declare analytic_prior"):
        AEVB(model, declare(guide, analytic_kl=True), estimator="B")
    assert AEVB(declare(model, analytic_prior=True), guide).estimator == "B"  # "auto" reads the declarations


def test_a_plain_function_guide_is_read_and_declared_the_same_way():
    encoder = nn.Linear(D, 2 * Z)

    def guide(x, *, num_data=None, index=None):
        loc, log_scale = pyro.module("encoder", encoder)(x).chunk(2, -1)
        with pyro.plate("data", num_data or len(x)):
            pyro.sample("z", dist.Normal(loc, log_scale.exp()).to_event(1))

    with pytest.raises(
        CombinationError, match="WakeSleep declares needs_amortised_guide .*guide does not declare amortised"
    ):
        WakeSleep(UserModel(), guide)
    declare(guide, amortised=True)
    assert capabilities(guide, "guide").amortised and not capabilities(guide, "guide").density_anywhere


def test_a_declaration_is_checked_by_name_and_type():
    with pytest.raises(ValueError, match="'amortized' is not a declaration"):
        declare(UserGuide(), amortized=True)
    with pytest.raises(TypeError, match="declares min_particles = '2', which is not a int"):
        declare(AEVB, min_particles="2")
    guide = UserGuide()
    guide.density_anywhere = "yes"  # set by hand, not through declare: read and refused the same
    with pytest.raises(TypeError, match="UserGuide declares density_anywhere = 'yes'"):
        capabilities(guide, "guide")


def test_a_users_model_and_guide_train_and_are_scored_by_the_collections_estimators():
    torch.manual_seed(0)
    model, guide = UserModel(), UserGuide()
    algorithm = AEVB(model, guide)  # auto: estimator A, since nothing declares a closed-form KL
    assert algorithm.estimator == "A" and isinstance(algorithm, Algorithm)
    train = grey_split(n=60)
    state = fit(
        algorithm, make_optimizer("adam", algorithm.parameters(), 0.02), train, epochs=8, batch_size=20, progress=False
    )
    assert state.history[-1]["train_elbo"] > state.history[0]["train_elbo"]
    x = torch.bernoulli(train.x[:8], generator=torch.Generator().manual_seed(1))
    is_ll = LL_ESTIMATORS["is"].estimate(model, guide, x, num_samples=500)
    ais_ll = LL_ESTIMATORS["ais"].estimate(
        model, guide, x, num_samples=200
    )  # from the prior: the guide declares nothing
    assert torch.isfinite(is_ll).all() and (is_ll - ais_ll).abs().mean() < 0.1
    with pytest.raises(
        CombinationError, match="--ll-estimator appendix-d declares max_latent_size = 4; UserModel has 5"
    ):
        LL_ESTIMATORS["appendix-d"].estimate(UserModel(latent=5), None, x, num_samples=4)
