"""docker/ and platform/ as a user gets them: the compose file and the cluster YAMLs parse and validate,
token auth is on everywhere, dashboards are bound to loopback, and no secret sits on a command line."""

from __future__ import annotations

import re
import subprocess

import pytest
import yaml

from tests.conftest import REPO

CLUSTER_YAMLS = sorted((REPO / "platform").glob("cluster-*.yaml"))
DOCS = [REPO / "docker" / "README.md", *sorted((REPO / "platform").glob("*.md"))]
COMPOSE = yaml.safe_load((REPO / "docker" / "compose.yaml").read_text())


def commands(config: dict) -> list[str]:
    """Every shell command a cluster YAML runs on its nodes."""
    keys = ("initialization_commands", "setup_commands", "head_setup_commands", "worker_setup_commands",
            "head_start_ray_commands", "worker_start_ray_commands")
    lists = [config.get(k, []) for k in keys]
    lists += [t.get(k, []) for t in config["available_node_types"].values() for k in keys]
    return [c for commands in lists for c in commands]


def test_platform_holds_no_python():
    assert not list((REPO / "platform").rglob("*.py"))


def test_compose_services_and_token_auth():
    services = COMPOSE["services"]
    assert set(services) == {"head", "worker", "gpu-worker"}
    assert COMPOSE["secrets"]["ray_auth_token"]["file"]
    for name, service in services.items():
        env = dict(item.split("=", 1) if "=" in item else (item, None) for item in service["environment"])
        assert env["RAY_AUTH_MODE"] == "token", name
        assert env["RAY_AUTH_TOKEN_PATH"] == "/run/secrets/ray_auth_token", name
        assert service["secrets"] == ["ray_auth_token", "wandb_api_key"], name
        assert env["WANDB_API_KEY_FILE"] == "/run/secrets/wandb_api_key", name
        assert not any("netrc" in volume for volume in service.get("volumes", [])), name
        assert "ray start" in service["command"], name


def test_compose_dashboard_published_on_loopback_only():
    ports = [p for s in COMPOSE["services"].values() for p in s.get("ports", [])]
    assert ports and all(p.startswith("127.0.0.1:") for p in ports)
    assert not any("10001" in p for p in ports), "no Ray Client port"


def test_compose_gpu_worker_advertises_the_gpus_it_reserves():
    gpu = COMPOSE["services"]["gpu-worker"]
    (device,) = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert device["count"] == "all" and "--num-gpus" not in gpu["command"]  # Ray counts what it sees
    assert gpu["deploy"]["replicas"] == 1  # a second GPU worker would be handed the same cards


@pytest.mark.parametrize("path", CLUSTER_YAMLS, ids=lambda p: p.name)
def test_cluster_yaml_validates_against_rays_schema(path):
    from ray.autoscaler._private.util import prepare_config, validate_config

    validate_config(prepare_config(yaml.safe_load(path.read_text())))


@pytest.mark.parametrize("path", CLUSTER_YAMLS, ids=lambda p: p.name)
def test_cluster_yaml_token_auth_and_loopback_dashboard(path):
    config = yaml.safe_load(path.read_text())
    assert config["file_mounts"]["~/.ray/auth_token"] == "~/.ray/auth_token"
    starts = config["head_start_ray_commands"] + config["worker_start_ray_commands"]
    ray_starts = [c for c in starts if "ray start" in c]
    assert len(ray_starts) == 2 and all("RAY_AUTH_MODE=token" in c for c in ray_starts)
    assert any("export RAY_AUTH_MODE=token" in c for c in config["setup_commands"])  # drivers via ray exec
    assert "--dashboard-host=127.0.0.1" in " ".join(config["head_start_ray_commands"])
    assert not any("/.venv/bin" in c for c in commands(config)), "venv must live outside the synced tree"


def test_aws_node_types_have_an_image():
    config = yaml.safe_load((REPO / "platform" / "cluster-aws.yaml").read_text())
    assert all(t["node_config"].get("ImageId") for t in config["available_node_types"].values())


SECRET_ON_COMMAND_LINE = re.compile(r"WANDB_API_KEY=|RAY_AUTH_TOKEN=|--runtime-env-json|ray://|0\.0\.0\.0")


@pytest.mark.parametrize("path", [*DOCS, *CLUSTER_YAMLS, REPO / "Makefile"], ids=lambda p: p.name)
def test_no_secret_on_a_command_line(path):
    """No key or token typed into a command, no Ray Client route, no dashboard on every interface (the
    compose head listens on its container's interfaces, published on the host's loopback only)."""
    for number, line in enumerate(path.read_text().splitlines(), 1):
        assert not SECRET_ON_COMMAND_LINE.search(line), f"{path.name}:{number}: {line}"


def test_slurm_script_turns_token_auth_on():
    text = (REPO / "platform" / "slurm.md").read_text()
    assert "export RAY_AUTH_MODE=token" in text and "export RAY_AUTH_TOKEN_PATH=" in text
    assert "--dashboard-host=127.0.0.1" in text and "0.0.0.0" not in text


@pytest.mark.parametrize("ignore", [".gitignore", "docker/Dockerfile.dockerignore",
                                    "docker/Dockerfile.gpu.dockerignore"])
def test_env_files_and_secrets_stay_out_of_git_and_images(ignore):
    """`COPY . .` would bake docker/.env (compose's variables) or a W&B key into an image."""
    lines = (REPO / ignore).read_text().splitlines()
    assert ".env" in lines and "docker/ray_auth_token" in lines and "docker/wandb_api_key" in lines
    if ignore == ".gitignore":
        checked = subprocess.run(["git", "check-ignore", "docker/.env", ".env", "docker/wandb_api_key"], cwd=REPO,
                                 capture_output=True, text=True)
        assert checked.stdout.split() == ["docker/.env", ".env", "docker/wandb_api_key"]
