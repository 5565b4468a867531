"""The slim policy: the actor (eq. 4) and the observation normalizer alone, without critic, world model or
replay, as plain tensors in `policy.safetensors` beside `policy.json` (task, sizes, svglab version).

Each trial keeps the policy of its best evaluation in `best_policy/` beside its checkpoints
(:func:`keep_if_best`, called after every evaluation); `make export` writes the same two files. Both are
written like checkpoints (algorithms/sac_svg/checkpoint.py): into a hidden folder renamed when complete,
with a manifest of the files and their sizes.
"""
from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
from torch import nn

from algorithms.sac_svg import checkpoint
from algorithms.sac_svg.actor import TanhGaussianActor
from algorithms.sac_svg.config import POLICY_FIELDS
from algorithms.sac_svg.normalizer import RunningNormalizer
from tasks import names

FOLDER = "best_policy"  # in the trial folder, beside checkpoint_*
WEIGHTS = "policy.safetensors"
SPEC = "policy.json"
PARTS = ("actor.", "normalizer.")  # the RL module's state entries a policy keeps
MODULE_ID = "default_policy"


def policy_tensors(module_state: Mapping) -> dict[str, torch.Tensor]:
    """The actor's and the normalizer's entries of an RL module state (numpy arrays or tensors)."""
    return {name: torch.as_tensor(np.asarray(value)).contiguous() for name, value in module_state.items()
            if name.startswith(PARTS)}


def make_spec(task: str, config: Mapping, tensors: Mapping[str, torch.Tensor], **extra) -> dict:
    """policy.json: the task, the sizes, the actor's linear layers in order and the svglab version."""
    layers = sorted({name.rsplit(".", 1)[0] for name in tensors if name.startswith("actor.")},
                    key=lambda layer: int(layer.rsplit(".", 1)[1]))
    return {"svglab_version": checkpoint.svglab_version(), "task": task,
            "obs_dim": int(tensors["normalizer.loc"].shape[0]),
            "act_dim": int(tensors[f"{layers[-1]}.bias"].shape[0]) // 2,
            **{name: config[name] for name in POLICY_FIELDS}, "actor_layers": layers, **extra}


def write(folder: Path, tensors: Mapping[str, torch.Tensor], spec: dict) -> None:
    """policy.safetensors and policy.json into `folder`, atomically, with the checkpoint manifest."""
    from safetensors.torch import save_file

    def save(partial: Path) -> None:
        partial.mkdir(parents=True)
        save_file(dict(tensors), str(partial / WEIGHTS))
        (partial / SPEC).write_text(json.dumps(spec, indent=1) + "\n")

    identity = SimpleNamespace(env=names.env_id(spec['task']), **{k: spec[k] for k in POLICY_FIELDS})
    checkpoint.write_atomically(Path(folder), save, identity, spec.get("env_steps", 0))


def read(folder: Path) -> tuple[dict[str, torch.Tensor], dict]:
    """(tensors, spec) of a policy folder that `checkpoint.check` finds complete."""
    from safetensors.torch import load_file

    checkpoint.check(Path(folder))
    return load_file(str(Path(folder) / WEIGHTS)), json.loads((Path(folder) / SPEC).read_text())


class Policy(nn.Module):
    """The normalizer and the actor of a trained SAC-SVG(H) agent, as on the env runners (rl_module.py), built
    from policy.json's spec."""

    def __init__(self, spec: dict):
        super().__init__()
        self.normalizer = RunningNormalizer(dim=spec["obs_dim"], enabled=spec["normalize_obs"],
                                            std_min=spec["obs_std_min"], std_max=spec["obs_std_max"])
        self.actor = TanhGaussianActor(obs_dim=spec["obs_dim"], act_dim=spec["act_dim"],
                                       hidden_dim=spec["hidden_dim"], hidden_depth=spec["hidden_depth"],
                                       log_std_min=spec["log_std_min"], log_std_max=spec["log_std_max"])

    @torch.no_grad()
    def forward(self, obs: torch.Tensor, stochastic: bool = False) -> torch.Tensor:
        """tanh(mu(x)) (the evaluation action), or u ~ pi(x) (eq. 4) when `stochastic`."""
        x = self.normalizer(obs)
        return self.actor.sample(x)[0] if stochastic else self.actor.mean_action(x)

    def act(self, obs: np.ndarray, stochastic: bool = False) -> np.ndarray:
        """One environment's action for one observation."""
        return self(torch.as_tensor(obs, dtype=torch.float32), stochastic).numpy()


# ---------------------------------------------------------------- the best evaluation of a trial


def keep_if_best(algorithm, eval_return: float) -> bool:
    """After an evaluation: if `eval_return` beats the trial's best so far (read from its `best_policy/`, so a
    restored trial keeps it), write the evaluated policy there. Returns whether it did. Outside Tune (no
    trial folder) it does nothing."""
    storage = getattr(algorithm, "_storage", None)
    if storage is None or not np.isfinite(eval_return):
        return False
    filesystem, folder = storage.storage_filesystem, f"{storage.trial_fs_path}/{FOLDER}"
    best = _best_return(filesystem, folder)
    if best is not None and eval_return <= best:
        return False
    config = algorithm.config
    tensors = policy_tensors(module_state(algorithm))
    spec = make_spec(names.task_name(config.env), vars(config), tensors, env_steps=algorithm.env_steps(),
                     eval_return=float(eval_return), iteration=algorithm.iteration)
    _write_to(filesystem, folder, tensors, spec)
    return True


def module_state(algorithm) -> dict:
    """The learner's actor and normalizer (the weights the evaluation just ran), wherever the learner is."""
    from ray.rllib.core import COMPONENT_LEARNER, COMPONENT_RL_MODULE

    state = algorithm.learner_group.get_state(
        components=f"{COMPONENT_LEARNER}/{COMPONENT_RL_MODULE}/{MODULE_ID}", inference_only=True)
    return state[COMPONENT_LEARNER][COMPONENT_RL_MODULE][MODULE_ID]


def _best_return(filesystem, folder: str) -> float | None:
    try:
        with filesystem.open_input_stream(f"{folder}/{SPEC}") as stream:
            return float(json.loads(stream.read())["eval_return"])
    except (OSError, ValueError, KeyError):  # none yet, or one cut short: the next best replaces it
        return None


def _write_to(filesystem, folder: str, tensors, spec) -> None:
    """Atomically on a local trial folder; through pyarrow.fs (a URI's storage) after writing it locally."""
    import pyarrow.fs

    if isinstance(filesystem, pyarrow.fs.LocalFileSystem):
        write(Path(folder), tensors, spec)
        return
    with tempfile.TemporaryDirectory() as local:
        write(Path(local) / FOLDER, tensors, spec)
        pyarrow.fs.copy_files(os.path.join(local, FOLDER), folder, destination_filesystem=filesystem)
