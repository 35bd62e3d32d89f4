"""The base class of the collection's fitting algorithms.

The contract an algorithm follows is :class:`aevb.inference.contracts.Algorithm` (docs/contracts.md);
what it needs and offers it declares as class attributes, read by
:func:`aevb.inference.capabilities.capabilities`, whose dataclass holds every default. This class
adds only the two things the collection's runs need beyond the contract: a registry ``name`` and
:meth:`from_config`.
"""


class Algorithm:
    """Base class of the registered algorithms (a user's algorithm need not inherit it)."""

    #: the ``--inference`` name
    name = None

    @classmethod
    def from_config(cls, model, guide, config: dict, num_data: int):
        """The algorithm a run of ``config`` trains (:func:`aevb.build`)."""
        raise NotImplementedError

    def parameters(self):
        raise NotImplementedError

    def step(self, x, *, num_data, index=None):
        raise NotImplementedError


def parameters_of(*programs) -> list:
    """The parameters of ``programs`` (modules; None skipped), each once: a user's model and guide
    may share one module (Pyro's VAE example has both as methods of one ``nn.Module``)."""
    seen, unique = set(), []
    for program in programs:
        for p in program.parameters() if program is not None else ():
            if id(p) not in seen:
                seen.add(id(p))
                unique.append(p)
    return unique
