# make demo  — create .venv, install, run the demo workflow end to end (figures in results/demo/figures)
# make test  — create .venv, install, lint (ruff, snakefmt, snakemake --lint), run the test suite
# make doctor — what this machine can measure for config/config.yaml (CONFIGFILE=… for an overlay)
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
CORES ?= 2
# make test: the suite in this many processes (pytest-xdist); tests sharing an expensive fixture stay together
TEST_WORKERS ?= $(CORES)
PYTEST := $(BIN)/pytest -n $(TEST_WORKERS) --dist loadgroup

.PHONY: install demo test test-fast lint dryrun clean-demo doctor

$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

install: $(BIN)/.installed

# Timed jobs (training, inference, TFLite, QAT, Edge TPU) hold every core of --cores, so nothing runs beside
# them; timing_slot=1 keeps them apart even if --set-threads lowers a rule's threads (rules/common.smk).
demo: install
	$(BIN)/snakemake --cores $(CORES) --resources timing_slot=1 --configfile config/demo.yaml --printshellcmds

lint: install
	$(BIN)/ruff check .
	$(BIN)/snakefmt --check Snakefile rules
	$(BIN)/snakemake --lint
	$(BIN)/snakemake --lint --configfile config/demo.yaml

test: lint
	$(PYTEST)

test-fast: install
	$(PYTEST) -m "not slow and not slurm"

dryrun: install
	$(BIN)/snakemake -n --quiet rules
	$(BIN)/snakemake -n --quiet rules --configfile config/demo.yaml

clean-demo:
	rm -rf results/demo

doctor: install
	$(BIN)/python -m mpbench doctor $(if $(CONFIGFILE),--configfile $(CONFIGFILE))
