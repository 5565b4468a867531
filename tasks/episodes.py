"""Episodes of a policy on a task: run one, or film several into an MP4.

A policy here is any `act(observation) -> action`, so that every layer above can run and film its own: the
agent commands (agents/evaluate.py, agents/video.py) a loaded policy, a trial (sweeps/eval_video.py) the
policy it just evaluated.

Filming renders off-screen with MuJoCo (MUJOCO_GL, default egl; osmesa also works) at the env's frame rate and
writes H.264 with the ffmpeg that the imageio-ffmpeg package ships.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import gymnasium as gym
import numpy as np
from gymnasium.envs.mujoco import MujocoEnv

from tasks.registry import Task
from tasks.resolve import make_env

Act = Callable[[np.ndarray], np.ndarray]


def run_episode(act: Act, env, seed: int, on_step: Callable[[], None] | None = None) -> tuple[float, int]:
    """(return, length) of one episode from `env.reset(seed=seed)`; `on_step` runs after the reset and after
    every step (e.g. to render a frame)."""
    obs, _ = env.reset(seed=seed)
    total, steps, done = 0.0, 0, False
    if on_step:
        on_step()
    while not done:
        obs, reward, terminated, truncated, _ = env.step(act(obs))
        total, steps, done = total + float(reward), steps + 1, terminated or truncated
        if on_step:
            on_step()
    return total, steps


class CannotFilm(ValueError):
    """The task's environment draws no rgb_array frames (here)."""


def rendering_env(task: Task | str, size: int) -> gym.Env:
    """The task's environment drawing `size` x `size` rgb_array frames (a MuJoCo task; any other environment
    draws frames of its own size); CannotFilm when it draws none."""
    probe = make_env(task)
    modes, is_mujoco = probe.metadata.get("render_modes") or [], isinstance(probe.unwrapped, MujocoEnv)
    probe.close()
    name = task if isinstance(task, str) else task.name
    if "rgb_array" not in modes:
        raise CannotFilm(f"TASK={name} draws no rgb_array frames (its render modes: {', '.join(modes) or 'none'})"
                         ": no video")
    if not is_mujoco:
        env = make_env(task, render_mode="rgb_array")
        try:  # e.g. gymnasium's classic control without pygame
            env.reset(seed=0)
            env.render()
        except Exception as error:  # noqa: BLE001 - any renderer failure is the same answer: no video here
            raise CannotFilm(f"TASK={name} cannot draw rgb_array frames here ({type(error).__name__}: "
                             f"{str(error).splitlines()[0] if str(error) else ''}): no video") from None
        return env
    env = make_env(task, render_mode="rgb_array", width=size, height=size)
    # Set before the first frame makes the context: a 1024-pixel shadow map, no multisampling, which software
    # rendering draws much faster than MuJoCo's defaults (docs/agents.md: make video).
    env.unwrapped.model.vis.quality.shadowsize = 1024
    env.unwrapped.model.vis.quality.offsamples = 0
    return env


def film(act: Act, task: Task | str, episodes: int, seed: int, size: int, out: Path) -> tuple[list[float], int]:
    """Render `episodes` episodes (env seeds seed, seed + 1, ...) into the MP4 `out` (a caller replacing a
    file passes algorithms.atomic's partial). Returns the episodes' returns and the number of frames (the reset
    and every step)."""
    import imageio.v2 as imageio

    os.environ.setdefault("MUJOCO_GL", "egl")  # read when the first off-screen context is made
    env = rendering_env(task, size)
    returns, frames = [], 0
    with imageio.get_writer(out, format="FFMPEG", fps=env.metadata.get("render_fps") or 30, codec="libx264",
                            quality=7, macro_block_size=8) as writer:
        def frame() -> None:
            nonlocal frames
            writer.append_data(np.asarray(env.render()))
            frames += 1

        for i in range(episodes):
            returns.append(run_episode(act, env, seed + i, on_step=frame)[0])
    env.close()
    return returns, frames
