"""What a resume's checks cost on a paper-size checkpoint: a full Walker2d replay buffer (Table 3's 1,000,000
transitions, 17-dim observations, 6-dim actions), synthetic, pickled as RLlib pickles the learner state, in a
checkpoint folder with svglab's manifest and the driver's signature.

Times, each the median of --repeats: the signature (HMAC of the manifest, sweeps/signing.py), the full check
(every file's SHA-256 and the plain-data unpickling, algorithms/sac_svg/checkpoint.py: what a resume checks
before Ray starts) and the private copy a restore hands RLlib (checkpoint.checked_copy).

  python -m benchmarks.verify_checkpoint [--capacity 1000000] [--repeats 3] [--folder DIR]
"""
import argparse
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from ray import cloudpickle

from algorithms.sac_svg import checkpoint
from algorithms.sac_svg.replay import TransitionReplay
from sweeps import signing
from sweeps.storage import Location

STATE = "learner_group/learner/state.pkl"
WALKER2D = {"obs_dim": 17, "act_dim": 6}


class Config:
    """The fields a manifest records (checkpoint.identity)."""
    env, replay_capacity = "svglab/Walker2d", 1_000_000


def write_paper_checkpoint(folder: Path, capacity: int) -> int:
    """A signed checkpoint holding a full replay buffer of `capacity` random transitions; its state's size."""
    replay = TransitionReplay(capacity, device="cpu", seed=0, **WALKER2D)
    rng = np.random.default_rng(0)
    for start in range(0, capacity, 100_000):
        n = min(100_000, capacity - start)
        t = np.arange(start, start + n)
        replay.add({"obs": rng.normal(size=(n, 17)).astype(np.float32), "action": rng.uniform(-1, 1, (n, 6)),
                    "reward": rng.normal(size=n), "next_obs": rng.normal(size=(n, 17)).astype(np.float32),
                    "terminated": np.zeros(n), "episode": t // 1000, "t": t % 1000})
    state = cloudpickle.dumps({"replay": {"buffer": replay.get_state(), "env_steps": capacity}})

    def save(partial: Path) -> None:
        (partial / STATE).parent.mkdir(parents=True)
        (partial / STATE).write_bytes(state)

    checkpoint.write_atomically(folder, save, Config(), env_steps=capacity)
    signing.sign_checkpoint(Location.of(folder))
    return len(state)


def timed(call, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def copy_once(folder: Path) -> None:
    with checkpoint.checked_copy(folder):
        pass


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--capacity", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--folder", default=None, help="where to write the checkpoint (default: a temporary one)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(dir=args.folder) as tmp:
        folder = Path(tmp) / "checkpoint_000001"
        size = write_paper_checkpoint(folder, args.capacity)
        location = Location.of(folder)
        print(f"checkpoint: {args.capacity:,} transitions, state file {size / 1e6:.0f} MB; "
              f"{platform.processor() or platform.machine()}, {platform.python_version()}")
        for name, call in (("signature (HMAC of the manifest)", lambda: signing.verify_checkpoint(location)),
                           ("full check (SHA-256 + plain-data unpickling)", lambda: checkpoint.check(folder)),
                           ("checked private copy for a restore", lambda: copy_once(folder))):
            print(f"{name:46s} {timed(call, args.repeats):6.2f} s")


if __name__ == "__main__":
    main()
