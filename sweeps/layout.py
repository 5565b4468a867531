"""The results layout: an experiment folder, <RESULTS>/<Task>-<mode>-<budget>/, holds the sweep's manifest and
one folder per trial; a trial folder holds Tune's configuration and per-iteration results (docs/sweeps.md:
outputs). Names only, no imports: the dashboards read a results folder without loading the learner's stack."""

# The modes of an experiment: `make sweep`, `make reproduce`, `make train`, `make ablation`.
SWEEP, REPRODUCE, TRAIN, ABLATION = "sweep", "reproduce", "train", "ablation"
MODES = (SWEEP, REPRODUCE, TRAIN, ABLATION)

SWEEP_FILE = "sweep.json"  # the experiment folder's manifest (sweeps/plan.py writes it)
PARAMS_FILE = "params.json"  # a trial's configuration (Tune's EXPR_PARAM_FILE)
PROGRESS_FILE = "progress.csv"  # a trial's results, one row per iteration (Tune's EXPR_PROGRESS_FILE)
RESULT_FILE = "result.json"  # the same, one JSON line per iteration (Tune's EXPR_RESULT_FILE)


def experiment_dirname(task: str, mode: str, budget: str, ablation: str | None = None) -> str:
    """The experiment folder under RESULTS: <Task>-<mode>-<budget>; an ablation's <Task>-ablation-<name>-<budget>."""
    return f"{task}-{mode}-{budget}" if ablation is None else f"{task}-{mode}-{ablation}-{budget}"
