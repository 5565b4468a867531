"""The Makefile hands every value to the programs as typed: a space, a quote, a `$` or a `;` is part of the
value and nothing in it runs; ARGS is split into words as a shell splits them, without expanding anything.
Each target runs against a stand-in python that records the command line it was given."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import REPO

HOSTILE = {"TASK": "x; touch {marker}", "RESULTS": "my \"results' $(id) `id` dir", "CHECKPOINT": "$(id)",
           "H": "2; touch {marker}", "OUT": "out dir/it's"}


@pytest.fixture
def make(tmp_path):
    """`make TARGET VAR=value ...` with a recording python in place of .venv's; returns (process, the commands
    the python was given)."""
    bin_dir, record = tmp_path / "bin", tmp_path / "commands.jsonl"
    bin_dir.mkdir()
    python = bin_dir / "python"
    python.write_text(textwrap.dedent(f"""\
        #!{sys.executable}
        import json, os, sys
        sys.path.insert(0, {str(REPO)!r})
        def record(argv):
            with open({str(record)!r}, "a") as f:
                f.write(json.dumps(argv) + "\\n")
        if sys.argv[1:3] == ["-m", "sweeps.make_args"]:
            from sweeps import make_args
            os.execv = lambda executable, argv: (record(argv[1:]), sys.exit(0))
            sys.exit(make_args.main(sys.argv[3:]))
        record(sys.argv[1:])
        """))
    python.chmod(0o755)

    def run(target, **values):
        args = [f"{k}={v.format(marker=tmp_path / 'marker')}" for k, v in values.items()]
        process = subprocess.run(["make", "--no-print-directory", target, f"BIN={bin_dir}", "STAMP=",
                                  f"COMPOSE={python}", *args], cwd=REPO, capture_output=True, text=True, timeout=60)
        commands = [json.loads(line) for line in record.read_text().splitlines()] if record.exists() else []
        record.unlink(missing_ok=True)
        return process, commands
    return run


def test_sweep_values_with_spaces_quotes_and_commands_arrive_as_typed(make, tmp_path):
    process, commands = make("sweep", TASK=HOSTILE["TASK"], RESULTS=HOSTILE["RESULTS"], H=HOSTILE["H"],
                             ARGS="--set 'actor_lr=3e-4' --verbose \"two words\" $(id)")
    assert process.returncode == 0, process.stderr
    marker = tmp_path / "marker"
    assert commands == [
        ["-m", "sweeps.sweep", "--task", f"x; touch {marker}", "--budget", "paper", "--results",
         HOSTILE["RESULTS"], "--set", f"horizon=2; touch {marker}", "--set", "actor_lr=3e-4", "--verbose",
         "two words", "$(id)"],
        ["-m", "dashboards.tables", "--results", HOSTILE["RESULTS"]]]
    assert not marker.exists()


def test_agent_commands_get_the_checkpoint_and_out_as_typed(make):
    process, commands = make("export", CHECKPOINT=HOSTILE["CHECKPOINT"], OUT=HOSTILE["OUT"], ARGS="--latest")
    assert process.returncode == 0, process.stderr
    assert commands == [["-m", "agents.export", "$(id)", "--out", "out dir/it's", "--latest"]]


def test_an_unclosed_quote_in_args_is_one_error_line(make):
    process, commands = make("tables", ARGS="--sweep 'unclosed")
    assert process.returncode != 0 and commands == []
    assert "error: ARGS=--sweep 'unclosed: No closing quotation" in process.stderr


def test_docker_sweep_hands_each_value_to_the_containers_make_as_one_argument(make, tmp_path):
    """docker compose exec runs `make` without a shell: each VAR=value is one argument, ARGS unsplit (the
    container's make splits it, as here)."""
    process, commands = make("docker-sweep", TASK=HOSTILE["TASK"], RESULTS=HOSTILE["RESULTS"], H="3", SEED="4",
                             SEEDS="2", SAMPLES="3", GPUS_PER_TRIAL="0.5", SCHEDULES="official",
                             ARGS="--set 'x=a b'")
    assert process.returncode == 0, process.stderr
    marker = tmp_path / "marker"
    assert commands == [["exec", "-e", "RAY_ADDRESS=head:6379", "head", "make", "sweep", f"TASK=x; touch {marker}",
                         "BUDGET=paper", f"RESULTS={HOSTILE['RESULTS']}", "H=3", "SEED=4", "SEEDS=2", "SAMPLES=3",
                         "GPUS_PER_TRIAL=0.5", "SCHEDULES=official", "ARGS=--set 'x=a b'"]]
    assert not marker.exists()


def test_ablation_hands_arms_to_the_command_as_typed(make):
    process, commands = make("ablation", NAME="critic-mve", ARMS="sac,sac-mve", SEEDS="3", BUDGET="short")
    assert process.returncode == 0, process.stderr
    assert commands == [
        ["-m", "sweeps.ablation", "--ablation", "critic-mve", "--task", "Walker2d", "--budget", "short", "--results",
         "results", "--num-seeds", "3", "--arms", "sac,sac-mve"],
        ["-m", "dashboards.ablations", "--ablation", "critic-mve", "--task", "Walker2d", "--budget", "short",
         "--results", "results"]]
