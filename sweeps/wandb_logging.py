"""W&B for sweeps and tables: the one decision of the W&B mode (online, offline, disabled), and Ray's W&B
callback made safe (a W&B problem never fails a sweep)."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
from pathlib import Path

from ray.air.integrations.wandb import WandbLoggerCallback

logger = logging.getLogger(__name__)

WANDB_PROJECT = "svglab"


def wandb_logged_in() -> bool:
    """Whether W&B has credentials: WANDB_API_KEY, else the file WANDB_API_KEY_FILE names (the docker compose
    cluster's secret), else what `wandb login` stored: the key in W&B's settings, or the .netrc entry for the
    configured host, read by W&B's own readers as files (wandb.login would start W&B's service process and
    contact the server, and the process could then hang at exit); their status lines are not shown: svglab
    says the mode."""
    if os.environ.get("WANDB_API_KEY") or _key_file():
        return True
    try:
        from wandb.sdk import wandb_setup
        from wandb.sdk.lib.wbauth import wbnetrc

        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            settings = wandb_setup.singleton().settings
            return bool(settings.api_key or wbnetrc.read_netrc_auth(host=settings.base_url))
    except Exception:  # noqa: BLE001 - no wandb or unreadable settings: offline
        return False


def _key_file() -> str | None:
    """WANDB_API_KEY_FILE when it names a readable file holding a key (an empty one, e.g. /dev/null: none)."""
    path = os.environ.get("WANDB_API_KEY_FILE")
    try:
        return path if path and Path(path).read_text().strip() else None
    except OSError:
        return None


def wandb_mode() -> str:
    """WANDB_MODE if the user set it; else online when logged in (WANDB_API_KEY or `wandb login`), else
    offline: runs stay on disk, syncable later with `wandb sync`."""
    if os.environ.get("WANDB_MODE"):
        return os.environ["WANDB_MODE"].lower()
    return "online" if wandb_logged_in() else "offline"


def wandb_online() -> bool:
    """W&B is online: an API key is present and the mode is online (not offline, dryrun or disabled)."""
    return wandb_mode() == "online" and wandb_logged_in()


def wandb_callbacks(group: str) -> list:
    """Ray's WandbLoggerCallback: project "svglab", the experiment folder's name as group, one run per
    trial (in the trial's folder, under wandb/). Empty when WANDB_MODE=disabled."""
    mode = wandb_mode()
    os.environ["WANDB_MODE"] = mode  # the driver-side check for an API key reads this
    if mode == "disabled":
        return []
    print(f"W&B: project {WANDB_PROJECT!r}, group {group!r}, {mode}", flush=True)
    key_file = None if os.environ.get("WANDB_API_KEY") else _key_file()
    return [SafeWandbLoggerCallback(project=WANDB_PROJECT, group=group, mode=mode, resume="allow",
                                   api_key_file=key_file, settings={"silent": True})]


class SafeWandbLoggerCallback(WandbLoggerCallback):
    """WandbLoggerCallback that never fails a sweep: the first W&B error is logged and W&B is switched off
    for the rest of the run; the errors and the results that W&B then missed are counted and reported when
    the sweep ends (the results themselves are in the trial folders either way)."""

    _broken = False
    errors = skipped = 0

    def _safely(self, method, *args, **kwargs):
        if self._broken:
            self.skipped += 1
            return None
        try:
            return method(*args, **kwargs)
        except Exception as error:  # noqa: BLE001 - any W&B problem
            self._broken = True
            self.errors += 1
            self.first_error = f"{type(error).__name__}: {error}"
            logger.warning("W&B logging switched off after an error: %s", error)
            return None

    def report(self) -> str | None:
        """One line on the W&B errors of the sweep, None when there were none."""
        if not self.errors:
            return None
        return (f"W&B: {self.errors} error(s), W&B logging was switched off after the first ({self.first_error}); "
                f"{self.skipped} W&B call(s) skipped after it. The results are complete in the trial folders.")

    def _start_logging_actor(self, trial, exclude_results, **wandb_init_kwargs):
        # Ray builds each trial's logging actor with max_restarts=-1 and the trial's Queue (an actor handle,
        # so an object-store reference) as a constructor argument: Ray's core worker then logs an error
        # line, since a restart could not rebuild the actor once that reference is gone (ray#53727). Build
        # the same actor without restarts instead: a crashed logging actor ends that trial's W&B run, as
        # any other W&B error does here.
        if not self._remote_logger_class:
            import ray
            from ray.air.integrations.wandb import WANDB_ENV_VAR
            from ray.air.util.node import _force_on_current_node

            env_vars = {WANDB_ENV_VAR: os.environ[WANDB_ENV_VAR]} if WANDB_ENV_VAR in os.environ else {}
            self._remote_logger_class = ray.remote(
                num_cpus=0, **_force_on_current_node(), runtime_env={"env_vars": env_vars}, max_restarts=0,
            )(self._logger_actor_cls)
        return super()._start_logging_actor(trial, exclude_results, **wandb_init_kwargs)

    def setup(self, *args, **kwargs):
        self._broken, self.errors, self.skipped = False, 0, 0
        return self._safely(super().setup, *args, **kwargs)

    def log_trial_start(self, trial):
        return self._safely(super().log_trial_start, trial)

    def log_trial_result(self, iteration, trial, result):
        return self._safely(super().log_trial_result, iteration, trial, with_video(result))

    def log_trial_save(self, trial):
        return self._safely(super().log_trial_save, trial)

    def log_trial_end(self, trial, failed=False):
        return self._safely(super().log_trial_end, trial, failed)

    def on_experiment_end(self, trials, **info):
        # Trials cut short by Ctrl-C never get log_trial_end: end their runs too, or Ray's callback waits
        # `upload_timeout` (30 min) for them.
        for trial in list(getattr(self, "_trial_queues", {})):
            self._safely(self._signal_logging_actor_stop, trial)
        ended = self._safely(super().on_experiment_end, trials, **info)
        if self.report():
            print(self.report(), file=sys.stderr, flush=True)
        return ended


def with_video(result: dict) -> dict:
    """The result with its evaluation video's path (config eval_video) as a wandb.Video, which W&B uploads;
    without it when the file is not on this machine (a URI's storage)."""
    from algorithms.sac_svg.metrics import EVAL_VIDEO

    if EVAL_VIDEO not in result:
        return result
    path = result[EVAL_VIDEO]
    rest = {k: v for k, v in result.items() if k != EVAL_VIDEO}
    if not path or not os.path.isfile(path):
        return rest
    import wandb

    return {**rest, EVAL_VIDEO: wandb.Video(path, format="mp4")}
