"""python -m reports: turn run reports into a matrix, a web page, a Markdown summary, a diff, JUnit XML.

  merge RUN.json... [-o OUT]      one matrix (claims x kernel/filesystem cells) from any runs or matrices
  html REPORT... [-o OUT]         a self-contained HTML page of the matrix
  markdown REPORT... [-o OUT]     a compact Markdown summary
  junit REPORT... [-o OUT]        JUnit XML, one testcase per claim per cell
  diff BASE NEW                   verdict changes; exit 1 when a claim that held is refuted
  kernels REPORT... [--markdown]  the kernel summary: how each kernel ran, where kernels differ (python -m kernels)

Every REPORT may be a run report (reports/out/*.json) or a merged matrix.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from reports import diff, html, junit, kernel_summary, markdown
from reports.matrix import ReportError, load, merge


def _matrix(paths: list[Path]) -> dict:
    return merge([load(p) for p in paths])


def _emit(text: str, out: Path | None) -> None:
    if out is None:
        sys.stdout.write(text)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(f"wrote {out}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reports", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n", 2)[2])
    commands = parser.add_subparsers(dest="command", required=True)
    for name, what in (("merge", "merged matrix (JSON)"), ("html", "HTML page"),
                       ("markdown", "Markdown summary"), ("junit", "JUnit XML")):
        command = commands.add_parser(name, help=f"write the {what}")
        command.add_argument("reports", nargs="+", type=Path, metavar="REPORT")
        command.add_argument("-o", "--output", type=Path, help="write here instead of standard output")
    kernels = commands.add_parser("kernels", help="the kernel summary (as python -m kernels prints it)")
    kernels.add_argument("reports", nargs="+", type=Path, metavar="REPORT")
    kernels.add_argument("--markdown", action="store_true", help="as Markdown (summary.md)")
    kernels.add_argument("-o", "--output", type=Path, help="write here instead of standard output")
    compare = commands.add_parser("diff", help="verdict changes between two reports")
    compare.add_argument("base", type=Path)
    compare.add_argument("new", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.command == "diff":
            base, new = load(args.base), load(args.new)
            found = diff.changes(base, new)
            print("\n".join(diff.render(found, diff.pair_columns(base, new))))
            return 1 if any(c["regression"] for c in found) else 0
        matrix = _matrix(args.reports)
    except ReportError as error:
        print(f"python -m reports: {error}", file=sys.stderr)
        return 2
    color = args.output is None and sys.stdout.isatty()
    render = {
        "merge": lambda m: json.dumps(m, indent=1) + "\n",
        "html": html.render,
        "markdown": markdown.render,
        "junit": junit.render,
        "kernels": lambda m: (kernel_summary.markdown(m) if args.markdown
                              else "\n".join(kernel_summary.lines(m, color=color)) + "\n"),
    }[args.command]
    _emit(render(matrix), args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
