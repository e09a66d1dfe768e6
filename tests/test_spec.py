"""Tests of cbec.spec: world and analysis fields, new choices, a machine-independent key."""

from __future__ import annotations

import shutil
from dataclasses import fields
from pathlib import Path

import pytest

from cbec.spec import CLUSTERS, SCENARIOS, Spec, data_fingerprint


def _folder(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "gdp.csv").write_text("city,2010\nHangzhou,5949.17\n", encoding="utf-8")
    (root / "sub").mkdir()
    (root / "sub" / "pop.csv").write_bytes(b"city,2010\nHangzhou,870\n")
    return root


def test_key_is_a_fingerprint_of_content_not_of_the_path(tmp_path: Path) -> None:
    a = _folder(tmp_path / "machine_a" / "yearbook")
    b = tmp_path / "elsewhere" / "copy"
    shutil.copytree(a, b)
    sa = Spec(profile="real", data_dir=str(a))
    sb = Spec(profile="real", data_dir=str(b))
    assert data_fingerprint(a) == data_fingerprint(b)
    assert sa.key() == sb.key()
    assert str(a) not in sa.describe() and "machine_a" not in sa.describe()
    # one changed byte changes the key; so does a renamed file
    (b / "sub" / "pop.csv").write_bytes(b"city,2010\nHangzhou,871\n")
    assert Spec(profile="real", data_dir=str(b)).key() != sa.key()
    (b / "sub" / "pop.csv").write_bytes(b"city,2010\nHangzhou,870\n")
    assert Spec(profile="real", data_dir=str(b)).key() == sa.key()
    (b / "gdp.csv").rename(b / "gdp2.csv")
    assert Spec(profile="real", data_dir=str(b)).key() != sa.key()
    assert data_fingerprint(tmp_path / "nowhere") == "missing:nowhere"
    (b / "gdp2.csv").rename(b / "gdp.csv")
    (b / ".DS_Store").write_bytes(b"x")
    (b / "~$gdp.xlsx").write_bytes(b"lock")
    assert data_fingerprint(b) == data_fingerprint(a)


def test_key_of_the_twin_is_fixed_across_machines() -> None:
    # no path enters: the default twin's key is a constant of the code
    same = Spec.from_params(profile="twin", seed=Spec().seed, fast=False, overrides="")
    assert Spec().key() == same.key()
    assert Spec().key() != Spec(cluster="pair").key()


def test_world_fields_and_settings() -> None:
    assert Spec.WORLD_FIELDS == ("seed", "scenario", "sim_first_year", "sim_last_year")
    assert Spec(scenario="growing").world_settings() == {
        "seed": Spec().seed,
        "scenario": "growing",
        "sim_first_year": 2005,
        "sim_last_year": 2021,
    }
    assert {"radiation", "siphon", "growing", "no_spillover", "none"} <= set(SCENARIOS)
    assert Spec(scenario="no_spillover").scenario == "no_spillover"
    with pytest.raises(ValueError, match="scenario"):
        Spec(scenario="boom")
    # no declared choice is a world field
    assert not set(Spec.alternatives()) & set(Spec.WORLD_FIELDS)


def test_new_open_choices_have_defaults_and_are_validated() -> None:
    s = Spec()
    assert s.event_window == (-5, 3) and s.event_ref == -1
    assert s.confidence_level == 0.95 and s.alpha == pytest.approx(0.05)
    assert s.psm_covariates == ("log_tie", "log_distance", "same_region")
    assert s.psm_caliper == 0.05 and s.psm_replacement is False
    assert (s.hamilton_horizon, s.hamilton_lags) == (2, 2)
    assert s.cluster in CLUSTERS
    assert Spec(psm_covariates=["log_tie"]).psm_covariates == ("log_tie",)
    for bad in (
        {"confidence_level": 1.0},
        {"psm_caliper": 0.0},
        {"hamilton_horizon": 0},
        {"event_ref": 0},
        {"event_ref": -9},
    ):
        with pytest.raises(ValueError):
            Spec(**bad)
    assert "extra" not in {f.name for f in fields(Spec)}
    parsed = Spec.parse_overrides("confidence_level=0.9 psm_caliper=None event_ref=-2")
    assert Spec(**parsed).alpha == pytest.approx(0.1) and Spec(**parsed).psm_caliper is None


def test_every_field_is_documented() -> None:
    doc = Spec.__doc__ or ""
    for f in fields(Spec):
        assert f.name in doc, f"Spec.{f.name} lacks a docstring entry"
