"""The one place that turns a task, a budget and command-line overrides into a SACSVGConfig.

Layers, later ones win: the algorithm's defaults (Table 3, H = 2) < the budget < the task's length,
evaluation interval and Table 4 schedule < the trial's schedule and seed (a sweep sample) < `--set`.
"""

from __future__ import annotations

import dataclasses
import logging
import typing
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
    from sweeps.eval_video import with_eval_video

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
    return with_eval_video(config.debugging(seed=seed))


def parse_overrides(items: Iterable[str], fields: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """`["horizon=3", "actor_lr=3e-4"]` -> `{"horizon": 3, "actor_lr": 0.0003}`, typed by each SAC-SVG field's
    annotation (RLlib's own fields, which have none, like their default). Raises OverrideError naming the key on
    a malformed item, an unknown field or a bad value."""
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
    """`text` as the SAC-SVG field's annotation says (`parse_field`); for RLlib's own fields as the type of
    `default` (bool, int, float, str, list, dict), any YAML scalar when the default is None, and a resource
    amount (a number, or a word RLlib allows such as "auto") for RLlib's resource fields, whose defaults
    (0, "auto") do not tell the type."""
    from algorithms.sac_svg.config import SVG_FIELDS
    from sweeps.placement import RESOURCE_FIELDS

    if key in SVG_FIELDS:
        return parse_field(key, text, SVG_FIELDS[key].type)
    if key in RESOURCE_FIELDS:
        return _resource_amount(key, text)
    kind = type(default)
    if default is None or text.lower() in ("none", "null"):
        return yaml.safe_load(text)
    if kind in (bool, int, float, str):
        value = _scalar(text, kind)
        if value is not None:
            return value
    else:
        try:
            value = yaml.safe_load(text)
            if isinstance(value, kind):
                return value
        except yaml.YAMLError:
            pass
    raise OverrideError(f"--set {key}={text}: {key} takes {kind.__name__} values (default {default!r}), got {text!r}")


def parse_field(key: str, text: str, annotation: Any) -> Any:
    """`text` as a SAC-SVG field's annotation: None/null where it allows None, else the first of its types that
    reads the text (bool, int, float, str, a Literal's names); then the field's own check (its range, a finite
    float, a Literal's names) as one line."""
    from algorithms.sac_svg.config import base_type, field_error, field_kinds, kind_name

    kinds = field_kinds(annotation)
    if text.lower() in ("none", "null") and type(None) in kinds:
        return None
    for kind in kinds:
        base = base_type(kind)
        value = text if typing.get_origin(base) is typing.Literal else _scalar(text, base)
        if value is not None:
            error = field_error(key, value, annotation)
            if error:
                raise OverrideError(f"--set {error}")
            return value
    names = " or ".join(kind_name(kind) for kind in kinds)
    raise OverrideError(f"--set {key}={text}: {key} takes {names} values, got {text!r}")


def _scalar(text: str, kind: type) -> Any:
    """`text` as a bool, int (an integral number such as 1e3 too), float or str; None where it is not one."""
    try:
        if kind is bool:
            return {"true": True, "false": False, "1": True, "0": False}.get(text.lower())
        if kind is int:
            number = float(text)
            return int(number) if number.is_integer() else None
        if kind is float:
            return float(text)
        return text if kind is str else None
    except ValueError:
        return None


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
