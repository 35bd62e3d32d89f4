"""Guides with local (per-datapoint) variational parameters, for any model of the collection.

A guide samples the same local latent sites as its model (the model's ``local_sites``, in that
order), each from a distribution of its *family* (diagonal Gaussian, full-covariance Gaussian,
normalising flow, :mod:`aevb.guides.diagonal` and its siblings) given the site's *local
parameters* λ. An *amortised* guide computes λ with an encoder: for a site that q conditions on
``x`` only, λᵢ = f_φ(xᵢ); for a site conditioned on sites sampled before it (the second layer of
a hierarchical model, q(z₂|z₁)), from those samples. A non-amortised guide stores λ per
datapoint (:mod:`aevb.guides.meanfield`). A guide whose λ depends on ``x`` only can be refined
per datapoint (the amortisation gap of Cremer, Li & Duvenaud 2018, and the test-time fit of the
mean-field guide) by optimising λ directly (:mod:`aevb.inference.diagnostics.refine`).

A guide declares what it supports as class attributes (:class:`aevb.inference.capabilities.GuideCapabilities`:
``amortised``, ``analytic_kl``, ``density_anywhere``, ``per_point_state``), read by the combination
rules, never its name; every site of a guide is of its family, so the guide declares what its
family offers. ``refinable`` (every site's λ a function of x alone) depends on the sites and is a
property of a built guide, which refinement reads.
"""

from dataclasses import dataclass

import pyro
import torch
from torch import nn

from aevb.models.contract import LocalSite, data_plate, mlp_body
from aevb.models.networks import LOGVAR_MAX, LOGVAR_MIN, initialise, register_module


@dataclass
class GuideSpec:
    """What a guide factory may need besides the sites: the initialisation, the training-set size
    (for per-datapoint parameters) and the flow's length and type."""

    init: str = "default"
    num_data: int = None
    flow_steps: int = 2
    flow_type: str = "iaf"


def diagonal_scale(logvar: torch.Tensor) -> torch.Tensor:
    """σ = exp(½ log σ²) from a clamped log-variance (a convention of the collection: never an unconstrained output)."""
    return torch.exp(0.5 * logvar.clamp(LOGVAR_MIN, LOGVAR_MAX))


def single_site(latent_dim: int, hidden_dim, name: str = "z") -> tuple:
    """The local sites of the paper's VAE: one site ``name`` of ``latent_dim``, encoded from x by
    tanh layers of ``hidden_dim`` units (one size or a list)."""
    hidden = (hidden_dim,) if isinstance(hidden_dim, int) else tuple(hidden_dim)
    return (LocalSite(name, latent_dim, ("x",), mlp_body(hidden)),)


def joined_inputs(site: LocalSite, x: torch.Tensor, values: dict) -> torch.Tensor:
    """The concatenation of what q conditions ``site`` on (``x`` and earlier sites' values),
    broadcast over any leading sample dimensions."""
    parts = [x if name == "x" else values[name] for name in site.inputs]
    lead = torch.broadcast_shapes(*(p.shape[:-1] for p in parts))
    return torch.cat([p.expand(*lead, p.shape[-1]) for p in parts], dim=-1)


class Encoder(nn.Module):
    """A site's encoder: the model's ``body`` network and a linear head; returns (head output, features)."""

    def __init__(self, body: nn.Module, head_dim: int):
        super().__init__()
        self.body = body
        self.head = nn.Linear(body.out_dim, head_dim)

    def forward(self, inputs: torch.Tensor):
        features = self.body(inputs)
        return self.head(features), features


class LocalGuide(nn.Module):
    """What every guide with local parameters offers: the sites, their families, sampling them in
    the model's ``"data"`` plate, point summaries, and λ for refinement. Subclasses implement
    :meth:`site_parameters` (λ of one site given its inputs and the rows' indices)."""

    amortised = True
    needs_fixed_latent_shape = True  # its encoders' outputs are sized by the model's local_sites
    family_class = None  # the family of every site

    @classmethod
    def for_spec(cls, spec: "GuideSpec") -> type:
        """The class whose declarations a guide built from ``spec`` has (this one; a family whose
        declarations depend on the spec returns a subclass declaring them)."""
        return cls

    def __init__(self, data_dim: int, sites):
        super().__init__()
        self.data_dim, self.sites = data_dim, tuple(sites)
        self.families = nn.ModuleDict()

    @property
    def refinable(self) -> bool:
        """λ of every site depends on x (or the row) only, so it can be optimised per datapoint."""
        return not self.amortised or all(site.inputs == ("x",) for site in self.sites)

    @property
    def latent_dim(self) -> int:
        return sum(site.size for site in self.sites)

    # ---------------------------------------------------------------- the program
    def site_parameters(self, name: str, inputs: torch.Tensor, index) -> torch.Tensor:
        raise NotImplementedError

    def register(self) -> None:
        """Register the guide's networks with Pyro (names owned by this module)."""
        if any(True for _ in self.families.parameters()):
            register_module("families", self.families)

    def check_data(self, x: torch.Tensor) -> None:
        if x.dim() != 2 or x.shape[-1] != self.data_dim:
            raise ValueError(f"{type(self).__name__} expects x of shape (batch, {self.data_dim}), got {tuple(x.shape)}")

    def forward(self, x: torch.Tensor, *, num_data=None, index=None) -> dict:
        """Sample every local site, in order, inside the ``"data"`` plate; returns ``{site: value}``."""
        self.check_data(x)
        self.register()
        values = {}
        with data_plate(x, num_data, index):
            for site in self.sites:
                params = self.site_parameters(site.name, joined_inputs(site, x, values), index)
                values[site.name] = pyro.sample(site.name, self.families[site.name].distribution(params))
        return values

    def code(self, x: torch.Tensor, index=None) -> dict:
        """A point summary of q(z|x) per site (each family's, e.g. the mean; the next site's λ is
        computed from the summaries before it), e.g. for reconstructions."""
        values = {}
        for site in self.sites:
            params = self.site_parameters(site.name, joined_inputs(site, x, values), index)
            values[site.name] = self.families[site.name].code(params)
        return values

    def local_parameters(self, x: torch.Tensor, index=None) -> dict:
        """λ of every site for every row of ``x``: ``{site: (batch, num_local)}`` (a refinable guide only)."""
        if not self.refinable:
            raise ValueError(
                f"{type(self).__name__} conditions sites on other sites: its local parameters are not a function of x"
            )
        return {site.name: self.site_parameters(site.name, x, index) for site in self.sites}

    # ---------------------------------------------------------------- one site: the paper's VAE
    def only_site(self) -> str:
        if len(self.sites) != 1:
            raise ValueError(f"{type(self).__name__} has {len(self.sites)} sites: ask for one by name")
        return self.sites[0].name

    def posterior(self, x: torch.Tensor, index=None):
        """q(z|x) of a one-site guide, for a batch ``x`` of shape ``(batch, data_dim)``."""
        self.check_data(x)
        return self.family(self.local_parameters(x, index)[self.only_site()])

    def family(self, params: torch.Tensor):
        """q(z | λ) of a one-site guide."""
        return self.families[self.only_site()].distribution(params)

    def sparse_parameters(self) -> list:
        """Parameters with sparse gradients (per-datapoint tables), for a sparse optimiser."""
        return []


class AmortisedGuide(LocalGuide):
    """An amortised guide of the family ``family_class``: one :class:`Encoder` per local site, built
    from the model's declared body network and a head of the family's size.

    ``AmortisedGuide.for_model(model)`` builds it for any model of the collection; the
    constructor's ``data_dim, latent_dim, hidden_dim`` build it for the paper's one-site VAE.
    """

    @classmethod
    def from_spec(cls, data_dim: int, sites, spec: GuideSpec):
        return cls(data_dim, init=spec.init, sites=sites)

    def __init__(
        self,
        data_dim: int = 784,
        latent_dim: int = 20,
        hidden_dim=500,
        init: str = "default",
        *,
        sites=None,
        **family_options,
    ):
        sites = sites if sites is not None else single_site(latent_dim, hidden_dim)
        super().__init__(data_dim, sites)
        sizes = {"x": data_dim, **{site.name: site.size for site in self.sites}}
        self.encoders = nn.ModuleDict()
        for site in self.sites:
            body = site.body(sum(sizes[name] for name in site.inputs))
            # the paper's N(0, 0.01²) initialisation over the whole encoder, body then head (§5)
            self.encoders[site.name] = initialise(
                Encoder(body, self.family_class.head_dim(site.size, body.out_dim)), init
            )
        for site in self.sites:
            encoder = self.encoders[site.name]
            self.families[site.name] = self.family_class(site.size, encoder.body.out_dim, **family_options)
            self.families[site.name].prepare_head(encoder.head)

    @classmethod
    def for_model(cls, model, init: str = "default", **family_options):
        """This family's guide for every local site of ``model``."""
        return cls(model.data_dim, init=init, sites=model.local_sites, **family_options)

    def site_parameters(self, name, inputs, index=None):
        head, features = self.encoders[name](inputs)
        return self.families[name].local(head, features)

    def register(self):
        register_module("encoders", self.encoders)
        super().register()


class FixedLocalGuide(nn.Module):
    """A guide with given local parameters ``params[site][index]`` for the rows of a data set, in
    the families of the guide ``family_of``, every site independent of the others: what
    :mod:`aevb.inference.diagnostics.refine` optimises and evaluates."""

    amortised = False

    def __init__(self, family_of: LocalGuide, params: dict):
        super().__init__()
        self.family_of, self.params = family_of, params

    def forward(self, x, *, num_data=None, index=None):
        if index is None:
            raise ValueError("FixedLocalGuide needs the rows' indices into its parameters (index=...)")
        values = {}
        with data_plate(x, num_data, index):
            for site in self.family_of.sites:
                values[site.name] = pyro.sample(
                    site.name, self.family_of.families[site.name].distribution(self.params[site.name][index])
                )
        return values

    def code(self, x, index=None) -> dict:
        """The families' point summaries for rows ``index`` (default: the first ``len(x)``)."""
        index = torch.arange(len(x), device=x.device) if index is None else index
        return {
            site.name: self.family_of.families[site.name].code(self.params[site.name][index])
            for site in self.family_of.sites
        }
