"""The documentation's example of running an experiment from Python runs as printed."""

import re
from pathlib import Path

from lmc_rl.measuring.barrier_stats import VERDICTS

API_PAGE = Path(__file__).resolve().parents[1] / "docs" / "api.md"
SECTION = "## Run an experiment and read its verdicts"


def _example_code() -> str:
    page = API_PAGE.read_text()
    section = page[page.index(SECTION) :]
    return re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)


def test_the_api_pages_example_runs_an_experiment_and_reads_its_verdicts(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)  # the example writes its run under "."
    namespace: dict = {}
    exec(compile(_example_code(), str(API_PAGE), "exec"), namespace)
    forks = namespace["forks"]
    assert list(forks["fork_point"]) == [0.5]
    assert set(forks["verdict"]) <= set(VERDICTS)
    assert (tmp_path / namespace["paths"].results / "config.json").is_file()
    printed = capsys.readouterr().out
    assert "verdict" in printed and forks["verdict"].iloc[0] in printed
