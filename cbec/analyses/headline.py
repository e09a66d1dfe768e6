"""The default twin's headline numbers, computed in one place.

:func:`headline_numbers` gives the numbers the book's first chapters report for one
:class:`~cbec.spec.Spec` (Table 2.1's DID coefficient without and with controls, its standard
error under each clustering, the true ATT, the event study's pre-trend test, the placebo
p-value and the number of pair-years). ``tests/golden/headline.json`` holds them for the
default twin; ``tests/test_golden.py`` fails with a list of what moved when a code change
moves them, and ``python scripts/update_golden.py`` rewrites the file on purpose.
"""

from __future__ import annotations

from typing import Any

from cbec.estimators import eventstudy, fe, placebo
from cbec.spec import Spec
from cbec.study.pipeline import Study, build_study

#: Clusterings whose standard errors are recorded (the four of Table 2.2).
HEADLINE_CLUSTERS: tuple[str, ...] = ("pair", "pilot_city", "twoway", "dyadic")


def headline_numbers(spec: Spec | None = None, *, study: Study | None = None) -> dict[str, Any]:
    """The headline numbers of ``spec`` (default ``Spec()``, the default twin).

    Returns
    -------
    dict
        ``pair_years`` (int); ``did_no_controls`` and ``did_controls`` (the coefficient of
        Table 2.1's columns 1 and 2); ``se_no_controls_<c>`` and ``se_controls_<c>`` for
        every ``c`` of :data:`HEADLINE_CLUSTERS`; ``true_att`` (twin only, else absent);
        ``pretest_chi2``, ``pretest_df``, ``pretest_p`` (Wald test that the event study's
        leads before ``event_ref`` are zero, with ``spec.controls`` and ``spec.cluster``);
        ``placebo_p`` and ``placebo_draws`` (``spec.draws`` reassignments, seed
        ``spec.seed``).
    """
    spec = Spec() if spec is None else spec
    study = build_study(spec) if study is None else study
    panel = study.panel
    out: dict[str, Any] = {"pair_years": int(len(panel))}
    for label, controls in (("no_controls", ()), ("controls", spec.controls)):
        tab = fe.se_table(panel, y="syn", treat="did", controls=controls, vcovs=HEADLINE_CLUSTERS)
        out[f"did_{label}"] = float(tab["coef"].iloc[0])
        for c in HEADLINE_CLUSTERS:
            out[f"se_{label}_{c}"] = float(tab.loc[c, "se"])
    if study.has_truth:
        out["true_att"] = study.true_att()
    es = eventstudy.fit_event_study(
        panel, y="syn", controls=spec.controls, seed=spec.seed, spec=spec
    )
    out["pretest_chi2"] = float(es.pretest_stat)
    out["pretest_df"] = int(es.pretest_df)
    out["pretest_p"] = float(es.pretest_p)
    pilots = study.universe.loc[study.universe["pilot"], ["city_id", "treat_year"]]
    plac = placebo.placebo_did(
        panel,
        "syn",
        spec.controls,
        n_draws=spec.draws,
        seed=spec.seed,
        pilots=pilots,
        cities=study.universe["city_id"].to_numpy(),
        progress=False,
    )
    out["placebo_p"] = float(plac.p_value)
    out["placebo_draws"] = int(len(plac.draws))
    return out


def compare(got: dict[str, Any], want: dict[str, Any], rtol: float = 1e-6) -> list[str]:
    """Lines naming every number that moved (``[]`` when none did).

    Integers must match exactly; floats within ``rtol`` (relative, with an absolute floor of
    ``1e-10``) so that the check survives another BLAS but not a change of the code.
    """
    lines = []
    for key in sorted(set(got) | set(want)):
        if key not in got or key not in want:
            side = "new" if key not in want else "gone"
            lines.append(f"{key}: {side} ({got.get(key, want.get(key))!r})")
            continue
        a, b = got[key], want[key]
        if isinstance(b, int) and not isinstance(b, bool):
            moved = int(a) != b
        else:
            moved = abs(float(a) - float(b)) > max(1e-10, rtol * abs(float(b)))
        if moved:
            lines.append(f"{key}: {b!r} -> {a!r}")
    return lines
