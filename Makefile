# The two commands of the README: `make demo` and `make test`.
# Both create .venv on first use and install the project into it.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
CORES ?= 2

.PHONY: demo test install lint clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/activate
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

demo: install
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/snakemake --cores $(CORES) --profile config/profiles/workstation

test: install
	bash tests/system_deps.sh
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/python -m pytest -q

lint: install
	$(BIN)/snakefmt --check Snakefile rules/
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/snakemake --lint

clean:
	rm -rf results/* .snakemake
