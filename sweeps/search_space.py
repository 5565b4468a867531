"""Appendix A.2's random search over the target-entropy schedule (eq. 14), as data.

A search space is a plain dict (or a JSON/YAML file with the same shape):

    name: paper
    num_samples: 20             # configurations drawn
    seeds: per_sample           # "per_sample": sample i runs once with seed i + 1;
                                # a list [1, ..., 10]: every sample runs once per seed
    params:                     # algorithm config field -> categories, drawn uniformly in this order
      target_entropy_init: [1, 0, -1, -2]
      target_entropy_final: ["$target_entropy_init", -5, -1, -2, -4, -8, -16, -32, -64]
      target_entropy_beta: [1, 2, 4, 8, 16, 32, 64]

A category written "$name" stands for the value already drawn for the parameter `name` (listed earlier),
which makes a draw conditional: above, H_final ~ Cat({H_init, -5} U {-2^i}). "$name..N" stands for every
integer step from that value to N: the official sweeper's H_final ~ Cat({H_init, H_init - 1, ..., -4} U
{-8, -16, -32}) is ["$target_entropy_init..-4", -8, -16, -32]. Categories are a set, so a value that
appears twice (H_init = -2 and the -2 of -2^1) counts once.

A parameter whose categories depend on the task's suite maps each suite to its list:

      horizon: {poplin: [0, 1, 2, 3, 4, 5, 10], mbpo: [0, 1, 2, 3]}

`sample_configs(space, sweep_seed, suite=...)` draws every sample up front with numpy's Generator seeded by
the sweep seed, so the same seed gives the same list (and a smaller `num_samples` gives a prefix of it).
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from tasks import SCHEDULE_FIELDS, SUITES

TARGET_ENTROPY_KEYS = SCHEDULE_FIELDS  # eq. 14's parameters, named as the config fields

# Appendix A.2: 20 samples, each with its own seed.
PAPER_SPACE: dict[str, Any] = {
    "name": "paper",
    "description": "Appendix A.2: 20 samples, each trained once with its own seed.",
    "num_samples": 20,
    "seeds": "per_sample",
    "params": {
        "target_entropy_init": [1, 0, -1, -2],
        "target_entropy_final": ["$target_entropy_init", -5] + [-(2**i) for i in range(7)],
        "target_entropy_beta": [2**i for i in range(7)],
    },
}

# The official sweeper (docs/official-code.md, "The sweeper"). 50 configurations per task, each trained with seeds
# 1..10. H in model steps (the official horizon h is H = h - 1 model steps; h = 0 is SAC, H = 0): POPLIN
# tasks h ~ Cat{0, 2, 3, 4, 5, 6, 11}, MBPO tasks h ~ Cat{0, 2, 3, 4}.
OFFICIAL_SPACE: dict[str, Any] = {
    "name": "official",
    "description": "The official code's sweeper: 50 configurations, each trained with seeds 1..10; H from the "
                   "suite's set; beta also below 1.",
    "num_samples": 50,
    "seeds": list(range(1, 11)),
    "params": {
        "horizon": {"poplin": [0, 1, 2, 3, 4, 5, 10], "mbpo": [0, 1, 2, 3]},
        "target_entropy_init": [1, 0, -1, -2],
        "target_entropy_final": ["$target_entropy_init..-4", -8, -16, -32],
        "target_entropy_beta": [2.0**i for i in range(-6, 0)] + [2**i for i in range(7)],
    },
}

BUILTIN_SPACES = {"paper": PAPER_SPACE, "official": OFFICIAL_SPACE}
# Bounds on what a space (or the command line) may ask for. Seeds: numpy's legacy seeding, which RLlib calls
# with each trial's seed, takes 32 bits, and RLlib adds each env runner's index, so 31 bits leave room.
MAX_SEED = 2**31 - 1
MAX_TRIALS = 10_000  # a sweep's trials (samples x seeds): the official sweeper's largest is 50 x 10
MAX_CATEGORIES = 1_000  # one parameter's categories, "$name..N" ranges expanded
_SPACE_KEYS = {"name", "description", "num_samples", "seeds", "params"}


class SearchSpaceError(ValueError):
    pass


def load_space(spec: str) -> dict[str, Any]:
    """A built-in space by name ("paper", "official") or a user-given space from a .json/.yaml file."""
    if spec in BUILTIN_SPACES:
        return copy.deepcopy(BUILTIN_SPACES[spec])
    path = Path(spec)
    if not path.is_file():
        raise SearchSpaceError(
            f"Search space {spec!r} is neither a built-in space ({', '.join(BUILTIN_SPACES)}) nor a file."
        )
    try:
        text = path.read_text()
        raw = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError, UnicodeDecodeError) as error:
        raise SearchSpaceError(f"Search space file {spec}: cannot parse it: {error}") from error
    raw = raw if isinstance(raw, dict) else {"params": raw}
    space = {"name": path.stem, "num_samples": PAPER_SPACE["num_samples"], "seeds": "per_sample", **raw}
    validate_space(space, source=f"search space file {spec}")
    return space


def validate_space(space: dict[str, Any], source: str = "search space") -> None:
    """Raise SearchSpaceError naming the problem: unknown keys, empty or malformed categories, bad refs."""

    def fail(message: str):
        raise SearchSpaceError(f"{source}: {message}")

    if not isinstance(space, dict):
        fail("must be a mapping with keys " + ", ".join(sorted(_SPACE_KEYS)))
    unknown = set(space) - _SPACE_KEYS
    if unknown:
        fail(f"unknown keys {sorted(unknown)}; allowed: {sorted(_SPACE_KEYS)}")
    num_samples = space.get("num_samples")
    if not isinstance(num_samples, int) or isinstance(num_samples, bool) or not 1 <= num_samples <= MAX_TRIALS:
        fail(f"num_samples must be an integer from 1 to {MAX_TRIALS:,}, got {num_samples!r}")
    seeds = space.get("seeds")
    if seeds != "per_sample" and not (
        isinstance(seeds, list) and seeds and all(isinstance(s, int) and not isinstance(s, bool) for s in seeds)
    ):
        fail(f'seeds must be "per_sample" or a non-empty list of integers, got {seeds!r}')
    if isinstance(seeds, list) and len(set(seeds)) != len(seeds):
        fail(f"seeds must be distinct, got {seeds}")
    if isinstance(seeds, list) and not all(0 <= s <= MAX_SEED for s in seeds):
        fail(f"seeds must be integers from 0 to {MAX_SEED:,}, got {[s for s in seeds if not 0 <= s <= MAX_SEED]}")
    params = space.get("params")
    if not isinstance(params, dict) or not params:
        fail("params must be a non-empty mapping of config field -> list of categories")
    for position, (key, categories) in enumerate(params.items()):
        per_suite = categories if isinstance(categories, dict) else {None: categories}
        unknown_suites = set(per_suite) - {None, *SUITES}
        if unknown_suites:
            fail(f"params.{key}: unknown suites {sorted(unknown_suites)}; suites are {', '.join(SUITES)}")
        for suite, values in per_suite.items():
            where = f"params.{key}" + (f".{suite}" if suite else "")
            if not isinstance(values, list) or not values:
                fail(f"{where} must be a non-empty list of categories (or a mapping suite -> list), got {values!r}")
            _validate_categories(values, list(params)[:position], key, where, fail)


def _validate_categories(values: list, earlier: list[str], key: str, where: str, fail) -> None:
    for value in values:
        if isinstance(value, str) and value.startswith("$"):
            name, dots, stop = value[1:].partition("..")
            if name not in earlier:
                fail(f"{where}: {value!r} must name a parameter listed before {key!r} ({earlier or 'none'})")
            if dots and not _is_integer_text(stop):
                fail(f"{where}: {value!r}: after '..' comes the integer the range ends at, e.g. '${name}..-4'")
        if not isinstance(value, (int, float, str, bool)) and value is not None:
            fail(f"{where}: category {value!r} must be a number, string, boolean or null")
        if isinstance(value, float) and not math.isfinite(value):
            fail(f"{where}: category {value!r} is not a finite number")
    if len(values) > MAX_CATEGORIES:
        fail(f"{where}: {len(values):,} categories; at most {MAX_CATEGORIES:,}")


def _is_integer_text(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def _categories(values: list, drawn: dict[str, Any], key: str = "") -> list:
    """The categories of parameter `key` with "$name" and "$name..N" references replaced by drawn values,
    duplicates removed (a set)."""
    resolved = []
    for value in values:
        if isinstance(value, str) and value.startswith("$"):
            name, _, stop = value[1:].partition("..")
            resolved += _steps(drawn[name], int(stop), f"params.{key}: {value!r}") if stop else [drawn[name]]
        else:
            resolved.append(value)
    return list(dict.fromkeys(resolved))


def _steps(start, stop: int, where: str) -> list:
    """start, start -+ 1, ..., stop (toward stop, both included); SearchSpaceError naming `where` when that
    is not a range of at most MAX_CATEGORIES numbers."""
    if isinstance(start, bool) or not isinstance(start, (int, float)) or not math.isfinite(start):
        raise SearchSpaceError(f"search space {where}: a range starts at a number, the drawn value is {start!r}")
    if abs(stop - start) >= MAX_CATEGORIES:
        raise SearchSpaceError(f"search space {where}: from {start!r} to {stop} is more than {MAX_CATEGORIES:,} "
                               "categories: bring the range's ends closer")
    step = 1 if stop >= start else -1
    return [start + step * i for i in range(int(abs(stop - start)) + 1)]


def suite_params(space: dict[str, Any], suite: str | None) -> dict[str, list]:
    """The space's params for the task's suite: a per-suite mapping becomes that suite's list."""
    params = {}
    for key, categories in space["params"].items():
        if isinstance(categories, dict):
            if suite not in categories:
                raise SearchSpaceError(f"search space {space.get('name')}: params.{key} has no categories for "
                                       f"the {suite!r} suite (it has {', '.join(categories)})")
            categories = categories[suite]
        params[key] = categories
    return params


def draw(space: dict[str, Any], num_samples: int, sweep_seed: int, suite: str | None = None) -> list[dict[str, Any]]:
    """`num_samples` draws of the space's params (for the task's suite), reproducible from the sweep seed."""
    rng = np.random.default_rng(sweep_seed)
    params = suite_params(space, suite)
    samples = []
    for _ in range(num_samples):
        drawn: dict[str, Any] = {}
        for key, values in params.items():
            options = _categories(values, drawn, key)
            drawn[key] = options[int(rng.integers(len(options)))]
        samples.append(drawn)
    return samples


def sample_configs(
    space: dict[str, Any], sweep_seed: int, num_samples: int | None = None, max_seeds: int | None = None,
    suite: str | None = None,
) -> list[dict[str, Any]]:
    """The sweep's trials for a task of `suite`: one dict of config fields (params + `seed`) per trial, in
    trial order. `num_samples` / `max_seeds` (from the budget) shrink the space's own counts."""
    num_samples = num_samples or space["num_samples"]
    samples = draw(space, num_samples, sweep_seed, suite)
    if space["seeds"] == "per_sample":
        return [{**sample, "seed": index + 1} for index, sample in enumerate(samples)]
    seeds = space["seeds"][:max_seeds] if max_seeds else space["seeds"]
    return [{**sample, "seed": seed} for sample in samples for seed in seeds]


def can_produce(space: dict[str, Any], fields: dict[str, Any], suite: str | None = None) -> bool:
    """Whether some draw of the space gives `fields` (a subset of its params; the others are free), e.g.
    whether the space can find one of Table 4's schedules."""
    params = suite_params(space, suite)
    for key, value in fields.items():
        if key not in params or value not in _categories(params[key], fields, key):
            return False
    return True
