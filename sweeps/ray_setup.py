"""Ray start-up for a run: connect to the cluster at RAY_ADDRESS or start a local one, check that every node
of a cluster sees the results storage, and the one place that says where the Ray dashboard listens (the
dashboards' report links to it).

Each local run starts a Ray of its own: two sweeps on one machine (into different experiment folders) run
side by side, each with its own ports. Ray picks every port of a local instance free, the dashboard's too:
the first free one from 8265 up, printed at start ("Ray dashboard: http://127.0.0.1:8266")."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from pathlib import Path

from sweeps.storage import Location

DASHBOARD = ("127.0.0.1", 8265)  # the first local Ray's; a second one beside it takes the next free port


class _TokenAuthNotice(logging.Filter):
    """Drops Ray's notice that a local Ray has token authentication on, which ends by saying how to turn it off:
    svglab keeps it on (Ray's warning when it is off still shows)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Token authentication is enabled for this Ray cluster.")


logging.getLogger("ray._private.authentication.authentication_token_setup").addFilter(_TokenAuthNotice())


def dashboard_url() -> str:
    """The Ray dashboard's URL: RAY_DASHBOARD_URL (e.g. a port-forwarded cluster), else the local one."""
    host, port = DASHBOARD
    return os.environ.get("RAY_DASHBOARD_URL", f"http://{host}:{port}")


def init_ray(dashboard: bool, verbose: bool = False, code: list | None = None) -> None:
    """Connect to the cluster at RAY_ADDRESS, or start a local one (dashboard on the first free port from
    127.0.0.1:8265, printed). `code`: the researcher's modules a cluster's workers need besides svglab's
    (tasks.shipped_modules); a local Ray's workers import them from the driver's own path.

    The trials' own log lines (RLlib's and Ray's warnings) reach the terminal only with --verbose; they
    are always in the Ray dashboard and in each trial's folder, and a failing trial's error is reported.
    """
    import ray

    import algorithms
    import sweeps
    import tasks

    token = private_token(create=not os.environ.get("RAY_ADDRESS"))
    # Trials and env runners import our packages (these three, the layers a run is made of): ship them to the
    # cluster (a local one already has them).
    if os.environ.get("RAY_ADDRESS"):
        context = ray.init(runtime_env={"py_modules": [algorithms, sweeps, tasks, *(code or [])]},
                           log_to_driver=verbose)
    else:
        host, _ = DASHBOARD
        # dashboard_port=None: Ray tries 8265 and the ports after it (a fixed port fails when another Ray has it).
        context = ray.init(address="local", include_dashboard=dashboard, dashboard_host=host, dashboard_port=None,
                           log_to_driver=verbose)
    if context.dashboard_url:
        print(f"Ray dashboard: http://{context.dashboard_url}{token_hint(token)}", flush=True)


def token_hint(token: Path | None = None) -> str:
    """Where the dashboard's token is, to print beside its address (never the token itself); `token`: the
    file, default Ray's own when it exists."""
    token = token or (token_file() if token_file().is_file() else None)
    return f" (it asks for the token in {token}: `.venv/bin/ray get-auth-token` prints it)" if token else ""


def token_file() -> Path:
    """Where Ray reads its auth token: RAY_AUTH_TOKEN_PATH, else ~/.ray/auth_token."""
    return Path(os.environ.get("RAY_AUTH_TOKEN_PATH") or Path.home() / ".ray" / "auth_token").expanduser()


def private_token(create: bool) -> Path | None:
    """Ray's token file, readable by its owner only (mode 600): one that others can read is set to 600, and
    with `create` (a local Ray, which would otherwise write one that every user of the machine can read) a
    missing one is made here, in a folder of mode 700. None when Ray takes no token from a file (RAY_AUTH_TOKEN
    set, token auth disabled, or none to connect to a cluster with)."""
    if os.environ.get("RAY_AUTH_TOKEN") or os.environ.get("RAY_AUTH_MODE", "").lower() == "disabled":
        return None
    path = token_file()
    if create and not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError), os.fdopen(
                os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as file:
            file.write(secrets.token_hex(32))  # as `ray get-auth-token --generate` makes it
    if not path.is_file():
        return None
    if path.stat().st_mode & 0o077 and path.stat().st_uid == os.getuid():
        path.chmod(0o600)
    return path


NODE_CHECK_TIMEOUT_S = 180


def nodes_without(manifest: Location, expected: str, nodes: list[dict] | None = None) -> list[str]:
    """The alive nodes (addresses) that do not read `manifest` (sweep.json) with the driver's content:
    every trial writes its checkpoints to the results storage from the node it runs on, so a node that
    cannot see it fails at its first checkpoint (Ray Train's StorageContext validation marker)."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    nodes = [n for n in (ray.nodes() if nodes is None else nodes) if n["Alive"]]

    @ray.remote(num_cpus=0, max_retries=0)
    def reads_same(where: str, text: str) -> bool:
        from sweeps.storage import Location

        try:
            return Location.of(where).read_text() == text
        except OSError:
            return False

    probes = {node["NodeManagerAddress"]: reads_same.options(
        scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False)).remote(manifest.full, expected)
        for node in nodes}
    return [address for address, probe in probes.items() if not ray.get(probe, timeout=NODE_CHECK_TIMEOUT_S)]


def require_shared_storage(manifest: Location) -> None:
    """On a multi-node cluster, fail before the sweep starts unless every node sees the results storage."""
    import ray

    from sweeps.plan import SweepInputError

    if len([n for n in ray.nodes() if n["Alive"]]) < 2:
        return
    blind = nodes_without(manifest, manifest.read_text())
    if blind:
        raise SweepInputError(
            f"RESULTS must be shared storage on a multi-node cluster: {manifest} is not readable with the same "
            f"content from node(s) {', '.join(blind)}, where trials would write their checkpoints. Use a URI every "
            "node can reach (RESULTS=s3://bucket/path or gs://bucket/path, with credentials on every node) or a "
            "folder every node mounts at the same path (NFS).")
