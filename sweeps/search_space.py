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
which makes a draw conditional: above, H_final ~ Cat({H_init, -5} U {-2^i}). Categories are a set, so a
value that appears twice (H_init = -2 and the -2 of -2^1) counts once.

`sample_configs(space, sweep_seed)` draws every sample up front with numpy's Generator seeded by the sweep
seed, so the same seed gives the same list (and a smaller `num_samples` gives a prefix of it).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from tasks import SCHEDULE_FIELDS

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

# NOTES.md: the official sweeper drew configurations from A.2's space and ran each with seeds 1..10
# (it does not say how many configurations; we draw as many as the paper's 20).
OFFICIAL_SPACE: dict[str, Any] = {
    **copy.deepcopy(PAPER_SPACE),
    "name": "official",
    "description": "The official code's sweeper: A.2's space, each configuration trained with seeds 1..10.",
    "seeds": list(range(1, 11)),
}

BUILTIN_SPACES = {"paper": PAPER_SPACE, "official": OFFICIAL_SPACE}
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
    if not isinstance(num_samples, int) or isinstance(num_samples, bool) or num_samples < 1:
        fail(f"num_samples must be a positive integer, got {num_samples!r}")
    seeds = space.get("seeds")
    if seeds != "per_sample" and not (
        isinstance(seeds, list) and seeds and all(isinstance(s, int) and not isinstance(s, bool) for s in seeds)
    ):
        fail(f'seeds must be "per_sample" or a non-empty list of integers, got {seeds!r}')
    if isinstance(seeds, list) and len(set(seeds)) != len(seeds):
        fail(f"seeds must be distinct, got {seeds}")
    params = space.get("params")
    if not isinstance(params, dict) or not params:
        fail("params must be a non-empty mapping of config field -> list of categories")
    for position, (key, categories) in enumerate(params.items()):
        if not isinstance(categories, list) or not categories:
            fail(f"params.{key} must be a non-empty list of categories, got {categories!r}")
        earlier = list(params)[:position]
        for value in categories:
            if isinstance(value, str) and value.startswith("$") and value[1:] not in earlier:
                fail(f"params.{key}: {value!r} must name a parameter listed before {key!r} ({earlier or 'none'})")
            if not isinstance(value, (int, float, str, bool)) and value is not None:
                fail(f"params.{key}: category {value!r} must be a number, string, boolean or null")


def _categories(values: list, drawn: dict[str, Any]) -> list:
    """The categories with "$name" references replaced by drawn values, duplicates removed (a set)."""
    resolved = [drawn[v[1:]] if isinstance(v, str) and v.startswith("$") else v for v in values]
    return list(dict.fromkeys(resolved))


def draw(space: dict[str, Any], num_samples: int, sweep_seed: int) -> list[dict[str, Any]]:
    """`num_samples` draws of the space's params, reproducible from the sweep seed."""
    rng = np.random.default_rng(sweep_seed)
    samples = []
    for _ in range(num_samples):
        drawn: dict[str, Any] = {}
        for key, values in space["params"].items():
            options = _categories(values, drawn)
            drawn[key] = options[int(rng.integers(len(options)))]
        samples.append(drawn)
    return samples


def sample_configs(
    space: dict[str, Any], sweep_seed: int, num_samples: int | None = None, max_seeds: int | None = None
) -> list[dict[str, Any]]:
    """The sweep's trials: one dict of config fields (params + `seed`) per trial, in trial order.

    `num_samples` / `max_seeds` (from the budget) shrink the space's own counts."""
    num_samples = num_samples or space["num_samples"]
    samples = draw(space, num_samples, sweep_seed)
    if space["seeds"] == "per_sample":
        return [{**sample, "seed": index + 1} for index, sample in enumerate(samples)]
    seeds = space["seeds"][:max_seeds] if max_seeds else space["seeds"]
    return [{**sample, "seed": seed} for sample in samples for seed in seeds]
