"""A trial's episodes in the order it collected them, read from the replay buffer in its latest checkpoint, and
fig. 3's data split: a fixed test split of held-out episodes, the others in temporal order, in chunks, each
chunk's episodes divided between a training and a holdout split.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from algorithms.sac_svg import checkpoint
from algorithms.sac_svg.replay import FIELDS
from sweeps.layout import PARAMS_FILE, SWEEP_FILE
from sweeps.results import latest_checkpoint
from sweeps.storage import Location
from tasks import names

LEARNER_STATE = Path("learner_group", "learner", "state.pkl")  # RLlib's learner state file in a checkpoint
REPLAY = "replay"  # the learner state's entry for the replay buffer (algorithms/sac_svg/learner.py)

Episode = dict[str, np.ndarray]  # one episode's transitions (replay FIELDS), in time order


class NotATrialError(ValueError):
    """A path that is not a trial folder whose checkpoint holds a replay buffer."""


def check_source_trial(where: str, task: str) -> Location:
    """`where` as a trial folder of `task` whose latest checkpoint is complete and keeps the replay buffer; a
    NotATrialError saying what is wrong otherwise. Reads, never writes."""
    trial = Path(where).expanduser().resolve()
    if not trial.is_dir():
        raise NotATrialError(f"{trial} is not a folder")
    if not (trial / PARAMS_FILE).is_file():
        hint = (" (an experiment folder: give one of its trial folders)"
                if (trial / SWEEP_FILE).is_file() else "")
        raise NotATrialError(f"{trial} is not a trial folder: it has no {PARAMS_FILE}{hint}")
    params = json.loads((trial / PARAMS_FILE).read_text() or "{}")
    env = str(params.get("env", ""))
    if names.task_name(env).lower() != task.lower():
        raise NotATrialError(f"{trial} trained {env or 'an unknown env'}, not {task}: give TASK= its task")
    if params.get("checkpoint_replay") is False:
        raise NotATrialError(f"{trial} ran with checkpoint_replay=False: its checkpoints hold no episodes")
    latest = latest_checkpoint(trial)
    if latest is None:
        raise NotATrialError(f"{trial} has no checkpoint_* folder: its episodes were never saved")
    try:
        checkpoint.check(latest)
    except checkpoint.CheckpointError as error:
        raise NotATrialError(str(error)) from None
    if not (latest / LEARNER_STATE).is_file():
        raise NotATrialError(f"{latest} has no {LEARNER_STATE}: not an svglab checkpoint")
    return Location.of(trial)


def read_replay(trial: Path) -> dict:
    """The replay buffer's state (TransitionReplay.get_state) in the trial's latest checkpoint, read once, checked
    against the manifest's SHA-256 and unpickled as plain data only, with `collected`: the transitions the trial
    had collected (more than `size` when some were overwritten)."""
    latest = latest_checkpoint(trial)
    state_file = latest / LEARNER_STATE
    try:
        replay = checkpoint.load_checked(latest, str(LEARNER_STATE)).get(REPLAY, {})
    except checkpoint.CheckpointError as error:
        raise NotATrialError(str(error)) from None
    if replay.get("buffer") is None:
        raise NotATrialError(f"{state_file} holds no replay buffer (checkpoint_replay=False)")
    return replay["buffer"] | {"collected": replay.get("env_steps", replay["buffer"]["size"])}


def episodes_in_order(buffer: dict) -> list[Episode]:
    """The buffer's episodes in the order they were collected (oldest stored transition first), each with its
    transitions in time order. An episode whose start the ring buffer overwrote keeps its stored part."""
    size, start = buffer["size"], buffer["next_index"] if buffer["size"] == buffer["capacity"] else 0
    order = (start + np.arange(size)) % max(size, 1)
    data = {key: np.asarray(buffer["data"][key])[order] for key in FIELDS}
    ids, first = np.unique(data["episode"], return_index=True)
    episodes = []
    for episode in ids[np.argsort(first)]:
        rows = np.flatnonzero(data["episode"] == episode)
        rows = rows[np.argsort(data["t"][rows], kind="stable")]
        episodes.append({key: data[key][rows] for key in FIELDS})
    return episodes


@dataclass(frozen=True)
class Split:
    """Episode indices: the fixed test split, and per chunk (in temporal order) its training and holdout ones."""

    test: list[int]
    chunks: list[tuple[list[int], list[int]]]  # (training, holdout) episodes each chunk adds


def split_episodes(num_episodes: int, test_fraction: float, holdout_every: int, num_chunks: int,
                   seed: int = 0) -> Split:
    """Fig. 3's split: `test_fraction` of the episodes (at least one) drawn once with `seed` from the whole run; the
    others, in order, cut into `num_chunks` consecutive chunks, every `holdout_every`-th of them (counted over the
    run) to the holdout split, the rest to the training split."""
    num_test = max(1, round(test_fraction * num_episodes))
    needed = num_test + num_chunks * holdout_every
    if num_episodes < needed:
        raise ValueError(f"{num_episodes} episodes: the split needs at least {needed} ({num_test} test, then "
                         f"{num_chunks} chunks each with {holdout_every - 1} training and 1 holdout episode)")
    test = sorted(np.random.default_rng(seed).choice(num_episodes, size=num_test, replace=False).tolist())
    rest = [i for i in range(num_episodes) if i not in set(test)]
    chunks = []
    position = 0
    for chunk in np.array_split(np.asarray(rest), num_chunks):
        holdout = [int(e) for k, e in enumerate(chunk, position) if k % holdout_every == holdout_every - 1]
        chunks.append(([int(e) for e in chunk if e not in holdout], holdout))
        position += len(chunk)
    return Split(test, chunks)


def transitions(episodes: list[Episode]) -> dict[str, np.ndarray]:
    """The episodes' transitions as one replay batch (TransitionReplay.add)."""
    return {key: np.concatenate([e[key] for e in episodes]) for key in FIELDS}


def windows(episodes: list[Episode], length: int, max_count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Every run of `length` states (x_1..x_L, with the L-1 actions between) inside one episode, or `max_count` of
    them drawn once with `seed`: states (L, B, obs_dim) and actions (L-1, B, act_dim)."""
    states, actions = [], []
    for e in episodes:
        for i in range(len(e["obs"]) - length + 2):
            states.append(np.concatenate([e["obs"][i:i + length - 1], e["next_obs"][i + length - 2][None]]))
            actions.append(e["action"][i:i + length - 1])
    if not states:
        raise ValueError(f"no episode holds {length} consecutive states")
    keep = np.arange(len(states))
    if len(keep) > max_count:
        keep = np.sort(np.random.default_rng(seed).choice(len(keep), size=max_count, replace=False))
    return (np.stack([states[i] for i in keep], axis=1).astype(np.float32),
            np.stack([actions[i] for i in keep], axis=1).astype(np.float32))
