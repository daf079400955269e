"""lvmgate: the iterative LVM training plan as executable go/no-go gates.

Metrics are plain functions over numpy arrays returning frozen results (`lvmgate.results`);
stores hold chunk records and vectors (`lvmgate.stores`); gates live in `gates/phaseN/`.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
