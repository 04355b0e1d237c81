"""The educational notebooks in examples/ run end to end in fast mode, and are stored without outputs.

Each notebook is executed by nbclient in a fresh kernel of this interpreter, with the repository root as working
directory (so that ``import benchmarks`` works) and ``LLRR_FAST=1``, which the notebooks read to shrink their sizes
and iteration counts. The notebooks check their own claims (e.g. network == Algorithm 1 step by step) with asserts,
so an error in any cell fails the test.
"""

import sys
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import NATIVE_KERNEL_NAME, KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "examples").glob("*.ipynb"))
CELL_TIMEOUT = 300


def _kernel_manager() -> KernelManager:
    """A manager for a "python3" kernel that runs THIS interpreter (the venv's), whatever kernel specs are installed.

    With no kernel directories, jupyter_client falls back on ipykernel's own spec, whose command is
    ``sys.executable -m ipykernel_launcher``; a user-level "python3" spec pointing at another Python is never used.
    """
    specs = KernelSpecManager(kernel_dirs=[], ensure_native_kernel=True)
    return KernelManager(kernel_name=NATIVE_KERNEL_NAME, kernel_spec_manager=specs)


def _execute(nb, monkeypatch) -> None:
    monkeypatch.setenv("LLRR_FAST", "1")
    client = NotebookClient(nb, km=_kernel_manager(), timeout=CELL_TIMEOUT, kernel_name=NATIVE_KERNEL_NAME,
                            resources={"metadata": {"path": str(ROOT)}})
    client.execute()


def _outputs_text(nb) -> str:
    return "".join(o.get("text", "") for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs)


def test_there_are_notebooks():
    names = {p.name for p in NOTEBOOKS}
    assert {"01_unrolling.ipynb", "02_solving_eq5_on_patches.ipynb", "04_speed.ipynb"} <= names, names


def test_the_kernel_runs_this_interpreter_in_the_repository_root(monkeypatch):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import os, sys; print(sys.executable); print(os.getcwd()); print(os.environ['LLRR_FAST'])")])
    _execute(nb, monkeypatch)
    executable, cwd, fast = _outputs_text(nb).split()
    assert Path(executable).resolve() == Path(sys.executable).resolve()
    assert Path(cwd).resolve() == ROOT
    assert fast == "1"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_is_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    dirty = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
             and (cell.outputs or cell.execution_count is not None)]
    assert not dirty, (f"{path.name}: code cells {dirty} hold outputs or execution counts; clear them before "
                       "committing (e.g. jupyter nbconvert --clear-output --inplace)")
    assert "LLRR_FAST" in "".join(cell.source for cell in nb.cells), f"{path.name} does not read LLRR_FAST"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_in_fast_mode(path, monkeypatch):
    nb = nbformat.read(path, as_version=4)
    try:
        _execute(nb, monkeypatch)
    except CellExecutionError as exc:
        pytest.fail(f"{path.name} failed in fast mode:\n{exc}", pytrace=False)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert all(cell.execution_count is not None for cell in code), f"{path.name}: not every cell ran"
    errors = [o for cell in code for o in cell.outputs if o.output_type == "error"]
    assert not errors, errors
