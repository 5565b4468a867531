"""`make export CHECKPOINT=... [OUT=dir]`: a trained policy for plain torch, without Ray or RLlib.

    python -m agents.export CHECKPOINT [--out DIR] [--latest]

Writes DIR/policy.safetensors (the actor's and the observation normalizer's tensors) and DIR/policy.json
(the task, the sizes, the actor's layers in order, the svglab version); docs/agents.md shows the ten lines
of torch that load and run it. Default DIR: `export/` in the trial folder. An existing DIR is replaced only
if it holds an earlier export and nothing else: a folder with other files in it is refused, unchanged.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from agents import cli
from agents.load import AgentInputError, load, read_policy
from algorithms.sac_svg import checkpoint, policy_file


def export(source: Path, out: Path) -> dict:
    """Write the policy read from `source` to `out`; returns its spec."""
    tensors, spec = read_policy(source)
    spec = {**spec, "source": str(source)}
    policy_file.write(out, tensors, spec)
    return spec


def check_out(out: Path) -> None:
    """`out` may be new, empty, or an earlier export holding only the files svglab wrote there (its manifest
    lists them): the write replaces the folder as a whole, so a folder holding anything else is refused and
    left as it is."""
    if not out.parent.is_dir():
        raise AgentInputError(f"--out {out}: folder {out.parent} does not exist")
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise AgentInputError(f"--out {out} exists and is not a folder: give a new or empty folder")
    others = sorted(p.name for p in out.iterdir() if p.name not in _written_by_export(out)) if out.exists() else []
    if others:
        shown = ", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
        raise AgentInputError(f"--out {out} holds files that svglab did not write there ({shown}); nothing was "
                              "changed. Give a new or empty folder, or the folder of an earlier export")


def _written_by_export(out: Path) -> set[str]:
    """The regular files an earlier export wrote in `out` (its manifest and the files it lists); none when
    `out` holds no readable manifest of an export."""
    try:
        listed = checkpoint.read_manifest(out)["files"]
    except checkpoint.CheckpointError:
        return set()
    if policy_file.SPEC not in listed:
        return set()
    return {name for name in [*listed, checkpoint.MANIFEST]
            if "/" not in name and (out / name).is_file() and not (out / name).is_symlink()}


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
