"""MkDocs hook: the CLI reference rendered from ``lmc_rl.cli.build_parser()`` at build time.

A page that holds the line ``<!-- cli-reference -->`` gets, in its place, ``lmc-rl --help`` and
every subcommand's ``--help`` exactly as the installed parser prints them, so the reference
cannot drift from the code. Importing the parser imports no torch (see lmc_rl/cli.py).
"""

from __future__ import annotations

import argparse
import os

MARKER = "<!-- cli-reference -->"
HELP_WIDTH = "90"  # argparse wraps to $COLUMNS; fixed so the page is the same on every machine


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _help_of(parser: argparse.ArgumentParser) -> str:
    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = HELP_WIDTH
    try:
        return parser.format_help().rstrip()
    finally:
        if previous is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = previous


def render_reference() -> str:
    """Markdown: the top-level help, then one section per subcommand in the parser's order."""
    from lmc_rl.cli import build_parser

    parser = build_parser()
    parts = ["## `lmc-rl`", "", "```text", _help_of(parser), "```", ""]
    for name, sub in _subcommands(parser).items():
        parts += [f"## `lmc-rl {name}`", "", "```text", _help_of(sub), "```", ""]
    return "\n".join(parts)


def on_page_markdown(markdown: str, page, config, files) -> str:
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, render_reference())
