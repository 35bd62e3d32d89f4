"""Diagnostics beside the estimators: ArviZ posterior checks (NUTS, per-point HMC, PSIS k̂, R̂/ESS:
:mod:`.posterior`), active units (:mod:`.active_units`), and per-point refinement of local
parameters with the amortisation gap (:mod:`.refine`)."""

from .active_units import ACTIVE_UNIT_THRESHOLD, active_units
from .posterior import (
    K_HAT_GOOD,
    K_HAT_USABLE,
    convergence,
    frozen,
    guide_inference_data,
    hmc_inference_data,
    khat_verdict,
    nuts_inference_data,
    posterior_program,
    psis,
)
from .refine import amortisation_gap, fitted_guide, initial_local_parameters, refine_local_parameters

__all__ = [
    "ACTIVE_UNIT_THRESHOLD",
    "K_HAT_GOOD",
    "K_HAT_USABLE",
    "active_units",
    "amortisation_gap",
    "convergence",
    "fitted_guide",
    "frozen",
    "guide_inference_data",
    "hmc_inference_data",
    "initial_local_parameters",
    "khat_verdict",
    "nuts_inference_data",
    "posterior_program",
    "psis",
    "refine_local_parameters",
]
