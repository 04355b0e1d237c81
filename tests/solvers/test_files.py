"""solvers._files: the file helpers every package uses, kept once; and ``import solvers`` stays light."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import pytest

import solvers
from solvers._files import IMAGE_SUFFIXES, atomic_path, atomic_write_text, images_by_stem, sha256_file


def test_atomic_path_replaces_on_success_and_keeps_the_old_file_on_error(tmp_path):
    target = tmp_path / "sub" / "out.txt"
    assert atomic_write_text(target, "first") == target and target.read_text() == "first"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert target.read_text() == "first" and sorted(p.name for p in target.parent.iterdir()) == ["out.txt"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(OSError, match=r"cannot write .*file/out\.txt"), atomic_path(tmp_path / "file" / "out.txt"):
        pass


def test_sha256_file_is_the_digest_of_the_bytes(tmp_path):
    data = bytes(range(256)) * 5000  # > 1 MiB: several chunks
    (tmp_path / "b").write_bytes(data)
    assert sha256_file(tmp_path / "b") == hashlib.sha256(data).hexdigest()


def test_images_by_stem_skips_hidden_and_other_files_and_refuses_two_images_with_one_stem(tmp_path):
    for name in ("b.PNG", "a.jpg", ".hidden.png", "notes.txt", "c.tiff"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "d.png").mkdir()
    assert list(images_by_stem(tmp_path)) == ["a", "b", "c"]
    (tmp_path / "a.bmp").write_bytes(b"")
    with pytest.raises(ValueError, match=r"vi directory .* holds two images named 'a': a\.bmp and a\.jpg; keep one"):
        images_by_stem(tmp_path, "vi")


def test_each_helper_exists_once():
    import llrr.evaluate
    import llrr.fuse_files
    import llrr.io
    import unrolled._atomic
    import unrolled.training.data
    import unrolled.weights

    assert llrr.io.atomic_path is atomic_path and unrolled._atomic.atomic_target is atomic_path
    assert unrolled._atomic.sha256_file is sha256_file and unrolled._atomic.atomic_write_text is atomic_write_text
    assert llrr.evaluate.IMAGE_SUFFIXES is llrr.fuse_files.IMAGE_SUFFIXES is unrolled.training.data.IMAGE_SUFFIXES \
        is IMAGE_SUFFIXES
    import unrolled.inference
    import unrolled.training.losses

    eps = unrolled.inference.MINMAX_EPS
    assert unrolled.training.losses.MINMAX_EPS is unrolled.training.data.MINMAX_EPS is eps == 1e-5
    assert unrolled.training.data.minmax01 is unrolled.inference.minmax01


def test_importing_solvers_and_the_light_parts_of_llrr_loads_no_heavy_module():
    code = ("import sys, solvers, solvers._files, llrr, llrr.io, llrr.evaluate, llrr.fuse_files, llrr.cli; "
            "print(sorted(m for m in ('numba', 'scipy', 'sklearn', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_every_public_name_resolves_and_functions_keep_their_submodule_names():
    code = ("import solvers.ista, solvers.admm, solvers.algorithm1, solvers.factored, solvers; "
            "from solvers.ista import ista; from solvers.admm import admm; "
            "assert solvers.ista is ista and solvers.admm is admm, (solvers.ista, solvers.admm); "
            "assert callable(solvers.algorithm1) and callable(solvers.factored); print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "ok"
    assert all(getattr(solvers, name) is not None for name in solvers.__all__)
    names = set(dir(solvers))
    assert {"ISTA", "prox", "base", "_kernels"} <= names and not {"sys", "types", "importlib", "annotations"} & names
    code = "import solvers, types; assert isinstance(solvers.prox, types.ModuleType); print('ok')"  # plain import
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "ok\n"
    with pytest.raises(AttributeError, match="has no attribute 'nothing'"):
        solvers.nothing  # noqa: B018
