"""scaling-workbench: fit scaling laws the papers' way, plan compute, tune inference cost.

The package is layered: pure functions (``laws``, ``allocate``) at the bottom, thin objects
(``fit.FitResult``) above them, the CLI (``python -m workbench``) and the notebooks on top.
Heavy dependencies (torch) are imported only by the modules that need them.
"""

__version__ = "0.1.0"
