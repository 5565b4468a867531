"""`make ablation NAME=critic-mve|model TASK=... [BUDGET=...] [SEEDS=N] [FROM=<trial folder>]`: the entry point
that runs one of the paper's ablations (their arms and budgets are data in sweeps.ablation_catalog) through the
ordinary sweep machinery (sweeps.plan, sweeps.tuner: validation before Ray starts, the sweep.json manifest,
resume, W&B group, progress line), in `<results>/<Task>-ablation-<name>-<budget>/`.

    python -m sweeps.ablation --ablation critic-mve --task Walker2d --budget smoke [--num-seeds N]
    python -m sweeps.ablation --ablation model --task Walker2d --budget smoke [--from-trial DIR]

`critic-mve` runs one Tune trial per arm and seed. `model` runs the SAC trial (unless `--from-trial` gives one),
then fits both dynamics models on its episodes (sweeps.model_ablation). The plots and tables come from
`python -m dashboards.ablations` (the Makefile runs it next).
"""

from __future__ import annotations

import sys
from pathlib import Path

from sweeps.cli import parse_args
from sweeps.folder_lock import experiment_lock
from sweeps.layout import PARAMS_FILE
from sweeps.plan import Plan, SweepInputError, make_plan, write_manifest


def main(argv=None) -> int:
    args = parse_args(argv, mode="ablation")
    try:
        plan = make_plan(args)
        with experiment_lock(plan.exp_dir):  # one run per experiment folder, as sweeps.cli; the fit included
            return _run(plan, args)
    except SweepInputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def _run(plan: Plan, args) -> int:
    """The Tune trials (none with FROM=), then the model ablation's fit."""
    if plan.trials:
        from sweeps.tuner import run

        code = run(plan, args)
    else:
        write_manifest(plan)
        code = 0
    if code != 0 or plan.model_fit is None:
        return code
    return fit_models(plan)


def fit_models(plan: Plan) -> int:
    """The model ablation's second stage, on the source trial's latest checkpoint."""
    from sweeps.model_ablation import run_model_fit
    from sweeps.replay_episodes import latest_checkpoint
    from tasks import make_env

    exp_dir = Path(plan.exp_dir.local)
    source = Path(plan.from_trial.local) if plan.from_trial else _trained_trial(exp_dir)
    if source is None or latest_checkpoint(source) is None:
        print(f"error: no checkpointed SAC trial in {exp_dir}: run the same command again", file=sys.stderr)
        return 1
    path = run_model_fit(exp_dir, source, plan.base_config, plan.model_fit, make_env(plan.task))
    print(f"model ablation: errors per unroll step in {path}", flush=True)
    return 0


def _trained_trial(exp_dir: Path) -> Path | None:
    trials = sorted(p.parent for p in exp_dir.glob(f"*/{PARAMS_FILE}"))
    return trials[0] if trials else None


if __name__ == "__main__":
    sys.exit(main())
