"""symmpo: discover preference-optimization losses as readable formulas (Mirror Preference Optimization)."""

from symmpo.objective import Objective

__all__ = ["Objective"]
__version__ = "0.1.0"
