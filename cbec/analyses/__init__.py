"""Analyses built from estimators: robustness, heterogeneity, mechanisms, simulation studies."""
