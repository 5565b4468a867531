"""`make sweep` / `make reproduce` / `make train`: SAC-SVG(H) experiments orchestrated by Ray Tune.

    python -m sweeps.sweep --task Walker2d [--budget paper|smoke] [--results results]
        [--mode sweep|reproduce|train] [--space paper|official|FILE] [--seed N] [--set KEY=VALUE ...]
        [--schedules table4|official] [--from-sweep DIR] [--num-samples N] [--num-seeds N]
        [--gpus-per-trial F|auto] [--max-concurrent N] [--no-dashboard] [--verbose]

- sweep: appendix A.2's random search over the target-entropy schedule, SAC-SVG(H = 2) by default; the
  trials are drawn up front from the sweep seed (sweeps.search_space) and handed to Tune as a fixed list.
- reproduce: Table 2's runs: one schedule (the best of `--from-sweep DIR`, else Table 4's) for
  `--num-seeds` (default: the budget's) seeds with SAC-SVG(H) and, with the same seeds, the H = 0 SAC baseline.
- train: one trial with the task's Table 4 schedule (`make train`).
`--schedules official` (make: SCHEDULES=official) takes the official code's per-task schedule instead of
Table 4's in reproduce and train.

Everything lands in `<results>/<Task>-<mode>-<budget>/`, Tune's experiment folder (docs/sweeps.md), with a
`sweep.json` manifest. Running the same command again resumes the experiment. Bad input fails here,
before Ray starts, and writes nothing; so does a second run into a folder a running one holds
(sweeps.folder_lock).
"""

from __future__ import annotations

import argparse
import sys

from sweeps.budgets import BUDGETS
from sweeps.folder_lock import experiment_lock
from sweeps.layout import MODES
from sweeps.plan import SweepInputError, make_plan
from sweeps.tuner import run


def parse_args(argv=None, mode: str = "sweep") -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=f"python -m sweeps.{mode if mode in ('train', 'ablation') else 'sweep'}",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", required=True, help="task name, e.g. Walker2d, poplin-cheetah")
    parser.add_argument("--budget", default="paper", help=f"one of {', '.join(BUDGETS)} (default: paper)")
    parser.add_argument("--results", default="results",
                        help="results folder or URI: file://, s3://, gs:// (default: results)")
    parser.add_argument("--mode", default=mode, choices=MODES)
    parser.add_argument("--space", default="paper",
                        help="search space: paper (A.2, default), official, or a .json/.yaml file")
    parser.add_argument("--seed", type=int, default=None,
                        help="sweep: the sweep seed (default 0); reproduce: first of the seeds (default 1); "
                             "train: the trial's seed (default 1)")
    parser.add_argument("--set", dest="overrides", action="extend", nargs="+", default=[], metavar="KEY=VALUE",
                        help="override algorithm config fields, e.g. --set horizon=3 actor_lr=3e-4 (repeatable)")
    parser.add_argument("--official-defaults", action="store_true",
                        help="the official code's hyper-parameters where they differ from Table 3 "
                             "(docs/official-code.md)")
    parser.add_argument("--schedules", default=None, metavar="table4|official",
                        help="reproduce/train: the task's target-entropy schedule from the paper's Table 4 "
                             "(default) or the official code's per-task config (make: SCHEDULES=official)")
    parser.add_argument("--from-sweep", default=None,
                        help="reproduce: take the best schedule (and H) of this sweep folder or URI, as Table 4 "
                             "prints it (default: the paper's Table 4)")
    parser.add_argument("--ablation", default=None, metavar="NAME",
                        help="ablation: which one (make: NAME=): critic-mve (fig. 4 and 6) or model (fig. 3)")
    parser.add_argument("--arms", default=None, metavar="KEYS",
                        help="ablation critic-mve: only these arms, e.g. 'sac,sac-mve' (make: ARMS=; default: all "
                             "four: sac, sac-mve, svg, svg-mve)")
    parser.add_argument("--from-trial", default=None, metavar="DIR",
                        help="ablation model: take the episodes of this trial folder's latest checkpoint (a SAC run) "
                             "instead of training one (make: FROM=)")
    parser.add_argument("--num-samples", type=int, default=None,
                        help="sweep: configurations to draw (make: SAMPLES=N; default: the space's or budget's)")
    parser.add_argument("--num-seeds", type=int, default=None,
                        help="reproduce: seeds per schedule; ablation: seeds per arm; sweep: at most this many seeds "
                             "per configuration (make: SEEDS=N; default: the budget's)")
    parser.add_argument("--gpus-per-trial", default=None, metavar="F|auto",
                        help="fraction of a GPU for each trial's learner, env runners stay on CPUs (make: "
                             "GPUS_PER_TRIAL=F; default: the budget's: paper 'auto' = the cluster's GPUs shared "
                             "by the trials running at once, short/smoke 0)")
    parser.add_argument("--max-concurrent", type=int, default=None, help="trials at once (default: budget's)")
    parser.add_argument("--no-dashboard", action="store_true", help="do not start the Ray dashboard")
    parser.add_argument("--trust-folder", action="store_true",
                        help="resume an experiment folder whose Tune state or checkpoints your svglab did not "
                             "sign (another user's): you trust everyone who could write to "
                             "it, since resuming unpickles Tune's state (docs/sweeps.md: what a resume trusts)")
    parser.add_argument("--verbose", action="store_true",
                        help="also print Tune's status tables and the trials' own log lines")
    return parser.parse_args(argv)


def main(argv=None, mode: str = "sweep") -> int:
    args = parse_args(argv, mode)
    try:
        plan = make_plan(args)
        with experiment_lock(plan.exp_dir):  # one run per experiment folder, before Ray starts
            return run(plan, args)
    except SweepInputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
