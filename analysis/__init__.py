"""Analysis of moatsim result files: loading (analysis.load), plots (analysis.plots), the HTML
report (python -m analysis.report FILE... -o DIR, or `moatsim report`), and where the scenario
library and the example notebook are (analysis.resources)."""
from analysis.load import MissingGroupError, Result, load, pick_engine
from analysis.resources import notebook_path, scenario_path, scenarios_dir

__all__ = ["MissingGroupError", "Result", "load", "pick_engine", "notebook_path", "scenario_path",
           "scenarios_dir"]
