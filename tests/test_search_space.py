"""Appendix A.2's search space: draws stay in the space (conditional H_final included), are reproducible
from the sweep seed, and malformed user spaces fail with clear messages."""

import dataclasses
import json

import pytest

from sweeps import search_space as ss
from tasks import TASKS
from tests.conftest import REPO

INIT = {1, 0, -1, -2}
POWERS = {-(2**i) for i in range(7)}  # -1 .. -64
BETAS = {2**i for i in range(7)}  # 1 .. 64


def test_paper_space_draws_follow_appendix_a2():
    trials = ss.sample_configs(ss.load_space("paper"), sweep_seed=0, num_samples=400)
    assert len(trials) == 400
    for trial in trials:
        assert trial["target_entropy_init"] in INIT
        assert trial["target_entropy_final"] in {trial["target_entropy_init"], -5} | POWERS
        assert trial["target_entropy_beta"] in BETAS
    # Each sample its own seed; with enough draws every category shows up, including H_final = H_init = 1
    # and 0, which only the conditional category can produce.
    assert [t["seed"] for t in trials] == list(range(1, 401))
    assert {t["target_entropy_init"] for t in trials} == INIT
    assert {t["target_entropy_beta"] for t in trials} == BETAS
    assert {t["target_entropy_final"] for t in trials} == {1, 0, -5} | POWERS
    assert all(t["target_entropy_init"] == t["target_entropy_final"]
               for t in trials if t["target_entropy_final"] in (1, 0))


def test_conditional_category_is_a_set():
    """H_init = -2 is also -2^1: H_final then has 8 equally likely values, not 9."""
    options = ss._categories(ss.PAPER_SPACE["params"]["target_entropy_final"], {"target_entropy_init": -2})
    assert sorted(options) == sorted({-5} | POWERS) and len(options) == 8
    options = ss._categories(ss.PAPER_SPACE["params"]["target_entropy_final"], {"target_entropy_init": 0})
    assert sorted(options) == sorted({0, -5} | POWERS)


def test_paper_space_has_twenty_samples_with_native_types():
    trials = ss.sample_configs(ss.load_space("paper"), sweep_seed=3)
    assert len(trials) == 20
    json.dumps(trials)  # plain ints, no numpy scalars (they go into params.json and sweep.json)
    assert all(type(v) is int for trial in trials for v in trial.values())


def test_same_seed_same_samples_different_seed_different():
    space = ss.load_space("paper")
    assert ss.sample_configs(space, 7) == ss.sample_configs(space, 7)
    assert ss.sample_configs(space, 7) != ss.sample_configs(space, 8)
    # A smaller budget draws a prefix of the same sequence.
    assert ss.sample_configs(space, 7, num_samples=3) == ss.sample_configs(space, 7)[:3]


# The official sweeper as docs/official-code.md describes it, written here from that page (official horizon
# h -> H = h - 1 model steps, h = 0 is SAC: H = 0), not from search_space.py.
OFFICIAL_H = {"poplin": {h - 1 if h else 0 for h in (0, 2, 3, 4, 5, 6, 11)},
              "mbpo": {h - 1 if h else 0 for h in (0, 2, 3, 4)}}
OFFICIAL_BETAS = {2.0**-i for i in range(1, 7)} | {2**i for i in range(7)}


def official_finals(init: int) -> set:
    return set(range(init, -5, -1)) | {-8, -16, -32}


def test_official_space_runs_50_configurations_each_with_seeds_1_to_10():
    trials = ss.sample_configs(ss.load_space("official"), sweep_seed=0, suite="mbpo")
    assert len(trials) == 50 * 10
    by_config = {}
    for trial in trials:
        key = tuple(trial[k] for k in ("horizon", *ss.TARGET_ENTROPY_KEYS))
        by_config.setdefault(key, []).append(trial["seed"])
    assert all(sorted(seeds) == list(range(1, 11)) for seeds in by_config.values())
    # The budget caps the seed list.
    capped = ss.sample_configs(ss.load_space("official"), 0, 2, max_seeds=2, suite="mbpo")
    assert [t["seed"] for t in capped] == [1, 2, 1, 2]


@pytest.mark.parametrize("suite", ["poplin", "mbpo"])
def test_official_space_draws_lie_in_the_official_sets_and_cover_them(suite):
    draws = ss.draw(ss.load_space("official"), 4000, sweep_seed=1, suite=suite)
    for d in draws:
        assert d["horizon"] in OFFICIAL_H[suite]
        assert d["target_entropy_init"] in INIT
        assert d["target_entropy_final"] in official_finals(d["target_entropy_init"])
        assert d["target_entropy_beta"] in OFFICIAL_BETAS
    assert {d["horizon"] for d in draws} == OFFICIAL_H[suite]
    assert {d["target_entropy_init"] for d in draws} == INIT
    assert {d["target_entropy_beta"] for d in draws} == OFFICIAL_BETAS
    for init in INIT:  # every H_final the official sweeper allows after each H_init
        assert {d["target_entropy_final"] for d in draws if d["target_entropy_init"] == init} == official_finals(init)


def test_range_reference_counts_each_value_once():
    options = ss._categories(ss.OFFICIAL_SPACE["params"]["target_entropy_final"], {"target_entropy_init": -2})
    assert options == [-2, -3, -4, -8, -16, -32]


def test_a_space_without_the_tasks_suite_fails_clearly():
    space = ss.load_space("official")
    del space["params"]["horizon"]["mbpo"]
    with pytest.raises(ss.SearchSpaceError, match="params.horizon has no categories for the 'mbpo' suite"):
        ss.sample_configs(space, 0, suite="mbpo")


def coverage(schedules: str) -> dict[str, dict[str, bool]]:
    """Per task: can each built-in space draw the task's schedule from `schedules` (table4 or official)?
    A constant schedule (H_init = H_final, beta None or any) needs no particular beta: eq. 14 ignores it."""
    rows = {}
    for task in TASKS.values():
        fields = dataclasses.asdict(task.schedule_for(schedules))
        if fields["target_entropy_init"] == fields["target_entropy_final"]:
            del fields["target_entropy_beta"]
        rows[task.name] = {name: ss.can_produce(ss.load_space(name), fields, task.suite)
                           for name in ("paper", "official")}
    return rows


def documented_coverage(heading: str) -> dict[str, dict[str, bool]]:
    """The table under `heading` in docs/sweeps.md: | Task | schedule | paper | official |."""
    text = (REPO / "docs" / "sweeps.md").read_text()
    lines = text[text.index(heading):].splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("|"))
    rows = {}
    for line in lines[first + 2:]:  # after the header and separator rows
        if not line.startswith("|"):
            break
        task, _, paper, official = (cell.strip(" `") for cell in line.strip("|").split("|"))
        rows[task] = {"paper": paper == "yes", "official": official == "yes"}
    return rows


@pytest.mark.parametrize("schedules, heading", [("table4", "Table 4's schedules"),
                                                ("official", "The official schedules")])
def test_docs_say_which_schedules_each_space_can_produce(schedules, heading):
    assert documented_coverage(heading) == coverage(schedules)


def test_paper_space_cannot_produce_table4_betas_below_one_nor_h_init_4():
    table4 = coverage("table4")
    assert not table4["poplin-walker2d"]["paper"] and not table4["poplin-walker2d"]["official"]  # H_init = 4
    assert not table4["poplin-swimmer"]["paper"] and table4["poplin-swimmer"]["official"]  # beta = 0.5
    assert not table4["poplin-cheetah"]["official"]  # beta = 0.1 is no power of 2


def test_user_space_from_yaml_expresses_table4_betas(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(
        "num_samples: 5\n"
        "params:\n"
        "  target_entropy_init: [4, 0]\n"
        "  target_entropy_final: ['$target_entropy_init', -8, -3]\n"
        "  target_entropy_beta: [0.5, 0.1]\n"
    )
    space = ss.load_space(str(path))
    assert space["name"] == "mine"
    trials = ss.sample_configs(space, 0)
    assert len(trials) == 5
    assert all(t["target_entropy_beta"] in (0.5, 0.1) for t in trials)
    assert all(t["target_entropy_final"] in (t["target_entropy_init"], -8, -3) for t in trials)


def test_user_space_from_json(tmp_path):
    path = tmp_path / "space.json"
    path.write_text(json.dumps({"num_samples": 2, "seeds": [1, 2, 3],
                                "params": {"target_entropy_beta": [0.5]}}))
    trials = ss.sample_configs(ss.load_space(str(path)), 0)
    assert trials == [{"target_entropy_beta": 0.5, "seed": s} for s in (1, 2, 3)] * 2


@pytest.mark.parametrize("text, message", [
    ("{not json", "cannot parse"),
    ('{"params": {"target_entropy_init": []}}', "non-empty list"),
    ('{"params": {}}', "params must be a non-empty mapping"),
    ('{"params": {"target_entropy_init": [0]}, "sample_count": 3}', "unknown keys ['sample_count']"),
    ('{"params": {"target_entropy_final": ["$target_entropy_init"]}}', "must name a parameter listed before"),
    ('{"params": {"target_entropy_init": [0]}, "num_samples": 0}', "num_samples must be an integer from 1 to 10,000"),
    ('{"params": {"target_entropy_init": [0]}, "seeds": []}', "seeds must be"),
    ('{"params": {"target_entropy_init": [[0]]}}', "must be a number"),
    ('{"params": {"target_entropy_init": [0], "target_entropy_final": ["$target_entropy_init..x"]}}',
     "after '..' comes the integer the range ends at"),
    ('{"params": {"horizon": {"atari": [1]}}}', "params.horizon: unknown suites ['atari']"),
    ('{"params": {"horizon": {"mbpo": []}}}', "params.horizon.mbpo must be a non-empty list"),
])
def test_malformed_spaces_fail_clearly(tmp_path, text, message):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(ss.SearchSpaceError) as error:
        ss.load_space(str(path))
    assert message in str(error.value)
    assert str(path) in str(error.value)


def test_unknown_space_name():
    with pytest.raises(ss.SearchSpaceError, match="built-in space"):
        ss.load_space("papr")
