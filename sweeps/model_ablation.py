"""Fig. 3's model-architecture ablation: the 5-member MLP ensemble (one-step transitions) against the GRU
(multi-step sequences), trained on a model-free SAC run's episodes as they arrived and scored on held-out ones.

The episodes (sweeps.replay_episodes) are split once: a fixed test split drawn from the whole run, the others
added in temporal order, chunk by chunk, to a training split and a holdout split. After each chunk each model
trains further for `updates_per_chunk` dynamics updates on the training split so far, then its multi-step
squared error per unroll step (eq. 11's error, `learner.model_errors`, the same function for both models) is
measured on the holdout split so far and on the test split.

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

MODELS = {"mlp_ensemble": "MLP ensemble (one-step)", "gru": "GRU (multi-step)"}  # dynamics_model -> label
ERRORS_FILE = "model_errors.csv"
STATE_FILE = "model_fit_state.pkl"
CSV_COLUMNS = ("model", "episodes_seen", "split", "unroll_step", "error")
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
        """Each model's error per unroll step on the holdout split so far and on the test split."""
        holdout = [self.episodes[i] for c in self.split.chunks[:chunk + 1] for i in c[1]]
        seen = sum(len(train) + len(held) for train, held in self.split.chunks[:chunk + 1])
        splits = {"holdout": self.sequences(holdout), "test": self.test}
        return [{"model": model, "episodes_seen": seen, "split": name, "unroll_step": step + 1, "error": float(e)}
                for model, learner in self.learners.items() for name, seq in splits.items()
                for step, e in enumerate(learner.model_errors(seq).tolist())]

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
        errors = ", ".join(f"{MODELS[m]} {np.mean([r['error'] for r in last if r['model'] == m]):.4g}"
                           for m in MODELS)
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
        for chunk in range(state["done_chunks"]):
            self.add_chunk(chunk)
        for model, learner in self.learners.items():
            learner.set_state(state["learners"][model])
            learner.replay.generator.set_state(torch.as_tensor(state["samplers"][model]))
        self.done_chunks, self.rows = state["done_chunks"], state["rows"]


def run_model_fit(exp_dir: Path, source_trial: Path, base: dict, fit: ModelFit, env) -> Path:
    """The whole fit on the source trial's episodes; returns the CSV's path."""
    buffer = read_replay(source_trial)
    if buffer["collected"] > buffer["size"]:
        print(f"model ablation: the replay buffer of {source_trial} kept the last {buffer['size']:,} of its "
              f"{buffer['collected']:,} transitions: the episodes start later in that run", flush=True)
    episodes = episodes_in_order(buffer)
    print(f"model ablation: {len(episodes)} episodes from {source_trial}; fitting "
          f"{' and '.join(MODELS.values())} in {fit.num_chunks} chunks", flush=True)
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

