"""Find a trained policy and load it without Ray: the actor (eq. 4) and the observation normalizer.

A path may be
- a sweep folder (it holds sweep.json): its best trial, chosen by the one best-schedule rule
  (sweeps.results.best_group), the best-returning seed of that schedule;
- a trial folder (it holds params.json): its best evaluation's policy (`best_policy/`), or with
  `latest=True` its latest full checkpoint;
- a full checkpoint folder (`checkpoint_*`, read with its trial's params.json), a `best_policy/` folder or
  a `make export` folder.
Every checkpoint is checked as a restore checks it (complete, plain data only) and must come from this
svglab version; anything else is an AgentInputError that says which path and why.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError

from algorithms.sac_svg import checkpoint, policy_file
from algorithms.sac_svg.config import POLICY_FIELDS
from algorithms.sac_svg.policy_file import Policy
from sweeps.layout import PARAMS_FILE, SWEEP_FILE
from sweeps.results import latest_checkpoint
from tasks import Task, UnknownTaskError, get_task, names

MODULE_STATE = f"learner_group/learner/rl_module/{policy_file.MODULE_ID}/module_state.pkl"


class AgentInputError(ValueError):
    """A path or option the agent commands cannot use; the message says which and why."""


@dataclass
class Loaded:
    policy: Policy
    spec: dict  # policy.json's fields: task, sizes, svglab version (and env steps, eval return if known)
    source: Path  # the folder the policy was read from
    chosen: str  # how it was chosen, for the user

    @property
    def task(self) -> Task:
        return task_named(self.spec["task"], self.source)


def task_named(name: str, folder: Path) -> Task:
    """The task a policy folder names. A researcher's environment (`module:...`) is imported only when the user
    names it (`--task`): a folder may come from someone else, and nothing read from one runs code."""
    if ":" in name:
        raise AgentInputError(f"{folder} was trained on TASK={name}, which imports module {name.split(':')[0]!r}: "
                              f"name it yourself to run it, --task {name} (make: ARGS=\"--task {name}\")")
    try:
        return get_task(name)
    except UnknownTaskError as error:
        raise AgentInputError(f"{folder}: {error}") from None


def load(path: str | Path, latest: bool = False) -> Loaded:
    """The policy at `path` (see the module's docstring); AgentInputError when there is none."""
    folder, chosen = find(Path(path), latest)
    tensors, spec = read_policy(folder)
    if ":" not in spec["task"]:  # a researcher's environment is checked when the user names it (task_named)
        task_named(spec["task"], folder)
    tensors = _checked_sizes(folder, spec, tensors)  # before anything is allocated
    policy = Policy(spec)
    policy.load_state_dict(tensors)
    return Loaded(policy.eval(), spec, folder, chosen)


# ---------------------------------------------------------------- which folder


def find(path: Path, latest: bool) -> tuple[Path, str]:
    """(the policy or checkpoint folder to load, a sentence saying how it was chosen)."""
    if not path.exists():
        raise AgentInputError(f"{path} does not exist")
    if (path / SWEEP_FILE).is_file():
        trial, why = best_trial(path)
        folder, how = in_trial(trial, latest)
        return folder, f"{why}; {how}"
    if (path / PARAMS_FILE).is_file():
        return in_trial(path, latest)
    if (path / checkpoint.MANIFEST).is_file():
        return path, f"checkpoint {path}"
    raise AgentInputError(f"{path} is not a svglab checkpoint: no {checkpoint.MANIFEST} (a checkpoint), "
                          f"{PARAMS_FILE} (a trial folder) or {SWEEP_FILE} (a sweep folder) in it")


def in_trial(trial: Path, latest: bool) -> tuple[Path, str]:
    """The trial's best-evaluation policy, else (or with `latest`) its latest full checkpoint."""
    best = trial / policy_file.FOLDER
    if not latest and best.is_dir():
        spec = json.loads((best / policy_file.SPEC).read_text()) if (best / policy_file.SPEC).is_file() else {}
        return best, (f"the best evaluation of trial {trial.name} (eval return {spec.get('eval_return', '?')} "
                      f"at env step {spec.get('env_steps', '?')})")
    newest = latest_checkpoint(trial)
    if newest is None:
        raise AgentInputError(f"trial folder {trial} has no checkpoint yet")
    reason = "" if latest else f" (it has no {policy_file.FOLDER}/)"
    return newest, f"the latest checkpoint of trial {trial.name}, {newest.name}{reason}"


def best_trial(sweep: Path) -> tuple[Path, str]:
    """The best schedule's (sweeps.results.best_group) best seed: the trial with its highest final return."""
    from sweeps.results import SCHEDULE_GROUP, best_group, schedule_groups, trial_table

    table = trial_table(sweep)
    group = best_group(schedule_groups(table))
    if group is None:
        raise AgentInputError(f"sweep folder {sweep} has no trial with an evaluation return yet")
    members = table[[all(_same(row[k], group[k]) for k in SCHEDULE_GROUP) for _, row in table.iterrows()]]
    trial = members.sort_values(["final_eval", "trial"], ascending=[False, True]).iloc[0]
    schedule = ", ".join(f"{k}={_shown(group[k])}" for k in SCHEDULE_GROUP)
    return sweep / trial["trial"], (f"sweep {sweep.name}: best schedule {schedule} (mean final eval return "
                                    f"{group['mean']:.1f} over {int(group['n'])} seed(s)), its best seed "
                                    f"{trial['seed']:g} (final eval return {trial['final_eval']:.1f})")


def _same(a, b) -> bool:
    """Equal, NaN and None counting as one value (a constant schedule's beta)."""
    return (_missing(a) and _missing(b)) or a == b


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _shown(value) -> str:
    return "-" if _missing(value) else f"{value:g}"


# ---------------------------------------------------------------- reading it


def read_policy(folder: Path) -> tuple[dict[str, torch.Tensor], dict]:
    """(the actor's and normalizer's tensors, the spec) of a slim policy folder or a full checkpoint."""
    manifest = _manifest(folder)
    if manifest.get("svglab_version") != checkpoint.svglab_version():
        raise AgentInputError(f"{folder} was written by svglab {manifest.get('svglab_version')}, this is svglab "
                              f"{checkpoint.svglab_version()}: load it with that version")
    try:
        if (folder / policy_file.SPEC).is_file():
            return policy_file.read(folder)
        checkpoint.check(folder)
        if not (folder / MODULE_STATE).is_file():
            raise AgentInputError(f"{folder} holds no policy: neither {policy_file.SPEC} nor {MODULE_STATE}")
        state = checkpoint.load_plain_data(folder / MODULE_STATE)
    except checkpoint.CheckpointError as error:
        raise AgentInputError(str(error)) from None
    except (OSError, ValueError, KeyError, SafetensorError) as error:  # sizes that match, content that does not
        raise AgentInputError(f"{folder}: cannot read its policy ({type(error).__name__}: {error})") from None
    tensors = policy_file.policy_tensors(state)
    config = _trial_config(folder)
    return tensors, policy_file.make_spec(names.task_name(config["env"]), config, tensors,
                                          env_steps=manifest.get("env_steps"))


SIZES = ("obs_dim", "act_dim", "hidden_dim", "hidden_depth")  # the spec's fields that shape the networks


def _checked_sizes(folder: Path, spec: dict, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """`tensors`, once the networks that `spec`'s sizes describe are shown to have exactly their names and
    shapes. The networks are laid out on torch's meta device (no memory), so sizes edited in policy.json
    cannot ask for gigabytes before the comparison refuses them."""
    wrong = [f"{name}={spec.get(name)!r}" for name in SIZES
             if not isinstance(spec.get(name), int) or isinstance(spec.get(name), bool) or spec.get(name) < 0]
    if not wrong and spec["hidden_depth"] > len(tensors):  # each hidden layer has tensors of its own
        wrong = [f"hidden_depth={spec['hidden_depth']} (the file holds {len(tensors)} tensors)"]
    if wrong:
        raise AgentInputError(f"{folder}: {policy_file.SPEC} names sizes its tensors cannot have: {', '.join(wrong)}")
    try:
        with torch.device("meta"):
            expected = {name: tuple(t.shape) for name, t in Policy(spec).state_dict().items()}
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        raise AgentInputError(f"{folder}: {policy_file.SPEC} is not usable ({type(error).__name__}: {error})") from None
    found = {name: tuple(t.shape) for name, t in tensors.items()}
    differs = [f"{name}: sizes say {expected.get(name, 'none')}, file holds {found.get(name, 'none')}"
               for name in sorted(set(expected) | set(found)) if expected.get(name) != found.get(name)]
    if differs:
        sizes = ", ".join(f"{name}={spec[name]}" for name in SIZES)
        raise AgentInputError(f"{folder}: its tensors do not fit the sizes {policy_file.SPEC} names ({sizes}): "
                              f"{'; '.join(differs[:2])}{'; ...' if len(differs) > 2 else ''}")
    return tensors


def _manifest(folder: Path) -> dict:
    try:
        return checkpoint.read_manifest(folder)
    except checkpoint.CheckpointError as error:
        raise AgentInputError(str(error)) from None


def _trial_config(folder: Path) -> dict:
    """The configuration of the trial that wrote a full checkpoint: params.json in its trial folder."""
    from sweeps.results import trial_config

    params = folder.parent / PARAMS_FILE
    config = trial_config(folder.parent) if params.is_file() else {}
    missing = [k for k in ("env", *POLICY_FIELDS) if k not in config]
    if missing:
        raise AgentInputError(f"checkpoint {folder}: its trial's configuration ({params}) is missing or lacks "
                              f"{', '.join(missing)}; give the trial folder, or its {policy_file.FOLDER}/")
    return config
