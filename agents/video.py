"""`make video CHECKPOINT=... [OUT=file.mp4] [EPISODES=1]`: a trained policy's episodes as an MP4.

    python -m agents.video CHECKPOINT [--out FILE.mp4] [--episodes 1] [--seed 0] [--size 480] [--stochastic]
        [--latest] [--task T]

Renders off-screen with MuJoCo (MUJOCO_GL, default egl; osmesa also works) at the env's frame rate and
writes H.264 with the ffmpeg that the imageio-ffmpeg package ships (tasks/episodes.py). Default OUT:
<checkpoint>.mp4 beside the checkpoint folder.
"""
from __future__ import annotations

import sys
from pathlib import Path

from agents import cli
from agents.load import AgentInputError
from algorithms import atomic
from tasks.episodes import CannotFilm, film


def video_command(args) -> int:
    if args.out is not None and args.out.suffix != ".mp4":
        raise AgentInputError(f"--out {args.out}: the video is an MP4, name it .mp4")
    if args.size < 16 or args.size % 8:
        raise AgentInputError(f"--size {args.size}: use a multiple of 8, at least 16")
    agent, task = cli.loaded(args)
    out = args.out or agent.source.parent / f"{agent.source.name}.mp4"
    if not out.parent.is_dir():
        raise AgentInputError(f"--out {out}: folder {out.parent} does not exist")
    try:
        with atomic.replacing(out) as partial:
            returns, frames = film(lambda obs: agent.policy.act(obs, args.stochastic), task, args.episodes,
                                   args.seed, args.size, partial)
    except CannotFilm as error:
        raise AgentInputError(f"{error}; `make evaluate` runs the policy without one") from None
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
