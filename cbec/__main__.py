"""Command line of the book: ``python -m cbec book|run|real-results [options]``.

``book`` executes every chapter notebook with papermill and builds the HTML into
``<build-dir>/html``; ``run`` only executes the notebooks (``<build-dir>/executed``). Both
leave the previous good result in place when anything fails, and hold a lock on the build
folder so that two builds never mix (a second one stops with a message, or waits with
``--wait SECONDS``). ``real-results`` computes the aggregate results on a real panel
(:mod:`cbec.outputs.realresults`) and writes or checks ``data/real_results/results.json``.

Every option is checked before anything runs, each problem as one line: ``--data-dir``
without ``--profile real``, a ``--fast`` value that is not a yes/no word, a negative
``--seed``, an unknown ``--set`` field or ``--preset``; the environment fallbacks
(``CBEC_PROFILE``, ``CBEC_DATA_DIR``, ``CBEC_SEED``, ``CBEC_FAST``) are checked the same way.
Exit status: 0 on success, 1 when a notebook or the HTML build failed (or the real results no
longer match), 2 on bad options (nothing is built), 3 when the build folder is locked.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from cbec.spec import ENV_DATA_DIR, ENV_FAST, ENV_PROFILE, ENV_SEED, PRESETS, Spec

#: Words accepted for a yes/no option (``--fast=1``, ``FAST=yes``, ``CBEC_FAST=false``).
YES = ("1", "true", "yes", "on")
NO = ("0", "false", "no", "off", "")

_ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


class OptionError(ValueError):
    """A bad option; printed as one line, exit status 2."""


def _yes_no(text: str) -> bool:
    word = str(text).strip().lower()
    if word in YES:
        return True
    if word in NO:
        return False
    raise argparse.ArgumentTypeError(
        f"{text!r} is not a yes/no value (use one of {', '.join(YES + NO[:-1])})"
    )


def _seed(text: str) -> int:
    try:
        value = int(str(text).strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative; a seed is 0 or more")
    return value


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"error: {' '.join(message.split())}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m cbec",
        description="Build the replication book (papermill + Jupyter Book).",
    )
    sub = parser.add_subparsers(
        dest="command", metavar="{book,run,real-results}", parser_class=_Parser
    )
    for name, text in (
        ("book", "execute the notebooks and build the HTML book"),
        ("run", "execute the notebooks only (no HTML)"),
    ):
        p = sub.add_parser(name, help=text, description=text)
        p.add_argument(
            "--profile",
            choices=("twin", "real"),
            default=None,
            help="data profile: the synthetic twin (default) or your real yearbook panel",
        )
        p.add_argument("--data-dir", default=None, help="folder of your yearbook files (real)")
        p.add_argument(
            "--seed", type=_seed, default=None, help="seed of the twin and all draws (>= 0)"
        )
        p.add_argument(
            "--fast",
            nargs="?",
            const=True,
            default=None,
            type=_yes_no,
            metavar="YES/NO",
            help="fast mode: fewer random draws (tests, CI); --fast or --fast=1/0",
        )
        p.add_argument(
            "--only",
            default=None,
            help="comma-separated notebook numbers to execute, e.g. 01,02",
        )
        p.add_argument(
            "--set",
            default=None,
            metavar="FIELD=VALUE ...",
            help='other Spec choices for every notebook, e.g. "scenario=siphon cluster=dyadic"',
        )
        p.add_argument(
            "--preset",
            default=None,
            choices=sorted(PRESETS),
            help="a named set of choices (Spec.preset), e.g. real_paper: the real sample "
            "closest to the paper's",
        )
        p.add_argument(
            "--strict",
            nargs="?",
            const=True,
            default=None,
            type=_yes_no,
            metavar="YES/NO",
            help="real profile: stop at the first value the loader would have to guess about",
        )
        p.add_argument("--build-dir", default="_build", type=Path, help="default: _build")
        p.add_argument(
            "--wait",
            default=0.0,
            type=float,
            metavar="SECONDS",
            help="when another build holds the build folder, wait this long (default: stop)",
        )
        p.add_argument(
            "--source",
            default=None,
            type=Path,
            help="root of the book sources (default: this repository)",
        )
    text = "compute the aggregate results on a real panel; write or check the committed file"
    p = sub.add_parser("real-results", help=text, description=text)
    p.add_argument("--data-dir", required=True, help="folder of the real yearbook files")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--write", action="store_true", help="write the results file")
    group.add_argument(
        "--check", action="store_true", help="recompute and compare with the results file"
    )
    p.add_argument("--out", type=Path, default=None, help="results file (default: committed)")
    return parser


def _env_checked() -> dict[str, str]:
    """The environment fallbacks, each checked like its option (one-line errors)."""
    env = {k: os.environ.get(k, "") for k in (ENV_PROFILE, ENV_DATA_DIR, ENV_SEED, ENV_FAST)}
    if env[ENV_PROFILE] and env[ENV_PROFILE] not in ("twin", "real"):
        raise OptionError(f"{ENV_PROFILE}={env[ENV_PROFILE]!r}: use twin or real")
    for name, check in ((ENV_SEED, _seed), (ENV_FAST, _yes_no)):
        if env[name]:
            try:
                check(env[name])
            except argparse.ArgumentTypeError as err:
                raise OptionError(f"{name}: {err}") from None
    return env


def build_spec(args: argparse.Namespace) -> tuple[Spec, str]:
    """The Spec and the overrides string of ``book``/``run`` options; :class:`OptionError`
    (one line) when an option or its environment fallback is wrong."""
    env = _env_checked()
    profile = args.profile or env[ENV_PROFILE] or "twin"
    data_dir = args.data_dir or env[ENV_DATA_DIR] or None
    if data_dir and profile != "real":
        where = "--data-dir" if args.data_dir else ENV_DATA_DIR
        raise OptionError(
            f"{where} is given but the profile is {profile!r}: add --profile real "
            "(make book PROFILE=real DATA_DIR=...) or drop the data folder"
        )
    fast = args.fast if args.fast is not None else (_yes_no(env[ENV_FAST]) or None)
    parts = []
    if args.preset:
        parts.append(Spec.preset_overrides(args.preset))
    if args.strict:
        parts.append("strict_data=True")
    parts.append(" ".join((args.set or "").split()))
    overrides = " ".join(p for p in parts if p)
    try:
        # unset options fall back to CBEC_PROFILE, CBEC_DATA_DIR, CBEC_SEED, CBEC_FAST
        spec = Spec.from_params(profile=profile, data_dir=data_dir, seed=args.seed, fast=fast)
        if overrides:  # validate now: an unknown field or value is a one-line error
            Spec.from_params(
                profile=profile, data_dir=data_dir, seed=args.seed, fast=fast,
                overrides=overrides,
            )  # fmt: skip
    except (ValueError, TypeError) as err:
        raise OptionError(str(err)) from None
    if spec.profile == "real" and not Path(str(spec.data_dir)).is_dir():
        raise OptionError(f"the data folder {args.data_dir or data_dir} does not exist")
    if args.wait < 0:
        raise OptionError(f"--wait {args.wait:g} is negative")
    return spec, overrides


def clean_message(text: str) -> str:
    """Error text for a terminal or a log: no colour codes, no staging-folder paths."""
    text = _ANSI_RE.sub("", str(text))
    return re.sub(r"[/\\]\.stage-\d+", "/failed", text)


def _real_results(args: argparse.Namespace) -> int:
    from cbec.outputs import realresults as rr

    folder = Path(args.data_dir)
    if not folder.is_dir():
        print(f"error: the data folder {args.data_dir} does not exist", file=sys.stderr)
        return 2
    path = args.out or rr.RESULTS_PATH
    results = rr.compute(folder)
    if args.check:
        old = rr.load(path)
        if old is None:
            print(f"error: no results file {path.name} to check against", file=sys.stderr)
            return 1
        diffs = rr.compare(old, results)
        if diffs:
            print(f"real results differ from {path.name} ({len(diffs)}):", file=sys.stderr)
            for d in diffs[:20]:
                print(f"  {d}", file=sys.stderr)
            return 1
        print(f"real results match {path.name}")
        return 0
    if args.write:
        rr.write(results, path)
        print(f"wrote {path}")
    for name, one in results["samples"].items():
        s, d = one["sample"], one["did"]["controls"]
        print(
            f"{name}: {s['cities']} cities, {s['pilots']} pilots, {s['pair_years']:,} pair-years; "
            f"DID {d['pilot_city']['coef']:.4f} (pilot_city se {d['pilot_city']['se']:.4f}, "
            f"dyadic se {d['dyadic']['se']:.4f}); placebo p {one['placebo']['p']:.3f}"
        )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    from cbec.book.runner import (
        REPO_ROOT,
        BookError,
        BuildLocked,
        BuildOptions,
        InvalidOptions,
        run_book,
    )

    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if args.command == "real-results":
        return _real_results(args)
    try:
        spec, overrides = build_spec(args)
    except OptionError as err:
        print(f"error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    only = tuple(s for s in args.only.split(",") if s.strip()) if args.only else None
    options = BuildOptions(
        spec=spec,
        build_dir=args.build_dir,
        only=only,
        source_dir=args.source or REPO_ROOT,
        html=args.command == "book",
        overrides=overrides,
        lock_wait=args.wait,
    )
    try:
        run_book(options)
    except InvalidOptions as err:
        print(f"error: {clean_message(err)}", file=sys.stderr)
        return 2
    except BuildLocked as err:
        print(f"error: {clean_message(err)}", file=sys.stderr)
        return 3
    except BookError as err:
        print(f"error: {clean_message(err)}", file=sys.stderr)
        print(
            f"nothing was published; the previous result in {args.build_dir} is unchanged",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
