"""A real two-node Ray cluster on 127.0.0.1 with token auth: a sweep given RAY_ADDRESS runs its trials on
both nodes, and a node without the token is refused.

Each node is a `ray start --block` process of its own (own CPU count, own ports, a private --temp-dir),
so the test tears down exactly what it started: the process groups of its `ray start` commands, then any
process still running from its temp dir. Nothing else on the machine is touched (other Ray instances may
be running beside it).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from algorithms.sac_svg.env_runner import LeanSingleAgentEnvRunner
from tests.conftest import REPO

RAY = str(Path(sys.executable).with_name("ray"))
TASK = "poplin-swimmer"
HEAD_CPUS, WORKER_CPUS = 1, 1  # one smoke trial (1 CPU: main process + env runner) fits on each node
START_TIMEOUT_S = 120
SWEEP_TIMEOUT_S = 900


def free_ports(count: int) -> list[int]:
    """Distinct free TCP ports on 127.0.0.1 (held open together so none repeats)."""
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def node_ports(head: bool) -> list[str]:
    """Every port a node opens, chosen free, so the cluster cannot collide with another Ray here."""
    names = ["node-manager-port", "object-manager-port", "dashboard-agent-listen-port", "dashboard-agent-grpc-port",
             "runtime-env-agent-port", "metrics-export-port"]
    names += ["port", "dashboard-port", "ray-client-server-port"] if head else []
    ports = free_ports(len(names))
    flags = [f"--{name}={port}" for name, port in zip(names, ports)]
    low = max(ports) + 1000 if max(ports) < 60000 else 20000  # a worker-port range of its own
    return flags + [f"--min-worker-port={low}", f"--max-worker-port={low + 200}"]


def flag(flags: list[str], name: str) -> int:
    return int(next(f for f in flags if f.startswith(f"--{name}=")).split("=", 1)[1])


@dataclass
class Cluster:
    """Head + worker on loopback; `env` is what a driver (or another node) of this cluster needs."""
    root: Path
    token_path: Path
    address: str = ""
    dashboard: str = ""
    processes: list[subprocess.Popen] = field(default_factory=list)

    def env(self, with_token: bool = True, driver: bool = True) -> dict:
        environment = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "WANDB_"))}
        environment.update(WANDB_MODE="offline", PYTHONUNBUFFERED="1")
        if driver:  # keeps loopback addresses instead of swapping in the machine's IP (a node refuses it)
            environment["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
        if with_token:
            environment.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(self.token_path))
        else:  # and no ~/.ray/auth_token either
            environment["HOME"] = str(self.root / "home")
        return environment

    def start_node(self, name: str, flags: list[str], with_token: bool = True) -> subprocess.Popen:
        log = open(self.root / f"{name}.log", "w")
        process = subprocess.Popen([RAY, "start", "--block", "--node-ip-address=127.0.0.1",
                                    f"--temp-dir={self.root / name}", "--disable-usage-stats", *flags],
                                   env=self.env(with_token, driver=False), stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        self.processes.append(process)
        return process

    def wait_for_nodes(self, count: int) -> list[dict]:
        """The cluster's alive nodes once `count` of them are up, via the state API."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            for process in self.processes:
                assert process.poll() is None, f"a ray node exited early:\n{self.logs()}"
            try:
                nodes = [n for n in self.state("list_nodes") if n["state"] == "ALIVE"]
            except subprocess.CalledProcessError:
                nodes = []
            if len(nodes) >= count:
                return nodes
            time.sleep(2)
        raise TimeoutError(f"{count} nodes not up after {START_TIMEOUT_S}s:\n{self.logs()}")

    def logs(self) -> str:
        return "\n".join(f"--- {log.name}\n{log.read_text()[-2000:]}" for log in sorted(self.root.glob("*.log")))

    def state(self, what: str) -> list[dict]:
        """ray.util.state.<what>() against this cluster, from a separate process holding the token."""
        code = (f"import json, ray.util.state as s; print(json.dumps([dict(x.__dict__) if hasattr(x, '__dict__') "
                f"else x for x in s.{what}(address={self.dashboard!r}, detail=True, limit=10000, "
                f"raise_on_missing_output=False)], default=str))")
        out = subprocess.run([sys.executable, "-c", code], env=self.env(), capture_output=True, text=True,
                             timeout=60, check=True).stdout
        return json.loads(out.strip().splitlines()[-1])

    def tear_down(self) -> None:
        for process in self.processes:  # `ray start --block` stops its node's processes on SIGTERM
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        for pid in pids_using(self.root):  # anything that outlived its parent
            os.kill(pid, signal.SIGKILL)


def pids_using(root: Path) -> list[int]:
    """Processes whose command line names this test's private temp dir (i.e. started by this test)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if str(root) in (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                    pids.append(int(entry.name))
            except OSError:
                pass
    return [pid for pid in pids if pid != os.getpid()]


def start_cluster(head_cpus: int, worker_cpus: int):
    """A head and a worker with these CPU counts and a generated token; torn down even when a test fails."""
    # Short root: Ray's unix sockets live under --temp-dir and their paths must stay under 108 bytes.
    root = Path(tempfile.mkdtemp(prefix="svgc", dir="/tmp"))
    token_path = root / "auth_token"
    token_path.write_text(secrets.token_hex(32))
    token_path.chmod(0o600)
    c = Cluster(root=root, token_path=token_path)
    try:
        head_flags = node_ports(head=True)
        c.address = f"127.0.0.1:{flag(head_flags, 'port')}"
        c.dashboard = f"http://127.0.0.1:{flag(head_flags, 'dashboard-port')}"
        c.start_node("head", ["--head", f"--num-cpus={head_cpus}", "--num-gpus=0",
                              "--dashboard-host=127.0.0.1", *head_flags])
        c.wait_for_nodes(1)
        c.start_node("worker", [f"--address={c.address}", f"--num-cpus={worker_cpus}", "--num-gpus=0",
                                *node_ports(head=False)])
        c.wait_for_nodes(2)
        yield c
    finally:
        c.tear_down()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster():
    yield from start_cluster(HEAD_CPUS, WORKER_CPUS)


@pytest.fixture(scope="module")
def cpu_less_head_cluster():
    """A head with 0 CPUs (as on clouds, where the head only schedules): every trial runs on the worker."""
    yield from start_cluster(0, 2)


def run_cli(cluster: Cluster, cwd: Path, module: str, *args: str) -> subprocess.CompletedProcess:
    """`python -m <module>` as a driver of the cluster, run from `cwd` (so that nothing lands in the checkout)."""
    env = {**cluster.env(), "RAY_ADDRESS": cluster.address, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=SWEEP_TIMEOUT_S)


def run_sweep(cluster: Cluster, cwd: Path, results: str) -> subprocess.CompletedProcess:
    return run_cli(cluster, cwd, "sweeps.sweep", "--task", TASK, "--budget", "smoke", "--results", results)


@pytest.mark.slow
def test_node_without_token_is_refused(cluster):
    intruder = cluster.start_node("intruder", [f"--address={cluster.address}", "--num-cpus=1",
                                               *node_ports(head=False)], with_token=False)
    try:
        intruder.wait(timeout=START_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pass
    log = (cluster.root / "intruder.log").read_text()
    assert intruder.returncode not in (None, 0), f"a node without the token joined:\n{log[-3000:]}"
    assert "token" in log.lower(), f"refused for another reason than the token:\n{log[-3000:]}"
    assert len([n for n in cluster.state("list_nodes") if n["state"] == "ALIVE"]) == 2


@pytest.mark.slow
def test_sweep_runs_on_both_nodes(cluster, tmp_path):
    results = tmp_path / "results"
    started = time.monotonic()
    process = run_sweep(cluster, tmp_path, str(results))
    elapsed = time.monotonic() - started
    assert process.returncode == 0, f"sweep failed:\n{process.stdout[-4000:]}\n{process.stderr[-4000:]}"
    print(f"smoke sweep on the 2-node cluster: {elapsed:.0f}s")

    nodes = {n["node_id"] for n in cluster.state("list_nodes") if n["state"] == "ALIVE"}
    actors = cluster.state("list_actors")
    by_class: dict[str, set[str]] = {}
    for actor in actors:
        by_class.setdefault(actor["class_name"], set()).add(actor["node_id"])
    print("actor class -> nodes:", {k: sorted(v) for k, v in by_class.items()})
    assert by_class.get("SACSVG") == nodes, f"trials ran on {by_class.get('SACSVG')}, the nodes are {nodes}"
    runners = by_class.get(LeanSingleAgentEnvRunner.__name__)
    assert runners == nodes, f"env runners ran on {runners}"
    assert any((results / f"{TASK}-sweep-smoke").rglob("progress.csv")), "no trial output under the results path"


@pytest.mark.slow
def test_sweep_writes_to_a_file_uri_from_a_cpu_less_head(cpu_less_head_cluster, tmp_path):
    """RESULTS as a file:// URI: Tune stores there (checkpoints included, from the worker node), sweep.json
    too, nothing lands in a folder named `file:`, and the tables read it back."""
    cluster, results = cpu_less_head_cluster, tmp_path / "shared"
    process = run_sweep(cluster, tmp_path, results.as_uri())
    assert process.returncode == 0, f"sweep failed:\n{process.stdout[-4000:]}\n{process.stderr[-4000:]}"
    exp = results / f"{TASK}-sweep-smoke"
    trials = sorted(p.parent for p in exp.glob("*/params.json"))
    assert len(trials) == 2 and all(list(t.glob("checkpoint_*")) for t in trials), sorted(exp.rglob("*"))
    assert (exp / "sweep.json").is_file() and not list(tmp_path.rglob("file:")) and not (REPO / "file:").exists()
    trial_nodes = {a["node_id"] for a in cluster.state("list_actors") if a["class_name"] == "SACSVG"}
    head = {n["node_id"] for n in cluster.state("list_nodes") if n["is_head_node"]}
    assert trial_nodes and not trial_nodes & head, "a trial ran on the head, which has no CPUs"

    tables = run_cli(cluster, tmp_path, "dashboards.tables", "--results", results.as_uri(), "--no-wandb")
    assert tables.returncode == 0, tables.stderr[-3000:]
    table4 = (tmp_path / "results" / "tables" / "table4.csv").read_text()  # a URI's tables are written here
    assert f"{TASK}-sweep-smoke" in table4


LAB_ENV = '''"""A researcher's environment that exists only in a temporary folder of the driver's."""
from pathlib import Path

import gymnasium as gym
import numpy as np
import ray

MARKS = Path({marks!r})


class Arm(gym.Env):
    def __init__(self, render_mode=None):
        self.observation_space = gym.spaces.Box(-1.0, 1.0, (3,))
        self.action_space = gym.spaces.Box(-2.0, 2.0, (2,))
        if ray.is_initialized():  # on a Ray worker: say which node imported this module
            (MARKS / ray.get_runtime_context().get_node_id()).touch()

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.x = self.np_random.uniform(-0.5, 0.5, 3).astype(np.float32)
        return self.x, {{}}

    def step(self, action):
        self.x = np.clip(self.x + 0.1 * np.append(action, 0.0).astype(np.float32), -1, 1)
        return self.x, -float(np.sum(self.x**2)), False, False, {{}}
'''


@pytest.mark.slow
def test_a_researchers_module_from_a_driver_folder_reaches_every_node(cluster, tmp_path):
    """TASK=<module>:<Class> whose module is only in a folder on the driver's PYTHONPATH (not in its working
    directory, which Ray puts on the workers' path): the driver ships it (runtime_env py_modules) and the two
    trials of a smoke sweep, one per node, build the environment from it."""
    module = f"lab_arm_{secrets.token_hex(4)}"
    code, marks, cwd = tmp_path / "code", tmp_path / "marks", tmp_path / "cwd"
    for folder in (code, marks, cwd):
        folder.mkdir()
    (code / f"{module}.py").write_text(LAB_ENV.format(marks=str(marks)))
    env = {**cluster.env(), "RAY_ADDRESS": cluster.address, "PYTHONPATH": f"{REPO}:{code}"}
    process = subprocess.run([sys.executable, "-m", "sweeps.sweep", "--task", f"{module}:Arm", "--budget", "smoke",
                              "--results", str(tmp_path / "results")], cwd=cwd, env=env, capture_output=True,
                             text=True, timeout=SWEEP_TIMEOUT_S)
    assert process.returncode == 0, f"sweep failed:\n{process.stdout[-4000:]}\n{process.stderr[-4000:]}"
    assert len(list((tmp_path / "results" / f"{module}_Arm-sweep-smoke").glob("*/checkpoint_*"))) >= 2
    nodes = {n["node_id"] for n in cluster.state("list_nodes") if n["state"] == "ALIVE"}
    assert {mark.name for mark in marks.iterdir()} == nodes, "the module was not imported on every node"
