"""Following runs in TensorBoard (``--tensorboard DIR``), through :mod:`torch.utils.tensorboard`.

Needs the ``tensorboard`` package (``pip install 'aevb-pyro[tensorboard]'``; ``make test``
installs it). Open the result with ``tensorboard --logdir DIR``.
"""

from . import config as cfg
from . import figures


class TensorBoardLogger:
    """Writes into ``log_dir``: the run's configuration (as text), after every epoch every number of
    the epoch's record under ``epoch/KEY`` (train and test ELBO, examples/s, seconds, ...: the
    values ``metrics.json`` holds, at step = epoch), the sample and reconstruction images of
    that epoch's model, and the final test log-likelihood under ``final/test_log_likelihood``.
    """

    def __init__(self, log_dir, config: dict):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise cfg.ConfigError(
                "--tensorboard needs the tensorboard package: pip install 'aevb-pyro[tensorboard]' (or pip install "
                "tensorboard)"
            ) from None
        self.writer = SummaryWriter(log_dir=str(log_dir))
        text = "".join("    " + line + "\n" for line in cfg.dump(config).splitlines())  # a Markdown code block
        self.writer.add_text("config", text, 0)
        self.writer.flush()

    def epoch(self, record: dict, run=None) -> None:
        """The numbers of one epoch's record and, given the run, its sample and reconstruction images."""
        step = record["epoch"]
        for key, value in record.items():
            if key != "epoch" and isinstance(value, (int, float)) and not isinstance(value, bool):
                self.writer.add_scalar(f"epoch/{key}", value, step)
        if run is not None:
            shape = run.train.image_shape
            self.writer.add_image("samples", figures.sample_grid(run.model, shape), step)
            if run.guide is not None:
                shown = run.test.x[:32]
                self.writer.add_image(
                    "reconstructions", figures.reconstruction_grid(*run.scoring_pair(shown), shown, shape), step
                )
        self.writer.flush()

    def log_likelihood(self, result: dict, step: int) -> None:
        """The final test log-likelihood (``run.log_likelihood()``'s result) at ``step`` (the last epoch)."""
        self.writer.add_scalar("final/test_log_likelihood", result["value"], step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def logger(log_dir, config: dict):
    """A :class:`TensorBoardLogger` for ``log_dir``, or None when ``log_dir`` is None (off)."""
    return None if log_dir is None else TensorBoardLogger(log_dir, config)
