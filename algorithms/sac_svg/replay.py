"""Replay of raw transitions as flat tensors on the learner's device.

Replaces RLlib's EpisodeReplayBuffer on the hot path: sampling a single-step batch or a multi-step sequence
batch is a few index operations with no host-device sync. The
sampling range lives in device scalars updated in place, so a compiled or CUDA-graph-captured update always
samples from the current buffer, never from a size baked in when it was traced.
"""
import hashlib
import warnings
from dataclasses import dataclass

import numpy as np
import torch

FIELDS = ("obs", "action", "reward", "next_obs", "terminated", "episode", "t")
MAX_OPEN_EPISODES = 4096  # episodes still collecting whose newest slot is remembered
CANDIDATES_PER_SEQUENCE = 2  # start slots drawn per sequence of a batch; the first valid ones are kept


@dataclass
class SequenceBatch:
    states: torch.Tensor   # (L, B, obs_dim): x_1 .. x_L
    actions: torch.Tensor  # (L-1, B, act_dim): u_1 .. u_{L-1}
    valid: torch.Tensor    # (B,): 1.0 where all L-1 transitions are consecutive steps of one episode


class TransitionReplay:
    """A ring buffer of (x, u, r, x', terminated) with each transition's episode id, time index and the slot of
    its successor in the same episode (chunks from several env runners arrive interleaved)."""

    def __init__(self, capacity: int, obs_dim: int, act_dim: int, device: torch.device | str, seed: int):
        self.capacity, self.device = capacity, torch.device(device)
        self.size = self.next_index = 0  # host copies for adding and checkpoints
        self.device_size = torch.zeros((), dtype=torch.int64, device=self.device)  # the sampling range
        self.device_next_index = torch.zeros((), dtype=torch.int64, device=self.device)
        self.data = {
            "obs": torch.zeros(capacity, obs_dim, device=self.device),
            "action": torch.zeros(capacity, act_dim, device=self.device),
            "reward": torch.zeros(capacity, device=self.device),
            "next_obs": torch.zeros(capacity, obs_dim, device=self.device),
            "terminated": torch.zeros(capacity, device=self.device),
            "episode": torch.full((capacity,), -1, dtype=torch.int64, device=self.device),
            "t": torch.zeros(capacity, dtype=torch.int64, device=self.device),
            "next_slot": torch.full((capacity,), -1, dtype=torch.int64, device=self.device),
        }
        self.open_episodes: dict[int, tuple[int, int]] = {}  # episode -> (slot, t) of its newest transition
        self.generator = torch.Generator(device=self.device).manual_seed(seed)

    def __len__(self) -> int:
        return self.size

    def add(self, transitions: dict[str, np.ndarray]) -> None:
        """Append a batch of transitions (numpy arrays keyed by FIELDS), overwriting the oldest."""
        n = len(transitions["reward"])
        slots = (self.next_index + np.arange(n)) % self.capacity
        columns = dict(transitions, next_slot=self._successors(slots, transitions["episode"], transitions["t"]))
        index = torch.as_tensor(slots, device=self.device)
        for key, buffer in self.data.items():
            buffer[index] = torch.as_tensor(columns[key], dtype=buffer.dtype).to(self.device, non_blocking=True)
        self.next_index = (self.next_index + n) % self.capacity
        self.size = min(self.size + n, self.capacity)
        self._sync_device_range()

    def _sync_device_range(self) -> None:
        self.device_size.fill_(self.size)
        self.device_next_index.fill_(self.next_index)

    def _successors(self, slots: np.ndarray, episode: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Link each new transition to the next step of its episode, within the batch and from earlier adds."""
        follows = (episode[1:] == episode[:-1]) & (t[1:] == t[:-1] + 1)
        successor = np.full(len(slots), -1, dtype=np.int64)
        successor[:-1] = np.where(follows, slots[1:], -1)
        starts = np.flatnonzero(np.r_[True, ~follows])
        ends = np.r_[starts[1:] - 1, len(slots) - 1]
        for first, last in zip(starts, ends):
            e = int(episode[first])
            previous = self.open_episodes.pop(e, None)
            if previous is not None and previous[1] == t[first] - 1:
                self.data["next_slot"][previous[0]] = int(slots[first])
            self.open_episodes[e] = (int(slots[last]), int(t[last]))
        while len(self.open_episodes) > MAX_OPEN_EPISODES:
            self.open_episodes.pop(next(iter(self.open_episodes)))
        return successor

    def draw_transitions(self, batch_size: int) -> torch.Tensor:
        """The uniform numbers a single-step batch is sampled at (`transitions_at`). Sampling is split into this draw
        from the sampler's generator and a gather with no randomness, which a compiled update can run inside
        its graph (dynamo cannot trace a generator)."""
        return torch.rand(batch_size, dtype=torch.float64, device=self.device, generator=self.generator)

    def draw_sequences(self, batch_size: int) -> torch.Tensor:
        """The uniform numbers a sequence batch is sampled at (`sequences_at`), one per candidate start."""
        return self.draw_transitions(CANDIDATES_PER_SEQUENCE * batch_size)

    def _slots_at(self, uniform: torch.Tensor, newest: int | None = None) -> torch.Tensor:
        """Slots at `uniform` among all stored transitions, or among the `newest` ones (device arithmetic only)."""
        span = self.device_size if newest is None else self.device_size.clamp(max=newest)
        offset = (uniform * span).long()
        return (self.device_next_index - 1 - offset) % self.capacity if newest is not None else offset

    def sample(self, batch_size: int) -> dict[str, torch.Tensor]:
        """A uniform batch of single-step transitions (D_step in Algorithm 1)."""
        return self.transitions_at(self.draw_transitions(batch_size))

    def transitions_at(self, uniform: torch.Tensor) -> dict[str, torch.Tensor]:
        """The single-step batch at `uniform` (from `draw_transitions`)."""
        index = self._slots_at(uniform)
        return {key: self.data[key][index] for key in ("obs", "action", "reward", "next_obs", "terminated")}

    def sample_sequences(self, batch_size: int, length: int, newest: int | None = None) -> SequenceBatch:
        """B sequences x_{1:L}, u_{1:L-1} (D_seq in Algorithm 1) that never cross an episode end."""
        return self.sequences_at(self.draw_sequences(batch_size), length, newest)

    def sequences_at(self, uniform: torch.Tensor, length: int, newest: int | None = None) -> SequenceBatch:
        """The sequence batch at `uniform` (from `draw_sequences`).

        Candidate starts are drawn uniformly (CANDIDATES_PER_SEQUENCE per sequence) and the first B valid ones
        are kept, which is uniform over valid starts. Should fewer than B be valid, the rest carry valid = 0.
        """
        batch_size = len(uniform) // CANDIDATES_PER_SEQUENCE
        chain = [self._slots_at(uniform, newest)]
        valid = self.data["episode"][chain[0]] >= 0
        for _ in range(length - 2):
            successor = self.data["next_slot"][chain[-1]]
            valid &= successor >= 0
            successor = successor.clamp(min=0)
            # A successor slot overwritten since it was linked no longer continues the episode.
            valid &= (self.data["episode"][successor] == self.data["episode"][chain[-1]]) & (
                self.data["t"][successor] == self.data["t"][chain[-1]] + 1)
            chain.append(successor)
        keep = torch.argsort((~valid).to(torch.int8), stable=True)[:batch_size]
        index = torch.stack(chain)[:, keep]
        states = torch.cat([self.data["obs"][index[:1]], self.data["next_obs"][index]])
        return SequenceBatch(states, self.data["action"][index], valid[keep].float())

    def get_state(self) -> dict:
        """Everything needed to continue exactly where the buffer stopped (for checkpoints)."""
        return {"capacity": self.capacity, "size": self.size, "next_index": self.next_index,
                "data": {key: buffer[:self.size].cpu().numpy() for key, buffer in self.data.items()},
                "open_episodes": dict(self.open_episodes),
                "generator": self.generator.get_state().numpy(), "generator_device": self.device.type}

    def set_state(self, state: dict) -> None:
        if state["capacity"] != self.capacity:
            raise ValueError(f"checkpointed replay has capacity {state['capacity']}, this run replay_capacity="
                             f"{self.capacity}")
        self.size, self.next_index = state["size"], state["next_index"]
        for key, buffer in self.data.items():
            buffer[:self.size] = torch.as_tensor(state["data"][key]).to(self.device)
        self._sync_device_range()
        self.open_episodes = dict(state["open_episodes"])
        self._restore_generator(state["generator"], state.get("generator_device", "cpu"))

    def _restore_generator(self, saved: np.ndarray, device_type: str) -> None:
        """The sampling stream continues exactly on the same kind of device. A CPU (Mersenne Twister) state
        cannot drive a CUDA (Philox) generator or the other way round, so across devices the stream is
        reseeded from a hash of the saved state: sampling stays reproducible, though not the saved stream."""
        if device_type == self.device.type:
            self.generator.set_state(torch.as_tensor(saved, dtype=torch.uint8))
            return
        seed = int.from_bytes(hashlib.sha256(np.asarray(saved).tobytes()).digest()[:8], "little") >> 1
        warnings.warn(f"replay sampler state was saved on {device_type} and restored on {self.device.type}: "
                      f"continuing with a generator reseeded from it ({seed})", stacklevel=2)
        self.generator.manual_seed(seed)


def episodes_to_transitions(episodes) -> dict[str, np.ndarray]:
    """Flatten RLlib episode chunks into transitions (x_t, u_t, r_t, x_{t+1}, terminated_{t+1}, episode, t).

    Only real terminations are marked: a time-limit truncation keeps terminated = 0 (section 4.2, eq. 13).
    """
    parts = [_chunk_transitions(e) for e in episodes if len(e) > 0]
    return {key: np.concatenate([p[key] for p in parts]) for key in FIELDS} if parts else {}


def _chunk_transitions(episode) -> dict[str, np.ndarray]:
    obs = np.asarray(episode.get_observations(), dtype=np.float32)
    n = len(episode)
    terminated = np.zeros(n, dtype=np.float32)
    terminated[-1] = float(episode.is_terminated)
    return {
        "obs": obs[:-1], "next_obs": obs[1:],
        "action": np.asarray(episode.get_actions(), dtype=np.float32).reshape(n, -1),
        "reward": np.asarray(episode.get_rewards(), dtype=np.float32),
        "terminated": terminated,
        # RLlib episode ids are uuid4 hex strings: 60 bits of it identify the episode across chunks.
        "episode": np.full(n, int(episode.id_[:15], 16), dtype=np.int64),
        "t": episode.t_started + np.arange(n, dtype=np.int64),
    }
