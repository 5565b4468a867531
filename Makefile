# svglab: the user's entry points. Everything installs itself into .venv on first use; `make` alone prints
# the targets and their variables (help) and installs nothing.
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat requirements.txt requirements-no-deps.txt | cksum | cut -d' ' -f1)

TASK    ?= Walker2d
BUDGET  ?= paper
RESULTS ?= results
H       ?=
SEED    ?=
SWEEP   ?=
SEEDS   ?=
SAMPLES ?=
GPUS_PER_TRIAL ?=
SCHEDULES ?=
ARGS    ?=
NAME    ?=
ARMS    ?=
FROM    ?=
CHECKPOINT ?=
EPISODES ?=
OUT     ?=
SOAK_RESULTS ?= results/soak
BENCH   ?=

# Values reach the programs as typed: each is taken literally (make expands no `$` in it), exported to the
# recipes' environment and quoted there ("$$TASK"), so a space, a quote, a `$` or a `;` is part of the value
# and nothing in it runs. ARGS is a list of options: sweeps/make_args.py splits it as a shell splits words
# (quotes group them) without expanding or running anything, and appends them to the command.
VALUES := TASK BUDGET RESULTS H SEED SWEEP SEEDS SAMPLES GPUS_PER_TRIAL SCHEDULES ARGS NAME ARMS FROM CHECKPOINT \
          EPISODES OUT SOAK_RESULTS BENCH
$(foreach v,$(VALUES),$(eval override $(v) := $$(value $(v))))
export $(VALUES)
WITH_ARGS = $(BIN)/python -m sweeps.make_args

# Optional overrides passed through to the CLIs (H=2 -> --set horizon=2, SEEDS=2 -> --num-seeds 2,
# GPUS_PER_TRIAL=0.25 -> --gpus-per-trial 0.25, SCHEDULES=official -> --schedules official).
OVERRIDES := $(if $(H),--set "horizon=$$H") $(if $(SEED),--seed "$$SEED") \
             $(if $(SEEDS),--num-seeds "$$SEEDS") $(if $(SAMPLES),--num-samples "$$SAMPLES") \
             $(if $(GPUS_PER_TRIAL),--gpus-per-trial "$$GPUS_PER_TRIAL") $(if $(SCHEDULES),--schedules "$$SCHEDULES")

# The agent commands' options (make evaluate/video/export): EPISODES=5 -> --episodes 5, SEED=3 -> --seed 3.
AGENT_OPTIONS := $(if $(EPISODES),--episodes "$$EPISODES") $(if $(SEED),--seed "$$SEED")

.PHONY: help install lint test test-fast test-deps video-deps sweep docker-sweep reproduce train ablation bench \
        tables dashboard soak tasks evaluate video export checkpoint-given clean

help:
	@echo "svglab: make TARGET [VARIABLE=value ...]   (every target but help installs .venv on first use)"
	@echo ""
	@echo "  sweep       appendix A.2's random search        TASK= BUDGET=paper|short|smoke H= SAMPLES= SEEDS= SEED="
	@echo "                                                  GPUS_PER_TRIAL= RESULTS= ARGS="
	@echo "  reproduce   Table 2's runs (schedule + SAC)     TASK= BUDGET= H= SEEDS= SEED= SCHEDULES=table4|official"
	@echo "                                                  GPUS_PER_TRIAL= RESULTS= ARGS=\"--from-sweep DIR\""
	@echo "  train       one run, Table 4's schedule         TASK= BUDGET= H= SEED= SCHEDULES= GPUS_PER_TRIAL= RESULTS= ARGS="
	@echo "  docker-sweep  make sweep on the compose cluster  the same variables as sweep (RESULTS under results/ or a URI)"
	@echo "  ablation    the paper's ablations (fig. 3, 4, 6) NAME=critic-mve|model TASK= BUDGET= SEEDS= SEED= ARMS= FROM=<trial>"
	@echo "                                                  RESULTS= ARGS="
	@echo "  tables      Tables 2 and 4, plots               RESULTS= SWEEP=<folder> ARGS="
	@echo "  dashboard   tables + HTML report                RESULTS= SWEEP= ARGS="
	@echo "  evaluate    run a trained policy, evaluate.json CHECKPOINT=<sweep|trial|checkpoint folder> EPISODES=10 SEED=0"
	@echo "                                                  ARGS=\"--latest --stochastic --task T\""
	@echo "  video       an MP4 of a trained policy          CHECKPOINT= OUT=<file.mp4> EPISODES=1 SEED=0 ARGS="
	@echo "  export      the policy for plain torch          CHECKPOINT= OUT=<folder> ARGS=--latest"
	@echo "  tasks       the task registry                   (no variables)"
	@echo "  bench       speed of the updates                BENCH=full ARGS="
	@echo "  soak        a 100k-step run: memory stays flat  SOAK_RESULTS= ARGS="
	@echo "  test        lint + the whole test suite         (installs Debian's chromium and EGL if missing)"
	@echo "  test-fast   lint + the tests not marked slow"
	@echo "  lint        ruff"
	@echo "  install     create .venv from requirements.txt"
	@echo "  clean       remove .venv"
	@echo ""
	@echo "Details: README.md, docs/sweeps.md, docs/agents.md"

$(STAMP): requirements.txt requirements-no-deps.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -r requirements-no-deps.txt
	rm -f $(VENV)/.installed-*
	touch $@

install: $(STAMP)

# System packages the tests need (headless Chromium reads the HTML report).
test-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the report test"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	  || echo "warning: could not install chromium; the HTML report test will fail"; }

# ruff's checks (pyproject.toml [tool.ruff]); `make test` runs them first, so CI enforces them.
lint: $(STAMP)
	$(BIN)/ruff check .

test: lint test-deps video-deps
	$(BIN)/python -m pytest -q tests

# Off-screen MuJoCo rendering (make video, --set eval_video=true, the video tests): EGL with a vendor library
# (Mesa's software renderer, or NVIDIA's driver); Debian's Mesa EGL when there is none.
video-deps:
	@{ ldconfig -p | grep -q 'libEGL.so.1 ' && ldconfig -p | grep -q -E 'libEGL_(mesa|nvidia).so.0 '; } || { \
	  echo "installing Debian's libegl1, libegl-mesa0 and libgl1-mesa-dri for off-screen MuJoCo rendering"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libegl1 libegl-mesa0 \
	   libgl1-mesa-dri >/dev/null) \
	  || echo "warning: could not install Mesa's EGL; try MUJOCO_GL=osmesa with Debian's libosmesa6"; }

# The quick loop: everything but the end-to-end Ray runs marked @pytest.mark.slow (the HTML report test
# among them needs Chromium, as in `make test`).
test-fast: lint test-deps
	$(BIN)/python -m pytest -q -m "not slow" tests

# A finished sweep (or reproduce run) refreshes the tables and plots of everything under $(RESULTS).
sweep: $(STAMP)
	$(WITH_ARGS) sweeps.sweep --task "$$TASK" --budget "$$BUDGET" --results "$$RESULTS" $(OVERRIDES)
	$(BIN)/python -m dashboards.tables --results "$$RESULTS"

# The same sweep on the docker compose cluster (docker/README.md): the driver runs in the head container
# and joins the running cluster (RAY_ADDRESS), token from the container's secret; results in results/. Each
# value goes to the container's make as one argument (docker exec runs no shell), as typed.
COMPOSE ?= docker compose -f docker/compose.yaml
docker-sweep:
	$(COMPOSE) exec -e RAY_ADDRESS=head:6379 head make sweep "TASK=$$TASK" "BUDGET=$$BUDGET" "RESULTS=$$RESULTS" \
	  "H=$$H" "SEED=$$SEED" "SEEDS=$$SEEDS" "SAMPLES=$$SAMPLES" "GPUS_PER_TRIAL=$$GPUS_PER_TRIAL" \
	  "SCHEDULES=$$SCHEDULES" "ARGS=$$ARGS"

reproduce: $(STAMP)
	$(WITH_ARGS) sweeps.sweep --mode reproduce --task "$$TASK" --budget "$$BUDGET" --results "$$RESULTS" $(OVERRIDES)
	$(BIN)/python -m dashboards.tables --results "$$RESULTS"

train: $(STAMP)
	$(WITH_ARGS) sweeps.train --task "$$TASK" --budget "$$BUDGET" --results "$$RESULTS" $(OVERRIDES)

# The paper's ablations (docs/ablations.md): NAME=critic-mve (fig. 4, 6) or model (fig. 3, FROM=<trial folder> to
# fit on an existing SAC trial's episodes); then their plots and tables in $(RESULTS)/tables/<experiment>/.
ablation: $(STAMP)
	$(WITH_ARGS) sweeps.ablation --ablation "$$NAME" --task "$$TASK" --budget "$$BUDGET" --results "$$RESULTS" \
	  $(OVERRIDES) $(if $(ARMS),--arms "$$ARMS") $(if $(FROM),--from-trial "$$FROM")
	$(BIN)/python -m dashboards.ablations --ablation "$$NAME" --task "$$TASK" --budget "$$BUDGET" --results "$$RESULTS"

bench: $(STAMP)
	$(WITH_ARGS) benchmarks.bench $(if $(filter full,$(BENCH)),--full)

tables: $(STAMP)
	$(WITH_ARGS) dashboards.tables --results "$$RESULTS" $(if $(SWEEP),--sweep "$$SWEEP")

dashboard: $(STAMP)
	$(WITH_ARGS) dashboards.report --results "$$RESULTS" $(if $(SWEEP),--sweep "$$SWEEP") --open

# A long run stays flat: one tiny Hopper trial of 100k env steps with a wrapping 20k replay and a checkpoint per
# iteration; fails if the learner's or env runner's resident memory grows 5% after the replay fills, or if the
# trial folder holds more than keep_checkpoints checkpoints (docs/sweeps.md: soak). Samples: $(SOAK_RESULTS)/soak.csv
soak: $(STAMP)
	$(WITH_ARGS) sweeps.soak --results "$$SOAK_RESULTS"

tasks: $(STAMP)
	$(BIN)/python -m tasks

# A trained agent (docs/agents.md): CHECKPOINT= a sweep folder (its best trial), a trial folder (its best
# evaluation's policy; ARGS=--latest for the latest checkpoint), a checkpoint or an export folder.
# Said before anything installs.
checkpoint-given:
	@test -n "$$CHECKPOINT" || { echo "error: give CHECKPOINT=<sweep, trial or checkpoint folder>" >&2; exit 2; }

evaluate: checkpoint-given $(STAMP)
	$(WITH_ARGS) agents.evaluate "$$CHECKPOINT" $(AGENT_OPTIONS)

video: checkpoint-given $(STAMP) video-deps
	$(WITH_ARGS) agents.video "$$CHECKPOINT" $(AGENT_OPTIONS) $(if $(OUT),--out "$$OUT")

export: checkpoint-given $(STAMP)
	$(WITH_ARGS) agents.export "$$CHECKPOINT" $(if $(OUT),--out "$$OUT")

clean:
	rm -rf $(VENV) .pytest_cache
