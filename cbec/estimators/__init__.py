"""Estimators: one fixed-effects fitting path, variances, event studies, placebo, matching.

Estimators return result objects and frames; they never draw or format (that is
:mod:`cbec.outputs`).
"""
