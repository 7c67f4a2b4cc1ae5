"""python -m reports: turn run reports into a matrix, a web page, a Markdown summary, a diff, JUnit XML, KCIDB data.

  merge RUN.json... [-o OUT]      one matrix (claims x kernel/filesystem cells) from any runs or matrices
  html REPORT... [-o OUT]         a self-contained HTML page of the matrix
  markdown REPORT... [-o OUT]     a compact Markdown summary
  junit REPORT... [-o OUT]        JUnit XML, one testcase per claim per cell
  kcidb REPORT... [--origin NAME] [-o OUT]
                                  KernelCI's KCIDB v5 JSON: a checkout and build per kernel and architecture, a test
                                  per claim per cell (its ids start with NAME:, default mmapconf), for kcidb-submit
  diff BASE NEW [--regressions V]  verdict changes; exit 1 on a regression: a claim that held (or was observed)
                                  is now refuted, error, unsupported or not run (--regressions refuted: refuted only)
  kernels REPORT... [--markdown]  the kernel summary: how each kernel ran, where kernels differ (python -m kernels)

Every REPORT may be a run report (reports/out/*.json) or a merged matrix; each is checked against its schema
(reports/schema/) first. Exit 2: an input is not a report, or diff paired no column of BASE with one of NEW.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from reports import diff, html, junit, kcidb, kernel_summary, markdown
from reports.matrix import ReportError, load, merge


def _verdicts(text: str) -> tuple[str, ...]:
    chosen = tuple(v.strip() for v in text.split(","))
    wrong = [v for v in chosen if v not in diff.REGRESSIONS]
    if wrong:
        raise argparse.ArgumentTypeError(f"{', '.join(map(repr, wrong))}: the verdicts are {', '.join(diff.REGRESSIONS)}")
    return chosen


def _origin(text: str) -> str:
    if not kcidb.ORIGIN.fullmatch(text):
        raise argparse.ArgumentTypeError(f"{text!r}: a KCIDB origin is lower-case letters, digits and '_'")
    return text


def _emit(text: str, out: Path | None) -> None:
    if out is None:
        sys.stdout.write(text)
        return
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
    except OSError as error:
        raise ReportError(f"{out}: cannot write: {error.strerror}") from None
    print(f"wrote {out}", file=sys.stderr)


def _diff(args: argparse.Namespace) -> int:
    base, new = load(args.base), load(args.new)
    pairs = diff.pair_columns(base, new)
    if not pairs:
        raise ReportError(f"diff: no column of {args.base} pairs with one of {args.new} (columns pair by "
                          f"kernel, filesystem and target, else by target and filesystem type): "
                          f"{', '.join(c['id'] for c in base['columns'])} vs {', '.join(c['id'] for c in new['columns'])}")
    found = diff.changes(base, new, args.regressions)
    print("\n".join(diff.render(found, pairs, args.regressions)))
    return 1 if any(c["regression"] for c in found) else 0


def _write(args: argparse.Namespace) -> int:
    matrix = merge([load(p) for p in args.reports])
    color = args.output is None and sys.stdout.isatty()
    render = {
        "merge": lambda m: json.dumps(m, indent=1) + "\n",
        "html": html.render,
        "markdown": markdown.render,
        "junit": junit.render,
        "kcidb": lambda m: kcidb.render(m, args.origin),
        "kernels": lambda m: (kernel_summary.markdown(m) if args.markdown
                              else "\n".join(kernel_summary.lines(m, color=color)) + "\n"),
    }[args.command]
    _emit(render(matrix), args.output)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reports", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n", 2)[2])
    commands = parser.add_subparsers(dest="command", required=True)
    for name, what in (("merge", "merged matrix (JSON)"), ("html", "HTML page"),
                       ("markdown", "Markdown summary"), ("junit", "JUnit XML")):
        command = commands.add_parser(name, help=f"write the {what}")
        command.add_argument("reports", nargs="+", type=Path, metavar="REPORT")
        command.add_argument("-o", "--output", type=Path, help="write here instead of standard output")
    submission = commands.add_parser("kcidb", help="write KernelCI's KCIDB v5 data (JSON) for kcidb-submit")
    submission.add_argument("reports", nargs="+", type=Path, metavar="REPORT")
    submission.add_argument("--origin", type=_origin, default=kcidb.DEFAULT_ORIGIN, metavar="NAME",
                            help="the origin KernelCI agreed with you, the prefix of every id "
                                 f"(default: {kcidb.DEFAULT_ORIGIN})")
    submission.add_argument("-o", "--output", type=Path, help="write here instead of standard output")
    kernels = commands.add_parser("kernels", help="the kernel summary (as python -m kernels prints it)")
    kernels.add_argument("reports", nargs="+", type=Path, metavar="REPORT")
    kernels.add_argument("--markdown", action="store_true", help="as Markdown (summary.md)")
    kernels.add_argument("-o", "--output", type=Path, help="write here instead of standard output")
    compare = commands.add_parser("diff", help="verdict changes between two reports")
    compare.add_argument("base", type=Path)
    compare.add_argument("new", type=Path)
    compare.add_argument("--regressions", type=_verdicts, default=diff.REGRESSIONS, metavar="VERDICT,...",
                         help="what a claim that held (or was observed) may turn into to count as a regression "
                              f"(default: {','.join(diff.REGRESSIONS)})")
    args = parser.parse_args(argv)
    try:
        return _diff(args) if args.command == "diff" else _write(args)
    except ReportError as error:
        print(f"python -m reports: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
