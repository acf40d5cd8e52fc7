"""--fork_noise is parsed once into a set of sources; config.json, help texts and sweep names
write it the way users and older run folders do."""

import json

import pytest

from lmc_rl.config.errors import UserError
from lmc_rl.config.flags import format_default
from lmc_rl.config.fork_noise import NOISE_SOURCES, ForkNoise
from lmc_rl.config.run_config import RunConfig, build_config
from lmc_rl.sweep.grid import cell_name


@pytest.mark.parametrize(
    ("written", "sources"),
    [
        ("all", set(NOISE_SOURCES)),
        ("none", set()),
        ("batch, env", {"env", "batch"}),
        ("env,action,batch", set(NOISE_SOURCES)),
        (["action"], {"action"}),  # a YAML list
        (None, set()),  # an empty YAML value
    ],
)
def test_every_way_of_writing_it_gives_one_set_of_sources(written, sources):
    noise = ForkNoise.parse(written)
    assert noise.sources == sources
    assert all((s in noise) == (s in sources) for s in NOISE_SOURCES)
    assert ForkNoise.parse(str(noise)) == noise  # the stored text reads back the same


def test_config_json_holds_the_comma_list_and_an_old_record_loads_to_the_same_value(tiny_run):
    config = build_config({**tiny_run, "fork_noise": "batch,env"})
    assert config.fork_noise == ForkNoise(frozenset({"env", "batch"}))
    stored = json.loads(json.dumps(config.to_dict()))
    assert stored["fork_noise"] == "env,batch"
    assert build_config(stored) == config
    old = build_config({**tiny_run, "fork_noise": "env,action,batch"})  # what runs have stored
    assert old.fork_noise == build_config(tiny_run).fork_noise == RunConfig().fork_noise
    assert str(old.fork_noise) == "env,action,batch"


def test_it_reads_as_the_user_wrote_it_in_help_sweep_names_and_messages(tiny_run):
    field = RunConfig.__dataclass_fields__["fork_noise"]
    assert format_default(field) == "all"
    names = {
        written: cell_name(build_config({**tiny_run, "seed": "1", "fork_noise": written}), [])
        for written in ("all", "none", "action,env")
    }
    assert names["all"].endswith("noise-all") and names["none"].endswith("noise-none")
    assert names["action,env"].endswith("noise-env+action")
    assert repr(ForkNoise.parse("action,env")) == "'env,action'"


@pytest.mark.parametrize("written", ["bogus", "all,env", "", " , "])
def test_a_bad_value_is_one_line_naming_the_flag(written):
    with pytest.raises(UserError, match="--fork_noise") as err:
        ForkNoise.parse(written)
    assert "\n" not in str(err.value)
