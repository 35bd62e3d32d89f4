"""What a run leaves in its output folder, read back: the files it owns, what a folder holds, and
where its checkpoint is. The programs guard their ``--out`` folders with these
(:class:`aevb.folder.RunFolder`)."""

from pathlib import Path

from .files import read_json
from .inference.training.checkpoint import CheckpointError, load_checkpoint, validated_state

#: The files a run of :func:`train` and the main program leave in their folder (``--overwrite`` deletes them).
RUN_OUTPUTS = (
    "checkpoint.pt",
    "metrics.json",
    "config.yaml",
    "samples.png",
    "reconstructions.png",
    "elbo.png",
    "manifold.png",
)


def run_in(folder):
    """What run ``folder`` holds, in a few words (``"a partial run (2 of 10 epochs)"``), or None
    when it holds none (a run that never finished an epoch has left nothing worth keeping)."""
    folder = Path(folder)
    checkpoint = folder / "checkpoint.pt"
    if not checkpoint.exists():
        return "the metrics of a run (metrics.json, no checkpoint)" if (folder / "metrics.json").exists() else None
    try:
        state = load_checkpoint(checkpoint)
        epoch, epochs = validated_state(state, checkpoint).epoch, int(state["config"]["epochs"])
    except (CheckpointError, KeyError, TypeError, ValueError):
        return "an unreadable checkpoint.pt"
    try:
        evaluated = "test_log_likelihood" in (read_json(folder / "metrics.json") or {})
    except ValueError:
        evaluated = False
    if epoch >= epochs and evaluated:
        return f"a finished run ({epoch} epoch{'s' * (epoch != 1)}, evaluated)"
    return f"a partial run ({epoch} of {epochs} epochs{'' if epoch < epochs else ', not evaluated'})"


def checkpoint_path(path) -> Path:
    """``path`` itself, or ``path/checkpoint.pt`` when ``path`` is a run folder."""
    path = Path(path)
    return path / "checkpoint.pt" if path.is_dir() else path
