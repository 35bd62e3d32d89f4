"""A convolutional VAE for one-channel images (the paper's §6 future work): ``--model conv``."""

from .likelihoods import LIKELIHOODS, check_binary
from .mlp import VAEModel
from .networks import ConvBody, ConvDecoder, initialise


class ConvVAE(VAEModel):
    """p(z) = N(0, I) and a decoder of a dense layer and two stride-2 transposed convolutions
    (:class:`~aevb.models.networks.ConvDecoder`), with a Bernoulli (or Gaussian) likelihood per
    pixel; its guides encode x with two stride-2 convolutions and a dense layer
    (:class:`~aevb.models.networks.ConvBody`). x arrives flat, ``(batch, height·width)``; the
    networks reshape it to the image. One local site ``"z"`` with a N(0, I) prior, so estimator
    B applies with a diagonal or full-covariance guide.
    """

    def __init__(
        self,
        image_shape=(28, 28),
        latent_dim: int = 20,
        likelihood: str = "bernoulli",
        init: str = "default",
        features: int = 256,
    ):
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {sorted(LIKELIHOODS)}, got {likelihood!r}")
        observation = LIKELIHOODS[likelihood]()
        height, width = image_shape
        decoder = initialise(ConvDecoder(latent_dim, image_shape, features, out_channels=observation.outputs(1)), init)
        super().__init__(height * width, latent_dim, decoder, lambda in_dim: ConvBody(image_shape, features))
        self.image_shape, self.likelihood_model = tuple(image_shape), observation

    def observation(self, output):
        return self.likelihood_model.distribution(output, self.data_dim)

    def check_data(self, x):
        super().check_data(x)
        if self.likelihood_model.binary:
            check_binary(x, type(self).__name__)
