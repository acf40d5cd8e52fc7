"""The README stays short, installs as CI installs, and links only to files that exist."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
CI = (ROOT / ".ci" / "run").read_text()
MAX_LINES = 200


def _block_after(heading: str) -> str:
    section = README[README.index(heading) :]
    return re.search(r"```bash\n(.*?)```", section, re.DOTALL).group(1).strip()


def test_the_readme_fits_on_a_few_screens():
    assert len(README.splitlines()) <= MAX_LINES


def test_the_readmes_set_up_and_test_commands_are_what_ci_runs():
    set_up = _block_after("## Install")
    steps = [step.strip() for step in set_up.split("&&")]
    ci_lines = [line.strip() for line in CI.splitlines()]
    assert steps == ["python3 -m venv .venv", ". .venv/bin/activate", steps[2]]
    for step in steps:
        assert step in ci_lines, step
    assert _block_after("## Tests") == "pytest" and "pytest" in ci_lines


def test_every_relative_link_of_the_readme_exists():
    targets = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", README)
    local = [t for t in targets if "://" not in t]
    assert local, "the README links into the docs"
    missing = [t for t in local if not (ROOT / t).exists()]
    assert not missing
