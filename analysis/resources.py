"""Where the files the package works with live: the scenario library, the example notebook and
the moatsim binary, wherever the package was installed from.

Three layouts are recognized, by looking next to the package directory:
  pip install .      analysis/scenarios, analysis/notebooks (package data)
  source tree        <repo>/analysis next to <repo>/scenarios and <repo>/bin/moatsim
  make install       $(PREFIX)/share/moatsim/python/analysis and $(PREFIX)/share/moatsim/scenarios
$MOATSIM_SCENARIOS (a directory) and $MOATSIM (the binary) take precedence when set.
"""
from __future__ import annotations

import os
import shutil

PACKAGE = os.path.dirname(os.path.abspath(__file__))
# Candidate roots, nearest first: the package itself, the source tree, share/moatsim.
_ROOTS = (PACKAGE, os.path.dirname(PACKAGE), os.path.dirname(os.path.dirname(PACKAGE)))


def _first_dir(sub: str, marker: str) -> str | None:
    for root in _ROOTS:
        d = os.path.join(root, sub)
        if os.path.isfile(os.path.join(d, marker)):
            return d
    return None


def scenarios_dir() -> str:
    """The directory of the scenario library (baseline.cfg and the files derived from it)."""
    env = os.environ.get("MOATSIM_SCENARIOS")
    if env:
        return env
    found = _first_dir("scenarios", "baseline.cfg")
    if not found:
        looked = ", ".join(os.path.join(r, "scenarios") for r in _ROOTS)
        raise FileNotFoundError(f"the scenario library was not found (looked in {looked}): install "
                                "the package with `pip install .` or `make install`, or set "
                                "MOATSIM_SCENARIOS to a directory holding baseline.cfg")
    return found


def scenario_path(name: str) -> str:
    """Path of library scenario `name` ('baseline', 'price-war', or 'price-war.cfg')."""
    file = name if name.endswith(".cfg") else name + ".cfg"
    path = os.path.join(scenarios_dir(), file)
    if not os.path.isfile(path):
        have = sorted(f[:-4] for f in os.listdir(scenarios_dir()) if f.endswith(".cfg"))
        raise FileNotFoundError(f"{path}: no scenario {name!r} in the library (have: {', '.join(have)})")
    return path


def notebook_path(name: str = "explore.ipynb") -> str:
    """Path of an example notebook shipped with the package."""
    path = os.path.join(PACKAGE, "notebooks", name)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no notebook {name!r} next to the analysis package")
    return path


def moatsim_binary() -> str:
    """$MOATSIM, else bin/moatsim of the source tree, else `moatsim` on PATH, else
    $(PREFIX)/bin/moatsim of a `make install`."""
    candidates = [os.environ.get("MOATSIM"), os.path.join(os.path.dirname(PACKAGE), "bin", "moatsim"),
                  shutil.which("moatsim"),
                  os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(PACKAGE))), "bin", "moatsim")]
    for exe in candidates:
        if exe and os.access(exe, os.X_OK):
            return exe
    raise FileNotFoundError("the moatsim binary was not found: build it (`make`), install it "
                            "(`make install`), or set MOATSIM to its path")
