"""`make export CHECKPOINT=... [OUT=dir]`: a trained policy for plain torch, without Ray or RLlib.

    python -m agents.export CHECKPOINT [--out DIR] [--latest]

Writes DIR/policy.safetensors (the actor's and the observation normalizer's tensors) and DIR/policy.json
(the task, the sizes, the actor's layers in order, the svglab version); docs/agents.md shows the ten lines
of torch that load and run it. Default DIR: `export/` in the trial folder. An existing DIR is replaced only
if it holds an earlier export.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from agents import cli
from agents.load import AgentInputError, load, read_policy
from algorithms.sac_svg import policy_file


def export(source: Path, out: Path) -> dict:
    """Write the policy read from `source` to `out`; returns its spec."""
    tensors, spec = read_policy(source)
    spec = {**spec, "source": str(source)}
    policy_file.write(out, tensors, spec)
    return spec


def check_out(out: Path) -> None:
    """Refuse to replace anything but an earlier export (the write replaces the folder as a whole)."""
    if out.exists() and not (out / policy_file.SPEC).is_file() and (out.is_file() or any(out.iterdir())):
        raise AgentInputError(f"--out {out} exists and is not an export folder: give a new or empty folder")
    if not out.parent.is_dir():
        raise AgentInputError(f"--out {out}: folder {out.parent} does not exist")


def export_command(args) -> int:
    agent = load(args.checkpoint, latest=args.latest)
    print(f"policy: {agent.chosen}", flush=True)
    out = args.out or agent.source.parent / "export"
    check_out(out)
    spec = export(agent.source, out)
    print(f"wrote {out}: {policy_file.WEIGHTS} and {policy_file.SPEC} ({spec['task']}, observations "
          f"{spec['obs_dim']}, actions {spec['act_dim']}, {spec['hidden_depth']} x {spec['hidden_dim']} units)")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agents.export", description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", help="a sweep, trial, checkpoint or best_policy/ folder")
    parser.add_argument("--out", type=Path, default=None, help="the folder to write (default: <trial>/export)")
    parser.add_argument("--latest", action="store_true",
                        help="the trial's latest full checkpoint instead of its best evaluation's policy")
    return cli.run(export_command, parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
