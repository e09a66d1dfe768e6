"""Tests of cbec.estimators.bootstrap against ``wildboottest`` 0.3.2 and closed forms.

Reference: ``wildboottest.wildboottest.WildboottestCL`` (WCR11, Rademacher weights) run on
the same FWL-residualised outcome and treatment; with 8 clusters and ``B = 999 >= 2**8``
both enumerate all 256 sign vectors, so t statistic, bootstrap distribution and p-value must
agree exactly (up to floating point).
"""

from __future__ import annotations

import numpy as np
import pytest
from wildboottest.wildboottest import WildboottestCL

from cbec.estimators import bootstrap as wb
from cbec.estimators.fe import fit_twfe
from cbec.testing.pairdata import make_pair_panel


@pytest.fixture(scope="module")
def small():
    data = make_pair_panel(n_cities=9, years=range(2010, 2016), n_pilots=3, effect=0.2, seed=5)
    return data


def test_equals_wildboottest_full_enumeration(small):
    df = small.df
    yt, dt, k = wb.residualise(df, "syn", "did", small.controls)
    cl = df["cluster_city"].to_numpy()
    ours = wb.wild_cluster_bootstrap(yt, dt, cl, k=1, n_boot=999, ci=False)
    assert ours.full_enumeration and ours.n_boot == 2**ours.n_clusters
    ref = WildboottestCL(X=dt[:, None], Y=yt, cluster=cl, R=np.array([1.0]), B=999, seed=1,
                         parallel=False)  # fmt: skip
    ref.get_scores(bootstrap_type="11", impose_null=True)
    ref.get_weights(weights_type="rademacher")
    ref.get_numer()
    ref.get_denom()
    ref.get_tboot()
    ref.get_vcov()
    ref.get_tstat()
    ref.get_pvalue()
    assert ours.tstat == pytest.approx(float(np.ravel(ref.t_stat)[0]), rel=1e-10)
    np.testing.assert_allclose(np.sort(ours.t_boot), np.sort(np.ravel(ref.t_boot)), rtol=1e-9)
    assert ours.p_value == pytest.approx(float(ref.pvalue), abs=1e-12)


def test_coefficient_and_se_match_pyfixest(small):
    df = small.df
    res = wb.bootstrap_did(df, "syn", "did", small.controls, n_boot=99, ci=False)
    fit = fit_twfe(df, y="syn", treat="did", controls=small.controls, vcov="pilot_city")
    assert res.coef == pytest.approx(float(fit.coef["did"]), abs=1e-10)
    # same CRV1 meat; small-sample factors differ only in the FE count of (N-1)/(N-k)
    n, g = len(df), res.n_clusters
    k_ours = 1 + len(small.controls)
    k_pf = k_ours + df["year"].nunique()
    ratio = np.sqrt((n - k_pf) / (n - k_ours))
    assert res.se == pytest.approx(float(fit.se["did"]) * ratio, rel=1e-8)
    assert g == df["cluster_city"].nunique()


def test_interval_inverts_the_test():
    data = make_pair_panel(n_cities=24, years=range(2010, 2016), n_pilots=6, seed=8)
    res = wb.bootstrap_did(data.df, "syn", "did", data.controls, n_boot=499, seed=3)
    assert res.ci_low < res.coef < res.ci_high
    yt, dt, _ = wb.residualise(data.df, "syn", "did", data.controls)
    for end in (res.ci_low, res.ci_high):
        # just inside the interval the test does not reject, just outside it does
        inside = end + 1e-3 * (res.coef - end)
        outside = end - 1e-3 * (res.coef - end)
        p_in = wb.wild_cluster_bootstrap(yt - inside * dt, dt, data.df["cluster_city"],
                                         k=3, n_boot=499, seed=3, ci=False).p_value  # fmt: skip
        p_out = wb.wild_cluster_bootstrap(yt - outside * dt, dt, data.df["cluster_city"],
                                          k=3, n_boot=499, seed=3, ci=False).p_value  # fmt: skip
        assert p_in >= 0.05 > p_out


def test_weights_laws():
    v, full = wb.draw_weights(3, 10, "rademacher", 0)
    assert full and v.shape == (3, 8) and len({tuple(c) for c in v.T}) == 8
    v, full = wb.draw_weights(40, 2000, "webb", 1)
    assert not full and v.shape == (40, 2000)
    vals = np.unique(v)
    np.testing.assert_allclose(np.sort(vals**2), np.repeat([0.5, 1.0, 1.5], 2))
    assert abs(v.mean()) < 0.02 and abs((v**2).mean() - 1) < 0.02
    with pytest.raises(ValueError, match="weights"):
        wb.draw_weights(3, 10, "mammen", 0)
    with pytest.raises(ValueError, match="two clusters"):
        wb.wild_cluster_bootstrap(np.ones(4), np.arange(4.0), np.zeros(4))
