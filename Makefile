# svglab: the user's entry points. Everything installs itself into .venv on first use.
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
FROM    ?=

# Optional overrides passed through to the CLIs (H=2 -> --set horizon=2, SEEDS=2 -> --num-seeds 2,
# GPUS_PER_TRIAL=0.25 -> --gpus-per-trial 0.25, SCHEDULES=official -> --schedules official).
OVERRIDES := $(if $(H),--set horizon=$(H)) $(if $(SEED),--seed $(SEED)) \
             $(if $(SEEDS),--num-seeds $(SEEDS)) $(if $(SAMPLES),--num-samples $(SAMPLES)) \
             $(if $(GPUS_PER_TRIAL),--gpus-per-trial $(GPUS_PER_TRIAL)) $(if $(SCHEDULES),--schedules $(SCHEDULES))

.PHONY: install lint test test-fast test-deps sweep docker-sweep reproduce train ablation bench tables dashboard soak clean

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

test: lint test-deps
	$(BIN)/python -m pytest -q tests

# The quick loop: everything but the end-to-end Ray runs marked @pytest.mark.slow.
test-fast: lint
	$(BIN)/python -m pytest -q -m "not slow" tests

# A finished sweep (or reproduce run) refreshes the tables and plots of everything under $(RESULTS).
sweep: $(STAMP)
	$(BIN)/python -m sweeps.sweep --task $(TASK) --budget $(BUDGET) --results $(RESULTS) $(OVERRIDES) $(ARGS)
	$(BIN)/python -m dashboards.tables --results $(RESULTS)

# The same sweep on the docker compose cluster (docker/README.md): the driver runs in the head container
# and joins the running cluster (RAY_ADDRESS), token from the container's secret; results in results/.
COMPOSE ?= docker compose -f docker/compose.yaml
docker-sweep:
	$(COMPOSE) exec -e RAY_ADDRESS=head:6379 head make sweep TASK=$(TASK) BUDGET=$(BUDGET) RESULTS=results \
	  $(if $(H),H=$(H)) $(if $(SEED),SEED=$(SEED)) $(if $(ARGS),ARGS="$(ARGS)")

reproduce: $(STAMP)
	$(BIN)/python -m sweeps.sweep --mode reproduce --task $(TASK) --budget $(BUDGET) --results $(RESULTS) $(OVERRIDES) $(ARGS)
	$(BIN)/python -m dashboards.tables --results $(RESULTS)

train: $(STAMP)
	$(BIN)/python -m sweeps.train --task $(TASK) --budget $(BUDGET) --results $(RESULTS) $(OVERRIDES) $(ARGS)

# The paper's ablations (docs/ablations.md): NAME=critic-mve (fig. 4, 6) or model (fig. 3, FROM=<trial folder> to
# fit on an existing SAC trial's episodes); then their plots and tables in $(RESULTS)/tables/<experiment>/.
ablation: $(STAMP)
	$(BIN)/python -m sweeps.ablation --ablation "$(NAME)" --task $(TASK) --budget $(BUDGET) --results $(RESULTS) \
	  $(OVERRIDES) $(if $(FROM),--from-trial $(FROM)) $(ARGS)
	$(BIN)/python -m dashboards.ablations --ablation "$(NAME)" --task $(TASK) --budget $(BUDGET) --results $(RESULTS)

bench: $(STAMP)
	$(BIN)/python -m benchmarks.bench $(if $(filter full,$(BENCH)),--full) $(ARGS)

tables: $(STAMP)
	$(BIN)/python -m dashboards.tables --results $(RESULTS) $(if $(SWEEP),--sweep $(SWEEP)) $(ARGS)

dashboard: $(STAMP)
	$(BIN)/python -m dashboards.report --results $(RESULTS) $(if $(SWEEP),--sweep $(SWEEP)) --open $(ARGS)

# A long run stays flat: one tiny Hopper trial of 100k env steps with a wrapping 20k replay and a checkpoint per
# iteration; fails if the learner's or env runner's resident memory grows 5% after the replay fills, or if the
# trial folder holds more than keep_checkpoints checkpoints (docs/sweeps.md: soak). Samples: $(SOAK_RESULTS)/soak.csv
SOAK_RESULTS ?= results/soak
soak: $(STAMP)
	$(BIN)/python -m sweeps.soak --results $(SOAK_RESULTS) $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache
