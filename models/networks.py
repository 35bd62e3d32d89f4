"""The networks of the collection's models and guides: tanh MLPs (Appendix C, with any number of
hidden layers), a convolutional encoder and decoder for 28×28 images (§6's future work), and
the paper's initialisation (§5).

Every network maps inputs with any leading dimensions (samples, particles, points) to outputs
with the same leading dimensions, so models and guides vectorise over them.
"""

import pyro
import torch
from pyro.params import param_with_module_name
from torch import nn

#: log-variances are clamped to this range before exponentiation (a convention of the collection:
#: scales come from exp of a clamped log-variance), so a wild early step cannot produce 0 or inf.
LOGVAR_MIN, LOGVAR_MAX = -30.0, 20.0


def _check_sizes(**sizes):
    for name, value in sizes.items():
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


class MLPBody(nn.Module):
    """``h = tanh(W_L … tanh(W_1 x + b_1) … + b_L)``: the hidden layers of Appendix C's MLPs, any number
    of them (``hidden_dims``); ``out_dim`` is the size of the features it returns."""

    def __init__(self, in_dim: int, hidden_dims):
        super().__init__()
        hidden_dims = tuple(hidden_dims)
        _check_sizes(in_dim=in_dim, **{f"hidden_dims[{i}]": h for i, h in enumerate(hidden_dims)})
        if not hidden_dims:
            raise ValueError("an MLP needs at least one hidden layer")
        sizes = (in_dim, *hidden_dims)
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.in_dim, self.out_dim = in_dim, hidden_dims[-1]

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        h = inputs
        for layer in self.hidden:
            h = torch.tanh(layer(h))
        return h


class MLP(nn.Module):
    """An :class:`MLPBody` and one linear head: Appendix C.1/C.2's networks (one hidden layer of
    ``hidden_dims = (500,)`` in the paper; Burda et al.'s two of 200).

    :param int in_dim: input size.
    :param hidden_dims: sizes of the tanh layers.
    :param int out_dim: size of the linear output.
    """

    def __init__(self, in_dim: int, hidden_dims, out_dim: int):
        super().__init__()
        _check_sizes(out_dim=out_dim)
        self.body = MLPBody(in_dim, hidden_dims)
        self.out = nn.Linear(self.body.out_dim, out_dim)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.out(self.body(inputs))


def make_mlp(in_dim: int, hidden_dims, out_dim: int, init: str) -> MLP:
    """A tanh MLP with an initialisation of :data:`INITS`: every MLP encoder and decoder of the
    collection is built here. ``hidden_dims`` may be one size."""
    mlp = MLP(in_dim, (hidden_dims,) if isinstance(hidden_dims, int) else hidden_dims, out_dim)
    return initialise(mlp, init)


def initialise(module: nn.Module, init: str) -> nn.Module:
    """Apply the initialisation ``init`` of :data:`INITS` to ``module`` in place."""
    if init not in INITS:
        raise ValueError(f"init must be one of {sorted(INITS)}, got {init!r}")
    INITS[init](module)
    return module


def init_paper_(module: nn.Module, std: float = 0.01) -> nn.Module:
    """Draw every parameter from N(0, std²) in place, as in §5 of the paper (std = 0.01)."""
    with torch.no_grad():
        for param in module.parameters():
            param.normal_(0.0, std)
    return module


def init_glorot_(module: nn.Module) -> nn.Module:
    """Glorot & Bengio's (2010) uniform initialisation of every dense and convolutional weight,
    U(±√(6 / (fan_in + fan_out))), with zero biases: what Burda et al. (2015) used."""
    with torch.no_grad():
        for layer in module.modules():
            if isinstance(layer, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.xavier_uniform_(layer.weight)
                if layer.bias is not None:
                    layer.bias.zero_()
    return module


#: ``--init NAME`` → the in-place initialisation of a network: PyTorch's own (default), the
#: paper's N(0, 0.01²) for every parameter (§5), or Glorot & Bengio's (Burda et al.'s protocol).
INITS = {"default": lambda module: module, "paper": init_paper_, "glorot": init_glorot_}


def _flat_batch(inputs: torch.Tensor, event_dims: int):
    """``inputs`` with its leading dimensions merged into one (for layers that take one batch
    dimension), and a function restoring them on an output."""
    lead = inputs.shape[: inputs.dim() - event_dims]
    flat = inputs.reshape(-1, *inputs.shape[inputs.dim() - event_dims :])
    return flat, lambda out: out.reshape(*lead, *out.shape[1:])


class ConvBody(nn.Module):
    """A convolutional encoder body for one-channel images given as flat vectors: two stride-2
    4×4 convolutions (32 and 64 channels, ReLU) and a dense layer of ``features`` units: 28×28 →
    14×14 → 7×7 → features."""

    def __init__(self, image_shape=(28, 28), features: int = 256):
        super().__init__()
        height, width = image_shape
        if height % 4 or width % 4:
            raise ValueError(f"the convolutional networks need image sides divisible by 4, got {tuple(image_shape)}")
        self.image_shape, self.in_dim, self.out_dim = tuple(image_shape), height * width, features
        self.convs = nn.Sequential(
            nn.Conv2d(1, 32, 4, stride=2, padding=1), nn.ReLU(), nn.Conv2d(32, 64, 4, stride=2, padding=1), nn.ReLU()
        )
        self.dense = nn.Linear(64 * (height // 4) * (width // 4), features)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        flat, restore = _flat_batch(inputs, 1)
        h = self.convs(flat.reshape(-1, 1, *self.image_shape)).flatten(1)
        return restore(torch.relu(self.dense(h)))


class ConvDecoder(nn.Module):
    """The mirror of :class:`ConvBody`: z → dense (``features``, ReLU) → 64×7×7 → two stride-2 4×4
    transposed convolutions → one channel of the image's size, returned flat (``out_channels``
    maps per pixel, e.g. Bernoulli logits)."""

    def __init__(self, latent_dim: int, image_shape=(28, 28), features: int = 256, out_channels: int = 1):
        super().__init__()
        height, width = image_shape
        _check_sizes(latent_dim=latent_dim, features=features, out_channels=out_channels)
        self.image_shape, self.out_channels = tuple(image_shape), out_channels
        self.grid = (64, height // 4, width // 4)
        self.dense = nn.Sequential(
            nn.Linear(latent_dim, features),
            nn.ReLU(),
            nn.Linear(features, 64 * (height // 4) * (width // 4)),
            nn.ReLU(),
        )
        self.deconvs = nn.Sequential(
            nn.ConvTranspose2d(64, 32, 4, stride=2, padding=1),
            nn.ReLU(),
            nn.ConvTranspose2d(32, out_channels, 4, stride=2, padding=1),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        flat, restore = _flat_batch(z, 1)
        maps = self.deconvs(self.dense(flat).reshape(-1, *self.grid))  # (N, channels, H, W)
        return restore(maps.reshape(len(maps), -1))  # channel-major: [all pixels of map 0, all of map 1, ...]


def register_module(name: str, module: nn.Module) -> nn.Module:
    """:func:`pyro.module`, with the module being run owning its names in the param store.

    Pyro's param store is global: after a second model is built in the same process,
    ``pyro.module("decoder", new)`` keeps returning the first model's tensors under those
    names. Eager training does not notice (the module computes with its own weights), but
    anything that reads parameters from the store (JIT replay, ``pyro.get_param_store()``,
    ``pyro.optim``) would get the stale ones. Here a stale entry is replaced by the module's
    own tensor before registering.
    """
    store = pyro.get_param_store()
    for param_name, param in module.named_parameters():
        full_name = param_with_module_name(name, param_name)
        if full_name in store and store[full_name] is not param:
            del store[full_name]
            store[full_name] = param
    return pyro.module(name, module)
