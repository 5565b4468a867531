"""Ray start-up for a run: connect to the cluster at RAY_ADDRESS or start a local one, and the one place
that says where the Ray dashboard listens (the dashboards' report links to it)."""

from __future__ import annotations

import os

DASHBOARD = ("127.0.0.1", 8265)


def dashboard_url() -> str:
    """The Ray dashboard's URL: RAY_DASHBOARD_URL (e.g. a port-forwarded cluster), else the local one."""
    host, port = DASHBOARD
    return os.environ.get("RAY_DASHBOARD_URL", f"http://{host}:{port}")


def init_ray(dashboard: bool, verbose: bool = False) -> None:
    """Connect to the cluster at RAY_ADDRESS, or start a local one (dashboard on 127.0.0.1:8265).

    The trials' own log lines (RLlib's and Ray's warnings) reach the terminal only with --verbose; they
    are always in the Ray dashboard and in each trial's folder, and a failing trial's error is reported.
    """
    import ray

    import algorithms
    import sweeps
    import tasks

    # Trials and env runners import our packages: ship them to the cluster (a local one already has them).
    if os.environ.get("RAY_ADDRESS"):
        context = ray.init(runtime_env={"py_modules": [algorithms, sweeps, tasks]}, log_to_driver=verbose)
    else:
        host, port = DASHBOARD
        context = ray.init(address="local", include_dashboard=dashboard, dashboard_host=host, dashboard_port=port,
                           log_to_driver=verbose)
    if context.dashboard_url:
        print(f"Ray dashboard: http://{context.dashboard_url}", flush=True)
