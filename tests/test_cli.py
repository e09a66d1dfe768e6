"""Tests of the command line (cbec.__main__) and the build lock of cbec.book.runner."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import nbformat
import pytest

from cbec import __main__ as cli
from cbec.book import runner
from cbec.spec import Spec

ENV = ("CBEC_PROFILE", "CBEC_DATA_DIR", "CBEC_SEED", "CBEC_FAST", "CBEC_OVERRIDES")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for k in ENV:
        monkeypatch.delenv(k, raising=False)


def _err(capsys, argv: list[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as ex:
        code = cli.main(argv)
        raise SystemExit(code)
    err = capsys.readouterr().err
    return int(ex.value.code), err


@pytest.mark.parametrize(
    ("argv", "env", "text"),
    [
        (["run", "--data-dir", "/tmp"], {}, "--data-dir is given but the profile is 'twin'"),
        (["run"], {"CBEC_DATA_DIR": "/tmp"}, "CBEC_DATA_DIR is given but the profile"),
        (["run", "--fast=maybe"], {}, "argument --fast: 'maybe' is not a yes/no value"),
        (["run"], {"CBEC_FAST": "maybe"}, "CBEC_FAST: 'maybe' is not a yes/no value"),
        (["run", "--seed", "-3"], {}, "argument --seed: -3 is negative"),
        (["run", "--seed", "abc"], {}, "argument --seed: 'abc' is not an integer"),
        (["run"], {"CBEC_SEED": "-1"}, "CBEC_SEED: -1 is negative"),
        (["run"], {"CBEC_PROFILE": "rael"}, "CBEC_PROFILE='rael'"),
        (["run", "--profile", "real", "--data-dir", "/no/such"], {}, "does not exist"),
        (["run", "--set", "nope=1"], {}, "unknown Spec field 'nope'"),
        (["run", "--set", "cluster=city"], {}, "cluster must be one of"),
        (["run", "--preset", "paper"], {}, "argument --preset: invalid choice"),
        (["run", "--strict=perhaps"], {}, "argument --strict: 'perhaps' is not a yes/no"),
        (["run", "--wait", "-1"], {}, "--wait -1 is negative"),
    ],
)
def test_bad_options_are_one_line_errors(capsys, monkeypatch, tmp_path, argv, env, text):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    code, err = _err(capsys, [*argv, "--build-dir", str(tmp_path / "b")])
    assert code == 2
    assert err.startswith("error: ") and text in err and err.count("\n") == 1, err
    assert not (tmp_path / "b").exists()  # nothing was built


@pytest.mark.parametrize("word", ["1", "true", "YES", "on"])
def test_fast_words(word):
    args = cli._parser().parse_args(["run", f"--fast={word}"])
    spec, _ = cli.build_spec(args)
    assert spec.fast is True
    spec, _ = cli.build_spec(cli._parser().parse_args(["run", "--fast=0"]))
    assert spec.fast is False


def test_strict_and_preset_become_overrides():
    args = cli._parser().parse_args(["run", "--profile", "real", "--data-dir", "/tmp", "--strict",
                                     "--preset", "real_paper", "--set", "cluster=dyadic"])  # fmt: skip
    spec, overrides = cli.build_spec(args)
    full = Spec.from_params(profile="real", data_dir="/tmp", overrides=overrides)
    assert full.strict_data and full.pop_interpolated and full.cluster == "dyadic"
    assert "fdi_pc" not in full.index_indicators
    assert full == Spec.preset("real_paper", data_dir="/tmp", strict_data=True, cluster="dyadic")


def test_error_text_has_no_colour_codes_or_stage_paths():
    err = runner.NotebookFailed("01_x.ipynb", 3, 2, "ValueError", "\x1b[0;31mbad\x1b[0m value", "x")
    assert "\x1b" not in str(err) and "bad value" in str(err)
    text = cli.clean_message("see /b/.stage-1234/notebooks/01.ipynb \x1b[1mnow\x1b[0m")
    assert text == "see /b/failed/notebooks/01.ipynb now"


def test_banner_has_no_local_path(tmp_path):
    folder = tmp_path / "my_secret_folder"
    folder.mkdir()
    (folder / "a.csv").write_text("x\n1\n")
    text = runner.banner_text(Spec(profile="real", data_dir=str(folder)))
    assert str(tmp_path) not in text and "my_secret_folder" not in text
    assert "data fingerprint" in text


# ------------------------------------------------------------------------------ lock
HOLDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from cbec.book.runner import build_lock
    with build_lock(Path(sys.argv[1])):
        print("locked", flush=True)
        time.sleep(float(sys.argv[2]))
    """
)


def _hold(folder: Path, seconds: float) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(folder), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


def test_second_build_into_a_locked_folder_stops_with_a_message(tmp_path):
    build = tmp_path / "build"
    holder = _hold(build, 30)
    try:
        out = subprocess.run(
            [sys.executable, "-m", "cbec", "run", "--only", "01", "--build-dir", str(build)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 3, out.stderr
        assert f"another build (pid {holder.pid}) is using the build folder" in out.stderr
        assert out.stderr.count("\n") == 1
        assert not (build / "executed").exists() and not list(build.glob(".stage-*"))
    finally:
        holder.kill()
        holder.wait()


def test_lock_waits_for_the_holder_then_proceeds(tmp_path):
    holder = _hold(tmp_path, 1.0)
    t0 = time.monotonic()
    with runner.build_lock(tmp_path, wait=30, poll=0.05):
        waited = time.monotonic() - t0
    holder.wait()
    assert 0.3 < waited < 30
    with runner.build_lock(tmp_path):  # released again: a crash never leaves it stuck
        pass


# --------------------------------------------------------------- failed stage cleared
def _tiny_book(root: Path, fail: bool) -> Path:
    (root / "book").mkdir(parents=True, exist_ok=True)
    (root / "notebooks").mkdir(exist_ok=True)
    (root / "_config.yml").write_text("title: t\n")
    (root / "_toc.yml").write_text("format: jb-book\nroot: book/intro\n")
    (root / "book" / "intro.md").write_text("# t\n")
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("profile = None\ndata_dir = None\nseed = None\nfast = None")
    params.metadata["tags"] = ["parameters"]
    body = "raise ValueError('\\x1b[31mboom\\x1b[0m')" if fail else "x = 1"
    nb.cells = [nbformat.v4.new_markdown_cell("# T"), params, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    nbformat.write(nb, root / "notebooks" / "01_t.ipynb")
    return root


@pytest.mark.slow
def test_next_good_build_clears_the_stale_failed_stage(tmp_path):
    build = tmp_path / "build"
    src = _tiny_book(tmp_path / "src", fail=True)
    opts = runner.BuildOptions(spec=Spec(fast=True), build_dir=build, source_dir=src, html=False)
    with pytest.raises(runner.NotebookFailed) as ex:
        runner.run_book(opts, log=lambda s: None)
    assert (build / "failed").is_dir()
    msg = cli.clean_message(str(ex.value))
    assert "\x1b" not in msg and "boom" in msg
    assert (
        Path(msg.split("partly executed notebook: ")[1].strip()).parent.parent == build / "failed"
    )
    _tiny_book(src, fail=False)
    runner.run_book(opts, log=lambda s: None)
    assert not (build / "failed").exists()
    assert (build / "executed" / "01_t.ipynb").is_file()
    assert not list(build.glob(".stage-*"))
