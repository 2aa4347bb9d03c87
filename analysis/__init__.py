"""Analysis of moatsim result files: loading (analysis.load), plots (analysis.plots) and the
HTML report (python -m analysis.report FILE -o DIR, or `moatsim report`)."""
from analysis.load import Result, load, pick_engine

__all__ = ["Result", "load", "pick_engine"]
