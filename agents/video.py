"""`make video CHECKPOINT=... [OUT=file.mp4] [EPISODES=1]`: a trained policy's episodes as an MP4.

    python -m agents.video CHECKPOINT [--out FILE.mp4] [--episodes 1] [--seed 0] [--size 480] [--stochastic]
        [--latest] [--task T]

Renders off-screen with MuJoCo (MUJOCO_GL, default egl; osmesa also works) at the env's frame rate and
writes H.264 with the ffmpeg that the imageio-ffmpeg package ships. Default OUT: <checkpoint>.mp4 beside
the checkpoint folder.
"""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import gymnasium as gym
import numpy as np
from gymnasium.envs.mujoco import MujocoEnv

from agents import cli
from agents.evaluate import run_episode
from agents.load import AgentInputError, Policy
from tasks import Task, make_env, names


def record(policy: Policy, task: Task | str, episodes: int, seed: int, stochastic: bool, size: int,
           out: Path) -> tuple[list[float], int]:
    """Render `episodes` episodes (env seeds seed, seed + 1, ...) into the MP4 `out`, written whole or not
    at all. Returns the episodes' returns and the number of frames (the reset and every step)."""
    import imageio.v2 as imageio

    os.environ.setdefault("MUJOCO_GL", "egl")  # read when the first off-screen context is made
    env = rendering_env(task, size)
    partial = out.with_name(f".{out.stem}.partial-{os.getpid()}{out.suffix}")
    returns, frames = [], 0
    with imageio.get_writer(partial, format="FFMPEG", fps=env.metadata.get("render_fps") or 30, codec="libx264",
                            quality=7, macro_block_size=8) as writer:
        def frame() -> None:
            nonlocal frames
            writer.append_data(np.asarray(env.render()))
            frames += 1

        for i in range(episodes):
            returns.append(run_episode(policy, env, seed + i, stochastic, on_step=frame)[0])
    env.close()
    partial.replace(out)
    return returns, frames


def rendering_env(task: Task | str, size: int) -> gym.Env:
    """The task's environment drawing `size` x `size` rgb_array frames (a MuJoCo task; any other environment
    draws frames of its own size); AgentInputError when it draws no rgb_array frames."""
    probe = make_env(task)
    modes, is_mujoco = probe.metadata.get("render_modes") or [], isinstance(probe.unwrapped, MujocoEnv)
    probe.close()
    name = task if isinstance(task, str) else task.name
    if "rgb_array" not in modes:
        raise AgentInputError(f"TASK={name} draws no rgb_array frames (its render modes: {', '.join(modes) or 'none'})"
                              ": no video; `make evaluate` runs the policy without one")
    if not is_mujoco:
        env = make_env(task, render_mode="rgb_array")
        try:  # e.g. gymnasium's classic control without pygame
            env.reset(seed=0)
            env.render()
        except Exception as error:
            raise AgentInputError(f"TASK={name} cannot draw rgb_array frames here ({type(error).__name__}: "
                                  f"{str(error).splitlines()[0] if str(error) else ''}): no video") from None
        return env
    env = make_env(task, render_mode="rgb_array", width=size, height=size)
    # Set before the first frame makes the context: a 1024-pixel shadow map, no multisampling. With
    # MuJoCo's defaults (4096, 4 samples) Mesa's software EGL drew a frame 8x slower on a 2-core CPU.
    env.unwrapped.model.vis.quality.shadowsize = 1024
    env.unwrapped.model.vis.quality.offsamples = 0
    return env


EVAL_VIDEO_FILE = "eval_video.mp4"
EVAL_VIDEO_SIZE = 320


def record_trial_evaluation(algorithm) -> str | None:
    """In a trial (config eval_video): one deterministic episode of the policy just evaluated, env seed = the
    iteration, into <trial>/eval_video.mp4 (each evaluation replaces it: the last one stays). Returns its path
    for the W&B logger; None outside Tune."""
    import pyarrow.fs

    from algorithms.sac_svg import policy_file

    storage = getattr(algorithm, "_storage", None)
    if storage is None:
        return None
    tensors = policy_file.policy_tensors(policy_file.module_state(algorithm))
    task = names.task_name(algorithm.config.env)
    policy = Policy(policy_file.make_spec(task, vars(algorithm.config), tensors))
    policy.load_state_dict(tensors)
    target = f"{storage.trial_fs_path}/{EVAL_VIDEO_FILE}"
    if isinstance(storage.storage_filesystem, pyarrow.fs.LocalFileSystem):
        record(policy, task, 1, algorithm.iteration, False, EVAL_VIDEO_SIZE, Path(target))
        return target
    with tempfile.TemporaryDirectory() as local:
        record(policy, task, 1, algorithm.iteration, False, EVAL_VIDEO_SIZE, Path(local) / EVAL_VIDEO_FILE)
        pyarrow.fs.copy_files(str(Path(local) / EVAL_VIDEO_FILE), target,
                              destination_filesystem=storage.storage_filesystem)
    return target


def video_command(args) -> int:
    if args.out is not None and args.out.suffix != ".mp4":
        raise AgentInputError(f"--out {args.out}: the video is an MP4, name it .mp4")
    if args.size < 16 or args.size % 8:
        raise AgentInputError(f"--size {args.size}: use a multiple of 8, at least 16")
    agent, task = cli.loaded(args)
    out = args.out or agent.source.parent / f"{agent.source.name}.mp4"
    if not out.parent.is_dir():
        raise AgentInputError(f"--out {out}: folder {out.parent} does not exist")
    returns, frames = record(agent.policy, task, args.episodes, args.seed, args.stochastic, args.size, out)
    print(f"wrote {out}: {args.episodes} episode(s) of {task.name}, returns "
          f"{', '.join(f'{r:.1f}' for r in returns)}, {frames} frames of {args.size}x{args.size}")
    return 0


def main(argv=None) -> int:
    parser = cli.parser(__doc__.split("\n\n")[0], "python -m agents.video", episodes=1)
    parser.add_argument("--out", type=Path, default=None, help="the MP4 to write (default: <checkpoint>.mp4)")
    parser.add_argument("--size", type=int, default=480, help="frame width and height in pixels (default 480)")
    return cli.run(video_command, parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
