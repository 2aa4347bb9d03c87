"""analysis/notebooks/explore.ipynb runs headless (nbclient, kernel python3) on a real result file."""
import os
import pathlib

import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from nbclient import NotebookClient

NOTEBOOK = pathlib.Path(__file__).resolve().parents[2] / "analysis" / "notebooks" / "explore.ipynb"


def ensure_python3_kernel(tmp_path, monkeypatch):
    """Use the installed python3 kernel spec; without one, install ipykernel's spec for this
    interpreter into a temporary prefix and put it on JUPYTER_PATH."""
    if "python3" in KernelSpecManager().find_kernel_specs():
        return
    from ipykernel.kernelspec import install

    prefix = tmp_path / "jupyter"
    install(kernel_name="python3", prefix=str(prefix))
    monkeypatch.setenv("JUPYTER_PATH", str(prefix / "share" / "jupyter"))
    assert "python3" in KernelSpecManager().find_kernel_specs()


def test_notebook_runs_on_a_small_result(grid_file, tmp_path, monkeypatch):
    ensure_python3_kernel(tmp_path, monkeypatch)
    repo = str(NOTEBOOK.parents[2])
    monkeypatch.setenv("MOATSIM_RESULT", str(grid_file))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1")  # quiets the kernel debugger
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (repo, os.environ.get("PYTHONPATH")) if p))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    elsewhere = tmp_path / "elsewhere"  # any working directory, not the notebook's
    elsewhere.mkdir()
    NotebookClient(nb, kernel_name="python3", timeout=300,
                   resources={"metadata": {"path": str(elsewhere)}}).execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    pngs = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(pngs) >= 4, f"expected the main figures, got {len(pngs)} images"
    text = "".join(o.get("text", "") + str(o.get("data", {}).get("text/plain", "")) for o in outputs)
    assert str(grid_file) in text  # the notebook says which file it loaded
