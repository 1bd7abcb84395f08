"""scikit-learn's estimator checks that need no fit on the data they generate.

For estimators whose ``fit`` takes what scikit-learn's generated data is not (4-d panel
signals, texts): these checks of construction and parameters still apply.
"""
from __future__ import annotations

from sklearn.utils import estimator_checks as checks

__all__ = ["CONSTRUCTION_CHECKS"]

#: checks of ``__init__``, ``get_params`` / ``set_params``, cloning, repr and the unfitted state
CONSTRUCTION_CHECKS = (
    checks.check_no_attributes_set_in_init,
    checks.check_parameters_default_constructible,
    checks.check_get_params_invariance,
    checks.check_set_params,
    checks.check_estimator_cloneable,
    checks.check_estimator_repr,
    checks.check_estimators_unfitted,
    checks.check_do_not_raise_errors_in_init_or_set_params,
)
