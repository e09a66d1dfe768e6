"""Command line of the book: ``python -m cbec book|run [options]``.

``book`` executes every chapter notebook with papermill and builds the HTML into
``<build-dir>/html``; ``run`` only executes the notebooks (``<build-dir>/executed``). Both
leave the previous good result in place when anything fails. Exit status: 0 on success,
1 when a notebook or the HTML build failed, 2 on bad options (nothing is built).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from cbec.spec import Spec


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m cbec",
        description="Build the replication book (papermill + Jupyter Book).",
    )
    sub = parser.add_subparsers(dest="command", metavar="{book,run}")
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
        p.add_argument("--seed", type=int, default=None, help="seed of the twin and all draws")
        p.add_argument(
            "--fast",
            action="store_true",
            default=None,
            help="fast mode: fewer random draws (tests, CI)",
        )
        p.add_argument(
            "--only",
            default=None,
            help="comma-separated notebook numbers to execute, e.g. 01,02",
        )
        p.add_argument("--build-dir", default="_build", type=Path, help="default: _build")
        p.add_argument(
            "--source",
            default=None,
            type=Path,
            help="root of the book sources (default: this repository)",
        )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    from cbec.book.runner import REPO_ROOT, BookError, BuildOptions, InvalidOptions, run_book

    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        # unset options fall back to CBEC_PROFILE, CBEC_DATA_DIR, CBEC_SEED, CBEC_FAST
        spec = Spec.from_params(
            profile=args.profile, data_dir=args.data_dir, seed=args.seed, fast=args.fast
        )
    except (ValueError, TypeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    only = tuple(s for s in args.only.split(",") if s.strip()) if args.only else None
    options = BuildOptions(
        spec=spec,
        build_dir=args.build_dir,
        only=only,
        source_dir=args.source or REPO_ROOT,
        html=args.command == "book",
    )
    try:
        run_book(options)
    except InvalidOptions as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except BookError as err:
        print(f"error: {err}", file=sys.stderr)
        print(
            f"nothing was published; the previous result in {args.build_dir} is unchanged",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
