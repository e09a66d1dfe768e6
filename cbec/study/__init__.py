"""Study construction: city measures, pairs, ties, timing and :func:`build_study`."""
