"""A trial's evaluation video (config `eval_video`): after each evaluation, one deterministic episode of the
policy just evaluated, filmed into <trial>/eval_video.mp4 (each evaluation replaces it: the last one stays),
its path in the iteration's result as `eval_video_file` for the W&B logger.

The experiment layer adds the callback when it builds a trial's config (sweeps/experiment.py), so the
algorithm films nothing itself; the filming is tasks/episodes.py's, the policy algorithms/sac_svg/policy_file.py's.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from ray.rllib.callbacks.callbacks import RLlibCallback
from ray.rllib.utils import force_list
from ray.rllib.utils.annotations import override

from algorithms import atomic
from algorithms.sac_svg import policy_file
from algorithms.sac_svg.metrics import EVAL_RETURN, EVAL_VIDEO
from tasks import names
from tasks.episodes import film

EVAL_VIDEO_FILE = "eval_video.mp4"
EVAL_VIDEO_SIZE = 320


class EvalVideo(RLlibCallback):
    """Films the evaluated policy on every iteration that reports an evaluation return."""

    @override(RLlibCallback)
    def on_train_result(self, *, algorithm, metrics_logger=None, result: dict, **kwargs) -> None:
        if EVAL_RETURN in result:
            # Tune has counted the iteration by now: the env seed is the iteration's index, as before it.
            result[EVAL_VIDEO] = record_trial_evaluation(algorithm, seed=algorithm.iteration - 1)


def with_eval_video(config):
    """`config` with EvalVideo beside its own callbacks when it asks for `eval_video`."""
    if config.eval_video:
        config.callbacks([*force_list(config.callbacks_class), EvalVideo])
    return config


def record_trial_evaluation(algorithm, seed: int) -> str | None:
    """One deterministic episode (env seed `seed`) of the learner's current policy into the trial folder's
    eval_video.mp4. Returns its path; None outside Tune."""
    import pyarrow.fs

    storage = getattr(algorithm, "_storage", None)
    if storage is None:
        return None
    tensors = policy_file.policy_tensors(policy_file.module_state(algorithm))
    task = names.task_name(algorithm.config.env)
    policy = policy_file.Policy(policy_file.make_spec(task, vars(algorithm.config), tensors))
    policy.load_state_dict(tensors)
    act = policy.act  # deterministic: tanh(mu(x))
    target = f"{storage.trial_fs_path}/{EVAL_VIDEO_FILE}"
    if isinstance(storage.storage_filesystem, pyarrow.fs.LocalFileSystem):
        with atomic.replacing(Path(target)) as partial:
            film(act, task, 1, seed, EVAL_VIDEO_SIZE, partial)
        return target
    with tempfile.TemporaryDirectory() as local:
        film(act, task, 1, seed, EVAL_VIDEO_SIZE, Path(local) / EVAL_VIDEO_FILE)
        pyarrow.fs.copy_files(str(Path(local) / EVAL_VIDEO_FILE), target,
                              destination_filesystem=storage.storage_filesystem)
    return target
