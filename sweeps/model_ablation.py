"""Fig. 3's model-architecture ablation: the 5-member MLP ensemble (one-step transitions) against the GRU
(multi-step sequences), trained on a model-free SAC run's episodes as they arrived and scored on held-out ones.

The episodes (sweeps.replay_episodes) are split once: a fixed test split drawn from the whole run, the others
added in temporal order, chunk by chunk, to a training split and a holdout split. After each chunk each model
trains further for `updates_per_chunk` dynamics updates on the training split so far, then its multi-step
squared error per unroll step (eq. 11's error, `learner.model_errors`, the same function for both models) is
measured on the training and holdout splits so far and on the test split. The ensemble is scored as an ensemble:
its prediction is the mean of its members' trajectories (`MLPEnsembleDynamics.unroll`); the members' average
error, each member's trajectory scored alone, is a second curve, and the gap between the two is the ensemble's gain.

It runs in the driver, after the SAC run's Tune trial (or on a given trial's checkpoint): it is one sequential
fit of two small models on data already on disk, so a Tune trial would add a process and a restore protocol and
nothing to run in parallel. Resume is its own: after every chunk `model_fit_state.pkl` (both learners' state
without their replay, the sampler states and every score so far) is replaced atomically, and `model_errors.csv`
is rewritten from it; a rerun continues after the last completed chunk.
"""

from __future__ import annotations

import csv
import pickle
import time
from pathlib import Path

import numpy as np
import torch

from algorithms import atomic
from algorithms.sac_svg import checkpoint
from algorithms.sac_svg.replay import SequenceBatch
from sweeps.ablation_catalog import ModelFit
from sweeps.progress import _duration
from sweeps.replay_episodes import Episode, Split, episodes_in_order, read_replay, split_episodes, transitions, windows

MODELS = ("mlp_ensemble", "gru")  # the dynamics models fitted (dynamics_model)
MEMBER_AVERAGE = "mlp_ensemble_member_average"
CURVES = {"mlp_ensemble": "MLP ensemble (one-step): ensemble's prediction",  # curve -> label
          MEMBER_AVERAGE: "MLP ensemble: members' average, each alone",
          "gru": "GRU (multi-step)"}
SPLITS = ("train", "holdout", "test")
ERRORS_FILE = "model_errors.csv"
STATE_FILE = "model_fit_state.pkl"
CSV_COLUMNS = ("curve", "episodes_seen", "split", "unroll_step", "error")
SPLIT_SEED = 0  # the test split and the scored sequences are drawn once, with this seed


def fit_config(base: dict, model: str, fit: ModelFit):
    """One model's learner config: the run's config (the budget's network sizes and batches) with that dynamics
    model, trained on sequences as long as the unroll it is scored on."""
    from algorithms.sac_svg import SACSVGConfig

    config = SACSVGConfig().update_from_dict(base)
    return config.training(dynamics_model=model, dynamics_seq_len=fit.unroll_steps + 1)  # ensemble_size: the config's


class ModelFitRun:
    """Both models' learners, the split, and the scores so far, for one experiment folder."""

    def __init__(self, exp_dir: Path, base: dict, fit: ModelFit, episodes: list[Episode], env):
        self.exp_dir, self.fit, self.episodes = Path(exp_dir), fit, episodes
        self.split: Split = split_episodes(len(episodes), fit.test_fraction, fit.holdout_every, fit.num_chunks,
                                           seed=SPLIT_SEED)
        capacity = max(1, sum(len(e["reward"]) for e in episodes))
        self.learners = {model: fit_config(base | {"replay_capacity": capacity}, model, fit).build_learner(env=env)
                         for model in MODELS}
        self.test = self.sequences([episodes[i] for i in self.split.test])
        self.done_chunks, self.rows = 0, []

    def sequences(self, episodes: list[Episode]) -> SequenceBatch:
        states, actions = windows(episodes, self.fit.unroll_steps + 1, self.fit.max_score_sequences, seed=SPLIT_SEED)
        return SequenceBatch(torch.as_tensor(states), torch.as_tensor(actions), torch.ones(states.shape[1]))

    # --- the protocol ---------------------------------------------------------------------------------
    def add_chunk(self, chunk: int) -> None:
        """The chunk's training episodes into every learner's replay, and their observations into its normalizer."""
        added = transitions([self.episodes[i] for i in self.split.chunks[chunk][0]])
        for learner in self.learners.values():
            learner.replay.add(added)
            learner.rl_module.normalizer.update(torch.as_tensor(added["obs"]))

    def train(self) -> None:
        for learner in self.learners.values():
            for _ in range(self.fit.updates_per_chunk):
                learner.dynamics_update(learner.dynamics_batch())

    def score(self, chunk: int) -> list[dict]:
        """Every curve's error per unroll step on the training and holdout splits so far and on the test split."""
        seen_chunks = self.split.chunks[:chunk + 1]
        train, holdout = ([self.episodes[i] for c in seen_chunks for i in c[part]] for part in (0, 1))
        seen = sum(len(t) + len(h) for t, h in seen_chunks)
        splits = dict(zip(SPLITS, (self.sequences(train), self.sequences(holdout), self.test)))
        return [{"curve": curve, "episodes_seen": seen, "split": name, "unroll_step": step + 1, "error": float(e)}
                for name, seq in splits.items() for curve, errors in self.curves(seq).items()
                for step, e in enumerate(errors.tolist())]

    def curves(self, seq: SequenceBatch) -> dict[str, torch.Tensor]:
        """Each curve's error per unroll step on `seq`: each model's prediction, and the ensemble's members alone."""
        errors = {model: learner.model_errors(seq) for model, learner in self.learners.items()}
        return errors | {MEMBER_AVERAGE: member_average_errors(self.learners["mlp_ensemble"], seq)}

    def run(self, log=print) -> None:
        """Every chunk not done yet: add, train, score, save."""
        self.restore()
        start, first = time.time(), self.done_chunks
        for chunk in range(self.done_chunks, self.fit.num_chunks):
            self.add_chunk(chunk)
            self.train()
            self.rows += self.score(chunk)
            self.done_chunks = chunk + 1
            self.save()
            log(self.progress_line(start, first))

    def progress_line(self, start: float, first: int) -> str:
        elapsed = time.time() - start
        left = elapsed / max(self.done_chunks - first, 1) * (self.fit.num_chunks - self.done_chunks)
        last = [r for r in self.rows if r["episodes_seen"] == self.rows[-1]["episodes_seen"] and r["split"] == "test"]
        errors = ", ".join(f"{CURVES[c]} {np.mean([r['error'] for r in last if r['curve'] == c]):.4g}"
                           for c in CURVES)
        return (f"[{self.exp_dir.name} {_duration(elapsed)}] chunk {self.done_chunks}/{self.fit.num_chunks} | "
                f"episodes {self.rows[-1]['episodes_seen']}/{len(self.episodes) - len(self.split.test)} | "
                f"test error {errors} | ETA {_duration(left)}")

    # --- resume ---------------------------------------------------------------------------------------
    def save(self) -> None:
        state = {"done_chunks": self.done_chunks, "rows": self.rows,
                 "learners": {m: _plain(learner.get_state(not_components=["replay"]))
                              for m, learner in self.learners.items()},
                 "samplers": {m: learner.replay.generator.get_state().numpy()
                              for m, learner in self.learners.items()}}
        atomic.write_bytes(self.exp_dir / STATE_FILE, pickle.dumps(state))
        atomic.write_text(self.exp_dir / ERRORS_FILE, _csv_text(self.rows))

    def restore(self) -> None:
        """Continue after the last saved chunk: its learners' state, sampler and scores; the replay refilled."""
        path = self.exp_dir / STATE_FILE
        if not path.is_file():
            return
        state = checkpoint.load_plain_data(path)
        if any("curve" not in row for row in state["rows"]):
            raise ValueError(f"{path} holds scores without their curve (an ensemble scored member by member): "
                             f"fit into another results folder")
        for chunk in range(state["done_chunks"]):
            self.add_chunk(chunk)
        for model, learner in self.learners.items():
            learner.set_state(state["learners"][model])
            learner.replay.generator.set_state(torch.as_tensor(state["samplers"][model]))
        self.done_chunks, self.rows = state["done_chunks"], state["rows"]


@torch.no_grad()
def member_average_errors(learner, seq: SequenceBatch) -> torch.Tensor:
    """The ensemble members' mean of their own multi-step squared errors per unroll step (L-1,): each member's
    trajectory scored alone, as `learner.model_errors` scores the ensemble's mean trajectory."""
    m = learner.rl_module
    states = m.normalizer(seq.states)
    error = (m.world_model.dynamics.member_unrolls(states[0], seq.actions) - states[1:]).pow(2).mean(dim=(0, 3))
    return (error * seq.valid).sum(dim=1) / seq.valid.sum().clamp(min=1)


def run_model_fit(exp_dir: Path, source_trial: Path, base: dict, fit: ModelFit, env) -> Path:
    """The whole fit on the source trial's episodes; returns the CSV's path."""
    buffer = read_replay(source_trial)
    if buffer["collected"] > buffer["size"]:
        print(f"model ablation: the replay buffer of {source_trial} kept the last {buffer['size']:,} of its "
              f"{buffer['collected']:,} transitions: the episodes start later in that run", flush=True)
    episodes = episodes_in_order(buffer)
    print(f"model ablation: {len(episodes)} episodes from {source_trial}; fitting "
          f"{' and '.join(CURVES[m] for m in MODELS)} in {fit.num_chunks} chunks", flush=True)
    ModelFitRun(exp_dir, base, fit, episodes, env).run()
    return Path(exp_dir) / ERRORS_FILE


def _plain(state):
    """Tensors as numpy arrays, so the state file holds plain data only (checkpoint.check_plain_data)."""
    if isinstance(state, dict):
        return {k: _plain(v) for k, v in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(_plain(v) for v in state)
    return state.detach().cpu().numpy() if isinstance(state, torch.Tensor) else state


def _csv_text(rows: list[dict]) -> str:
    import io

    out = io.StringIO()
    writer = csv.DictWriter(out, CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()

