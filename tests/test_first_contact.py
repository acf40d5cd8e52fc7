"""What a new user tripped over (issue 39): each cut as the user met it, on the command line."""

from __future__ import annotations

import pytest

from lmc_rl.cli import main


@pytest.mark.parametrize(
    "argv",
    [
        # the bad --env makes today's prefix-matched run stop at once, before any training
        ["run", "--total_step", "2000", "--env", "NoSuchEnv-v9"],
        ["sweep", "--seeds", "1", "--total_step", "2000", "--env", "NoSuchEnv-v9"],
        ["evaluate", "--results_dir", "x", "--alpha_point", "3"],
        ["connect", "a.pt", "b.pt", "--alpha_point", "3"],
    ],
)
def test_a_flag_prefix_is_not_taken_for_the_flag(tmp_path, capsys, argv):
    code = main(
        [*argv, "--output_dir", str(tmp_path / "out")] if argv[0] in ("run", "sweep") else argv
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    flag = next(a for a in argv if a in ("--total_step", "--alpha_point"))
    assert f"unrecognized arguments: {flag} (did you mean" in err
    assert not (tmp_path / "out").exists()


def test_the_did_you_mean_line_does_not_print_the_value_after_the_hint(capsys):
    assert main(["run", "--totl_steps", "2000"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("(did you mean '--total_steps'?)")
    assert "2000" not in err
