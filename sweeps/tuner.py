"""The Tune side of a run: the Tuner over the plan's fixed list of trials (or a restored one when the
experiment folder holds one), its callbacks, the resume checks, and the run itself."""

from __future__ import annotations

import argparse
import os
import sys

from algorithms.sac_svg.metrics import DONE, ENV_STEPS, EVAL_RETURN, LEARNER_METRICS
from sweeps.layout import SWEEP_FILE
from sweeps.placement import place_learners
from sweeps.plan import Plan, SweepInputError, write_manifest
from sweeps.ray_setup import init_ray, require_shared_storage
from sweeps.results import print_summary, trial_table
from sweeps.wandb_logging import wandb_callbacks
from tasks import shipped_modules


def trial_dirname(trial) -> str:
    """Readable trial folders: <id>_H=2_init=0_final=-8_beta=4_seed=3 (with an MVE critic: <id>_H=2_critic=full_...)."""
    c = trial.config
    critic = f"_critic={c['critic_mve']}" if c.get("critic_mve", "none") != "none" else ""
    return (f"{trial.trial_id}_H={c.get('horizon')}{critic}_init={c.get('target_entropy_init')}_"
            f"final={c.get('target_entropy_final')}_beta={c.get('target_entropy_beta')}_seed={c.get('seed')}")


def callbacks(plan: Plan) -> list:
    """The progress line, W&B, progress.csv with a column for eval_return and each learner metric (an
    iteration without one writes NaN) and result.json, both rewound when a trial restores from a checkpoint,
    and TensorBoard's events (Tune adds no loggers of its own: run())."""
    from sweeps.progress import ProgressCSV, ResultJSON, SweepProgress, TensorBoardEvents
    from sweeps.signing import SignedState

    return [
        SignedState(),
        SweepProgress(plan.exp_dir.name, plan.steps_per_trial),
        *wandb_callbacks(plan.exp_dir.name),
        ProgressCSV([EVAL_RETURN, *LEARNER_METRICS]),
        ResultJSON(),
        TensorBoardEvents(),
    ]


def make_tuner(plan: Plan, args: argparse.Namespace):
    from ray import tune
    from ray.tune.search.basic_variant import BasicVariantGenerator

    from algorithms.sac_svg import SACSVG
    if tune.Tuner.can_restore(plan.exp_dir.full):
        print(f"Resuming {plan.exp_dir} (finished trials are kept, unfinished ones continue "
              "from their last checkpoint)", flush=True)
        return signed(tune.Tuner.restore(plan.exp_dir.full, trainable=SACSVG, resume_errored=True))
    budget = plan.budget
    return tune.Tuner(
        SACSVG,
        param_space=plan.param_space,
        tune_config=tune.TuneConfig(
            num_samples=len(plan.trials),
            search_alg=BasicVariantGenerator(
                points_to_evaluate=plan.trials, max_concurrent=args.max_concurrent or budget.max_concurrent_trials or 0
            ),
            trial_dirname_creator=trial_dirname,
        ),
        run_config=tune.RunConfig(
            name=plan.exp_dir.name,
            storage_path=plan.exp_dir.parent.full,  # a URI as given: Tune stores through pyarrow.fs too
            stop={ENV_STEPS: plan.steps_per_trial},
            checkpoint_config=tune.CheckpointConfig(
                num_to_keep=budget.keep_checkpoints,
                checkpoint_frequency=budget.checkpoint_every,
                checkpoint_at_end=True,
            ),
            failure_config=tune.FailureConfig(max_failures=budget.max_failures),
            callbacks=callbacks(plan),
            verbose=1 if args.verbose else 0,
        ),
    )


def signed(tuner):
    """A restored Tuner whose callbacks sign what it writes, also when its `tuner.pkl` came from an svglab
    without signatures (resumed with --trust-folder)."""
    from sweeps.signing import SignedState

    run_config = tuner._local_tuner.get_run_config()
    if not any(isinstance(c, SignedState) for c in run_config.callbacks or []):
        run_config.callbacks = [SignedState(), *(run_config.callbacks or [])]
    return tuner


def check_resume(plan: Plan, trust_folder: bool = False) -> None:
    """Before Ray starts and before anything in the folder is unpickled: Tune's state and every checkpoint of
    an unfinished trial were signed by this user's driver (sweeps/signing.py), unless `trust_folder`, which
    then signs them; every unfinished trial's latest checkpoint (the one a resume loads) is complete and holds
    plain data (algorithms/sac_svg/checkpoint.py), trusted or not."""
    from sweeps import signing

    try:
        signing.signing_key()  # created, or refused when others can read it, before Ray starts
    except signing.KeyFileError as error:
        raise SweepInputError(str(error)) from None
    try:
        if not trust_folder:
            signing.verify_tune_state(plan.exp_dir)
        for trial, checkpoints in unfinished_checkpoints(plan).items():
            check_trial_checkpoints(trial, checkpoints, trust_folder)
    except signing.UntrustedFolderError as error:
        raise SweepInputError(f"{error}. Nothing was read or changed. Resuming loads pickled objects from this "
                              "folder, which can run code: if you trust everyone who could write to it, run the "
                              "same command with --trust-folder (make: ARGS=--trust-folder); else start a new "
                              "experiment (another --results).") from None


def unfinished_checkpoints(plan: Plan) -> dict:
    """Each unfinished trial's checkpoint folders, oldest first."""
    table = trial_table(plan.exp_dir)
    unfinished = ~(table[ENV_STEPS] >= plan.steps_per_trial)  # NaN: no results yet
    return {trial: checkpoints for trial in table[unfinished]["trial"]
            if (checkpoints := (plan.exp_dir / trial).glob("checkpoint_*"))}


def check_trial_checkpoints(trial: str, checkpoints: list, trust_folder: bool) -> None:
    """The checkpoints a resume may load: those your driver signed (Tune's signed state never names another:
    the driver signs a checkpoint as it records it), or, trusted, all of them, which are then signed; the
    latest of them checked in full."""
    from algorithms.sac_svg import checkpoint
    from sweeps import signing

    if not trust_folder:
        unsigned = [folder for folder in checkpoints if not signing.checkpoint_signed(folder)]
        for folder in unsigned:
            print(f"note: {folder} was not signed (its run stopped before recording it): a resume does not "
                  "load it", flush=True)
        checkpoints = [folder for folder in checkpoints if folder not in unsigned]
    if not checkpoints:
        return
    try:
        with local_folder(checkpoints[-1]) as local:
            try:
                checkpoint.check(local)
            except checkpoint.CheckpointError as error:
                raise checkpoint.CheckpointError(str(error).replace(str(local), str(checkpoints[-1]))) from None
        for folder in checkpoints if trust_folder else ():
            signing.sign_checkpoint(folder)
    except checkpoint.CheckpointError as problem:
        raise SweepInputError(
            f"cannot resume trial {trial}: {problem}. Nothing was changed: move {checkpoints[-1]} aside to "
            "resume from the checkpoint before it (or from the start), then run the same command again.") from None


def local_folder(folder):
    """A local path of a checkpoint folder: itself on a local disk (a path or file://, checked in place, links
    and all), else a temporary copy (object storage has no links)."""
    import contextlib
    from pathlib import Path

    import pyarrow.fs as pafs

    if isinstance(folder.fs, pafs.LocalFileSystem):
        return contextlib.nullcontext(Path(folder.path))
    return folder.as_local()


def run(plan: Plan, args: argparse.Namespace) -> int:
    import ray

    from sweeps import storage_errors as storage

    storage.check_writable(plan.exp_dir)
    write_manifest(plan)
    check_resume(plan, trust_folder=args.trust_folder)
    print(f"{plan.mode} {plan.exp_dir.name}: {len(plan.trials)} trials x {plan.steps_per_trial:,} env steps "
          f"-> {plan.exp_dir}", flush=True)
    if plan.memory:
        print(f"memory: each trial's learner holds {plan.memory}", flush=True)
    init_ray(dashboard=not args.no_dashboard, verbose=args.verbose, code=shipped_modules(plan.task))
    place_learners(plan.param_space, plan.gpus_per_trial, plan.trials,
                   args.max_concurrent or plan.budget.max_concurrent_trials)
    # Checkpoints (and so experiment snapshots) come as often as the budget asks: no warning about it.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    os.environ["TUNE_DISABLE_AUTO_CALLBACK_LOGGERS"] = "1"  # callbacks() has every logger
    print(f"TensorBoard: tensorboard --logdir {plan.exp_dir}", flush=True)
    results = []
    with storage.storage_errors_reported_once() as storage_errors:
        try:
            require_shared_storage(plan.exp_dir / SWEEP_FILE)
            results = make_tuner(plan, args).fit()
        except Exception as error:  # the driver's own writes (Tune's state, progress.csv), maybe wrapped by Tune
            if not (storage_errors.note(error) or storage_errors.seen):
                raise
            # Tune, reading back what the full disk cut short, fails too: said in one line after the cause.
            storage_errors.after = f"{type(error).__name__}: {error}"
        finally:
            ray.shutdown()
    storage_errors.seen += [p for r in getattr(results, "errors", []) if (p := storage.storage_errno(r))]
    if storage_errors.seen:
        print(f"error: {storage.storage_problem(plan.exp_dir, storage_errors.seen[0])}"
              + (f" (Tune then failed with {storage_errors.after})" if storage_errors.after else ""), file=sys.stderr)
        return 1
    if plan.ablation is None:  # an ablation's arms differ in more than the schedule: dashboards.ablations tables them
        print_summary(plan.exp_dir)
    unfinished = [r for r in results if r.metrics is None or not _finished(r.metrics, plan.steps_per_trial)]
    if results.errors or unfinished:
        print(f"{len(results.errors)} trial(s) failed, {len(unfinished)} unfinished: run the same command "
              "again to resume.", file=sys.stderr)
        return 1
    return 0


def _finished(metrics: dict, steps: int) -> bool:
    return metrics.get(DONE) is True or metrics.get(ENV_STEPS, 0) >= steps
