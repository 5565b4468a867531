"""The one place that turns a task, a budget and command-line overrides into a SACSVGConfig.

Layers, later ones win: the algorithm's defaults (Table 3, H = 2) < the budget < the task's length,
evaluation interval and Table 4 schedule < the trial's schedule and seed (a sweep sample) < `--set`.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Mapping
from typing import Any

import yaml

from sweeps.budgets import Budget
from tasks import EntropySchedule, Task, rllib_env_id


class OverrideError(ValueError):
    pass


class _NewStackNotice(logging.Filter):
    """Drops RLlib's notice that an algorithm runs on its new API stack: SAC-SVG exists only there."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "on the new API stack!" not in record.getMessage()


logging.getLogger("ray.rllib.algorithms.algorithm_config").addFilter(_NewStackNotice())


def _algorithm_config_class():
    from algorithms.sac_svg import SACSVGConfig

    return SACSVGConfig


def config_fields() -> dict[str, Any]:
    """Every settable field of the algorithm config, with its default value."""
    defaults = _algorithm_config_class()().to_dict()
    return {key: value for key, value in defaults.items() if not key.startswith("_")}


def schedule_fields(schedule: EntropySchedule) -> dict[str, Any]:
    """Eq. 14's parameters as config fields."""
    return dataclasses.asdict(schedule)


def build_config(
    task: Task,
    budget: Budget,
    overrides: Mapping[str, Any] | None = None,
    seed: int = 1,
    schedule: Mapping[str, Any] | EntropySchedule | None = None,
):
    """The SACSVGConfig of one trial. `schedule` (eq. 14's fields, or any other config fields a search
    space draws) defaults to the task's Table 4 schedule."""
    if isinstance(schedule, EntropySchedule) or schedule is None:
        schedule = schedule_fields(schedule or task.schedule)
    config = _algorithm_config_class()().environment(env=rllib_env_id(task))
    for method, kwargs in budget.rllib.items():
        getattr(config, method)(**kwargs)
    config.training(
        total_env_steps=min(budget.train_steps or task.train_steps, task.train_steps),
        eval_interval_steps=budget.eval_interval or task.eval_interval,
        checkpoint_every_s=budget.checkpoint_every_s,
    )
    config.update_from_dict({**schedule, **(overrides or {})})
    config.debugging(seed=seed)
    # `training()` derives RLlib's own iteration/evaluation settings from ours: re-run it after
    # update_from_dict, which sets attributes directly.
    return config.training()


def parse_overrides(items: Iterable[str], fields: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """`["horizon=3", "actor_lr=3e-4"]` -> `{"horizon": 3, "actor_lr": 0.0003}`, typed like each field's
    default. Raises OverrideError naming the key on a malformed item, an unknown field or a bad value."""
    fields = config_fields() if fields is None else fields
    overrides = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise OverrideError(f"--set {item!r}: expected key=value, e.g. --set horizon=3")
        if key not in fields:
            raise OverrideError(f"--set {item!r}: unknown config field {key!r}.{_did_you_mean(key, fields)}")
        overrides[key] = parse_value(key, text.strip(), fields[key])
    return overrides


def parse_value(key: str, text: str, default: Any) -> Any:
    """`text` as the type of `default` (bool, int, float, str, list, dict); any YAML scalar when the
    default is None (the algorithm's validate() checks those); a resource amount (a number, or a word RLlib
    allows such as "auto") for RLlib's resource fields, whose defaults (0, "auto") do not tell the type."""
    from sweeps.placement import RESOURCE_FIELDS

    if key in RESOURCE_FIELDS:
        return _resource_amount(key, text)
    kind = type(default)
    if default is None or text.lower() in ("none", "null"):
        return yaml.safe_load(text)
    try:
        if kind is bool:
            return {"true": True, "false": False, "1": True, "0": False}[text.lower()]
        if kind is int:
            number = float(text)
            if not number.is_integer():
                raise ValueError
            return int(number)
        if kind is float:
            return float(text)
        if kind is str:
            return text
        value = yaml.safe_load(text)
        if isinstance(value, kind):
            return value
    except (ValueError, KeyError, yaml.YAMLError):
        pass
    raise OverrideError(f"--set {key}={text}: {key} takes {kind.__name__} values (default {default!r}), got {text!r}")


def _resource_amount(key: str, text: str) -> int | float | str:
    """"0.25" -> 0.25, "2" -> 2, "auto" -> "auto" (where RLlib allows it); a clear OverrideError otherwise."""
    from sweeps.placement import RESOURCE_FIELDS, resource_error

    try:
        number = float(text)
        value = int(number) if number.is_integer() else number
    except ValueError:
        value = text
    error = resource_error(key, value, RESOURCE_FIELDS[key])
    if error:
        raise OverrideError(f"--set {error}")
    return value


def _did_you_mean(key: str, fields: Iterable[str]) -> str:
    import difflib

    close = difflib.get_close_matches(key, list(fields), n=3)
    return f" Did you mean {' or '.join(close)}?" if close else ""
