# The two commands of the README, `make demo` and `make test`, the demo's full sweep `make sweep`
# and the fast lane `make test-fast`.
# Each creates .venv on first use and installs the project into it.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
CORES ?= 2
# Jobs that declare `resources: gpu=1` at once: one per GPU; without a GPU they run on the CPU,
# where the cores (not a GPU's memory) are the limit, so as many as there are cores.
GPUS := $(shell nvidia-smi -L 2>/dev/null | grep -c '^GPU')
GPU_JOBS ?= $(if $(filter-out 0,$(GPUS)),$(GPUS),$(CORES))

.PHONY: demo sweep test test-fast install lint clean demo-weights

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/activate
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

demo: install
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/snakemake --cores $(CORES) --profile config/profiles/workstation \
	  --resources gpu=$(GPU_JOBS)
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/snakemake --report results/report/report.html

# The demo's full sweep (config/sweep.yaml): 25 % kept, the augmentation amounts and 5 seeds on
# top of the demo's run, whose trainings it reuses.
sweep: install
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/snakemake --cores $(CORES) --profile config/profiles/workstation \
	  --resources gpu=$(GPU_JOBS) --configfile config/sweep.yaml
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/snakemake --report results/report/report.html --configfile config/sweep.yaml

test: install
	bash tests/system_deps.sh
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/python -m pytest -q

# The fast lane while developing: every test not marked slow (pyproject.toml's markers), in a few
# minutes on 2 cores; no system packages, so no SLURM.
test-fast: install
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/python -m pytest -q -m "not slow"

# The demo's base U-Net and detector weights under resources/demo_weights/, made by the
# workflow's own rules on separately generated scenes (tools/demo_weights.py).
demo-weights: install
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/python tools/demo_weights.py --cores $(CORES)

lint: install
	$(BIN)/snakefmt --check Snakefile rules/
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/snakemake --lint

clean:
	rm -rf results/* .snakemake
