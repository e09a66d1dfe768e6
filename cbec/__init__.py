"""cbec: the helper package of the replication book on cross-border e-commerce pilot areas.

The data flow one way (see README, "Description of the code")::

    reference -> twin | yearbook -> CityPanel -> measures -> pairs -> estimators -> report

Submodules are imported on demand; the top level re-exports only the pieces a notebook
needs first.
"""

from cbec.data.panel import VARIABLES, CityPanel
from cbec.spec import DEFAULT_SEED, NINE_INDICATORS, Spec

__all__ = ["DEFAULT_SEED", "NINE_INDICATORS", "VARIABLES", "CityPanel", "Spec"]
__version__ = "0.1.0"
