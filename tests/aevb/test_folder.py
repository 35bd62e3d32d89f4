"""An output folder owned by one run, and atomic writes (aevb.folder, aevb.files): fault injection."""

import errno
import json
import os
import signal
import subprocess
import sys

import pytest

from aevb.files import TEMP_SUFFIX, atomic_path, write_json, write_text
from aevb.folder import MARKER, FolderError, RunFolder
from aevb.inference.training.checkpoint import save_checkpoint


def holds_a_run(folder):
    return "a finished run (2 epochs)" if (folder / "checkpoint.pt").exists() else None


def test_a_second_owner_is_refused_while_the_first_holds_the_folder(tmp_path):
    with RunFolder(tmp_path):
        with pytest.raises(
            FolderError, match=rf"another run \(pid {os.getpid()}, started .*\) is writing into {tmp_path}"
        ):
            with RunFolder(tmp_path):
                pass
    with RunFolder(tmp_path):  # released: the next run may write
        pass


def test_the_lock_of_a_killed_run_is_taken_over(tmp_path):
    """A process that holds the folder and dies by SIGKILL leaves its lock file behind, but no lock."""
    code = (
        f"from aevb.folder import RunFolder; import os, signal; f = RunFolder({str(tmp_path)!r}).__enter__(); "
        "print('held', flush=True); os.kill(os.getpid(), signal.SIGKILL)"
    )
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert child.returncode == -signal.SIGKILL and "held" in child.stdout
    assert "pid" in (tmp_path / ".lock").read_text()
    with RunFolder(tmp_path):
        assert str(os.getpid()) in (tmp_path / ".lock").read_text()


def test_a_folder_holding_a_run_needs_resume_or_overwrite(tmp_path):
    (tmp_path / "checkpoint.pt").write_text("weights")
    (tmp_path / "notes.txt").write_text("the user's own file")
    with pytest.raises(
        FolderError,
        match="holds a finished run .2 epochs.: --resume continues it, --overwrite replaces it, "
        "or choose another --out",
    ):
        with RunFolder(tmp_path, holds=holds_a_run):
            pass
    assert (tmp_path / "checkpoint.pt").read_text() == "weights"  # refused: nothing touched
    with RunFolder(tmp_path, holds=holds_a_run, resume=True):
        assert (tmp_path / "checkpoint.pt").exists()
    with RunFolder(tmp_path, holds=holds_a_run, outputs=("checkpoint.pt",), overwrite=True):
        assert (
            not (tmp_path / "checkpoint.pt").exists() and (tmp_path / "notes.txt").exists()
        )  # only the run's own files go
    with pytest.raises(FolderError, match="--resume continues .* --overwrite replaces it: give one of them"):
        RunFolder(tmp_path, resume=True, overwrite=True)
    (tmp_path / "checkpoint.pt").write_text("weights")
    with pytest.raises(
        FolderError, match="holds a finished run .2 epochs.: --overwrite replaces it, or"
    ):  # nothing to resume
        with RunFolder(tmp_path, holds=holds_a_run, resumable=False):
            pass


def test_unusable_paths_give_one_line(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(FolderError, match="is a file, not a folder: choose another --out"):
        RunFolder(tmp_path / "file").__enter__()
    with pytest.raises(FolderError, match="cannot create the output folder .* choose another --out"):
        RunFolder(tmp_path / "file" / "run").__enter__()  # its parent is a file


def test_an_unwritable_folder_gives_one_line(tmp_path):
    folder = tmp_path / "readonly"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o500)
    elif (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(folder)], capture_output=True
        ).returncode
        != 0
    ):
        pytest.skip("root ignores permission bits and no read-only filesystem can be mounted here")
    try:
        with pytest.raises(FolderError, match=f"cannot write into {folder} .*: choose another --out"):
            RunFolder(folder).__enter__()
    finally:
        if os.geteuid() == 0:
            subprocess.run(["umount", "-l", str(folder)], capture_output=True)
        else:
            folder.chmod(0o700)


def test_temporary_files_of_a_killed_run_are_removed_when_the_folder_is_opened(tmp_path):
    """Only the folder's own leftovers: its outputs' temporary files, in the folder and inside the
    output folders it owns; not another run's in a folder below it, not a temporary name of a file
    that is none of its outputs."""
    (tmp_path / MARKER).write_text("")  # a folder this collection writes into
    leftovers = [
        tmp_path / f".checkpoint.pt.x1y2{TEMP_SUFFIX}",
        tmp_path / "runs" / "a" / f".curve.json.abc{TEMP_SUFFIX}",
    ]
    others = [
        tmp_path / "child" / f".checkpoint.pt.inflight{TEMP_SUFFIX}",  # a run training in nest/child
        tmp_path / f".notes.txt.abc{TEMP_SUFFIX}",
    ]
    for path in leftovers + others:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("half")
    (tmp_path / "keep.tmp").write_text("not ours")
    with RunFolder(tmp_path, outputs=("checkpoint.pt", "runs")) as folder:
        assert sorted(folder.removed) == sorted(leftovers)
    assert (
        not any(p.exists() for p in leftovers) and all(p.exists() for p in others) and (tmp_path / "keep.tmp").exists()
    )


def test_a_folder_of_someone_elses_files_is_refused_whatever_the_flags_and_left_as_it_was(tmp_path):
    mine = {"config.yaml": "my: settings\n", "samples.png": "my picture"}
    for name, text in mine.items():
        (tmp_path / name).write_text(text)
        os.chmod(tmp_path / name, 0o644)
    for flags in ({}, {"overwrite": True}, {"resume": True}):
        with pytest.raises(
            FolderError, match=r"holds files this collection did not write \(config.yaml, samples.png\)"
        ):
            with RunFolder(tmp_path, holds=lambda p: None, outputs=("config.yaml", "samples.png"), **flags):
                pass
    assert {p.name: (p.read_text(), p.stat().st_mode & 0o777) for p in tmp_path.iterdir() if p.name != ".lock"} == {
        name: (text, 0o644) for name, text in mine.items()
    }
    assert not (tmp_path / MARKER).exists()


def test_an_empty_folder_is_claimed_and_a_run_folder_of_an_earlier_version_is_adopted(tmp_path):
    with RunFolder(tmp_path / "new"):
        assert (tmp_path / "new" / MARKER).is_file()
    old = tmp_path / "old"
    old.mkdir()
    (old / "checkpoint.pt").write_text("a run of an earlier version (no marker)")
    with RunFolder(old, holds=lambda p: "a partial run (1 of 2 epochs)", resume=True):
        assert (old / MARKER).is_file()


def test_out_must_name_a_folder(tmp_path):
    with pytest.raises(FolderError, match="--out must name a folder, got an empty name"):
        RunFolder("")
    (tmp_path / "f").write_text("x")
    with pytest.raises(FolderError, match="is a file, not a folder"):
        with RunFolder(tmp_path / "f"):
            pass


def test_written_files_follow_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        write_text(tmp_path / "a.txt", "x")
        save_checkpoint(tmp_path / "c.pt", {"epoch": 0})
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o640 and (tmp_path / "c.pt").stat().st_mode & 0o777 == 0o640


def test_a_failed_write_keeps_the_previous_file_and_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "metrics.json"
    write_json(target, {"epochs": [1, 2]})

    with pytest.raises(OSError, match="No space left"):
        with atomic_path(target) as tmp:
            tmp.write_text('{"epochs": [1, 2, 3')  # half a file ...
            raise OSError(errno.ENOSPC, "No space left on device")  # ... and the disk is full
    assert json.loads(target.read_text()) == {"epochs": [1, 2]}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]


def test_a_write_that_fills_a_real_disk_keeps_the_previous_file(small_disk):
    disk = small_disk(64)
    if disk is None:
        pytest.skip("no filesystem can be mounted here (the patched-write tests cover the same path)")
    write_text(disk / "metrics.json", "previous")
    with pytest.raises(OSError) as info:
        write_text(disk / "metrics.json", "x" * 200_000)
    assert info.value.errno == errno.ENOSPC
    assert (disk / "metrics.json").read_text() == "previous" and sorted(p.name for p in disk.iterdir()) == [
        "metrics.json"
    ]


def test_two_processes_race_for_one_folder_and_one_wins(tmp_path):
    """Two processes open the folder at once; the owner holds it until the test lets it go (its
    stdin closes), so exactly one is refused whatever their start-up times."""
    code = (
        "import sys; from aevb.folder import RunFolder, FolderError\n"
        "try:\n    f = RunFolder(sys.argv[1]).__enter__(); print('owner', flush=True); sys.stdin.read()\n"
        "except FolderError as e:\n    print('refused', flush=True)\n"
    )
    children = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(tmp_path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outcomes = [c.stdout.readline().strip() for c in children]  # both have tried by now; the owner still holds
    for child in children:
        child.stdin.close()
        child.wait(timeout=120)
    assert sorted(outcomes) == ["owner", "refused"]


@pytest.mark.parametrize("content", ['["a", "list"]', "{not json"])
def test_a_metrics_file_that_is_not_a_json_object_is_one_line_naming_it(tmp_path, content):
    from aevb.files import read_json

    (tmp_path / "metrics.json").write_text(content)
    with pytest.raises(
        ValueError, match=f"{tmp_path / 'metrics.json'} (must hold a JSON object, got list|is not valid JSON)"
    ):
        read_json(tmp_path / "metrics.json")
