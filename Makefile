# mlpbench: every target installs the local .venv from pyproject.toml first when needed.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SWEEP ?= seed_table
RESULTS ?= results/$(SWEEP)

.PHONY: install install-ray sweep compare gradcheck quality reference report docs test bench bench-check bench-check-busy bench-scaling lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install mlpbench with its dev tools

# One resolution for both (about 10 s less than the dev install followed by the extra).
RAY_STAMP := $(VENV)/.installed-ray
$(RAY_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev,ray]'
	touch $(STAMP) $(RAY_STAMP)

install-ray: $(RAY_STAMP)  ## add the optional Ray launcher (hydra/launcher=ray) to .venv

sweep: $(STAMP)  ## run conf/sweep/$(SWEEP).yaml on all local cores into $(RESULTS), then report
	$(BIN)/python -m mlpbench --multirun +sweep=$(SWEEP) results_dir=$(RESULTS)
	$(BIN)/python -m mlpbench.report --results-dir $(RESULTS)

# make compare: your methods at equal budget, each tuned on validation (conf/sweep/compare.yaml).
METHODS ?= backprop,spsa,forward_gradient
OPTIMIZERS ?= sgd,adam
GRID ?= 1e-4,3e-4,1e-3,3e-3,0.01,0.03,0.1,0.3,1
BUDGET_SECONDS ?= 1.0
BUDGET_PASSES ?= 2000
TARGETS ?= [0.8,0.9]
COMPARE_ARGS ?=
COMPARE_RESULTS ?= results/compare

compare: $(STAMP)  ## METHODS x OPTIMIZERS tuned over GRID on validation, then at equal budget -> $(COMPARE_RESULTS)
	$(BIN)/python -m mlpbench --multirun +sweep=compare \
		'hydra.sweeper.grids=[{method:"$(METHODS)",optimizer:"$(OPTIMIZERS)",lr:"$(GRID)"}]' \
		hydra.sweeper.tune.budget_seconds=$(BUDGET_SECONDS) \
		hydra.sweeper.tune.budget_forward_passes=$(BUDGET_PASSES) \
		'hydra.sweeper.tune.targets=$(TARGETS)' results_dir=$(COMPARE_RESULTS) $(COMPARE_ARGS)
	$(BIN)/python -m mlpbench.report --results-dir $(COMPARE_RESULTS)

gradcheck: $(STAMP)  ## gradient error against h per scheme and dtype -> $(RESULTS)/gradcheck
	$(BIN)/python -m mlpbench.gradcheck --out $(RESULTS)/gradcheck

QUALITY_RESULTS ?= results/quality
quality: $(STAMP)  ## cosine, error, bias and variance of random gradient estimates at fixed weights -> $(QUALITY_RESULTS)/quality, then report
	$(BIN)/python -m mlpbench.quality --out $(QUALITY_RESULTS)/quality $(QUALITY_ARGS)
	$(BIN)/python -m mlpbench.report --results-dir $(QUALITY_RESULTS)

REFERENCE ?= results/reference

reference: $(STAMP)  ## the reference results: seed_table (+ scaling, depth), h_scan (+ gradcheck), estimators, dlfs, baydin2022, tuned, fg_tuned, quality, benchmarks; then the docs' numbers
	$(MAKE) sweep SWEEP=seed_table RESULTS=$(REFERENCE)/seed_table
	$(MAKE) bench-scaling RESULTS=$(REFERENCE)/seed_table
	$(MAKE) report RESULTS=$(REFERENCE)/seed_table
	$(MAKE) sweep SWEEP=h_scan RESULTS=$(REFERENCE)/h_scan
	$(MAKE) gradcheck RESULTS=$(REFERENCE)/h_scan
	$(MAKE) report RESULTS=$(REFERENCE)/h_scan
	$(MAKE) sweep SWEEP=estimators RESULTS=$(REFERENCE)/estimators
	$(MAKE) sweep SWEEP=dlfs RESULTS=$(REFERENCE)/dlfs
	$(MAKE) sweep SWEEP=baydin2022 RESULTS=$(REFERENCE)/baydin2022
	$(MAKE) sweep SWEEP=tuned RESULTS=$(REFERENCE)/tuned
	$(MAKE) sweep SWEEP=fg_tuned RESULTS=$(REFERENCE)/fg_tuned
	$(MAKE) quality QUALITY_RESULTS=$(REFERENCE)/quality
	$(MAKE) quality QUALITY_RESULTS=$(REFERENCE)/quality \
		QUALITY_ARGS="--networks 50 --estimators spsa --h 1e-5 0.1 1 --directions 1 10"
	$(MAKE) bench BENCH_STORAGE=$(REFERENCE)/benchmarks
	$(MAKE) docs

report: $(STAMP)  ## render $(RESULTS)/report from the parquet in $(RESULTS)
	$(BIN)/python -m mlpbench.report --results-dir $(RESULTS)

TEST_WORKERS ?= $(shell n=$$(nproc); echo $$(( n < 4 ? n : 4 )))

test: $(STAMP)  ## the whole test suite, on TEST_WORKERS processes (one per core, at most 4)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup

docs: $(STAMP)  ## render the measured numbers in README.md and docs/ from results/reference/
	$(BIN)/python -m mlpbench.docs

BASELINE ?=
BENCH_STORAGE ?= results/benchmarks

bench: $(STAMP)  ## speed targets: the seed's problem, deeper networks, every method's cost; saved under $(BENCH_STORAGE)/
	$(BIN)/python -m pytest benchmarks/test_seed_problem.py benchmarks/test_deep_networks.py \
		benchmarks/test_costs.py \
		--benchmark-storage=file://$(BENCH_STORAGE) --benchmark-autosave \
		$(if $(BASELINE),--benchmark-compare=$(BASELINE) --benchmark-compare-fail=median:25%)

bench-check: $(STAMP)  ## CI timing regression check: same-session ratios, reduced problem
	$(BIN)/python -m pytest benchmarks/test_check.py

BUSY_SECONDS ?= 300
bench-check-busy: $(STAMP)  ## bench-check while one busy loop per core runs (each killed after, or at most BUSY_SECONDS)
	@pids=""; \
	trap 'kill $$pids 2>/dev/null' EXIT INT TERM; \
	for i in $$(seq $$(nproc)); do \
		timeout $(BUSY_SECONDS) $(BIN)/python -c "while True: pass" & pids="$$pids $$!"; \
	done; \
	echo "bench-check-busy: $$(nproc) busy loop(s) running"; sleep 2; \
	status=0; $(BIN)/python -m pytest benchmarks/test_check.py $(BENCH_CHECK_ARGS) || status=$$?; \
	kill $$pids 2>/dev/null; exit $$status

bench-scaling: $(STAMP)  ## per-step gradient time across hidden sizes, depths and batch sizes -> $(RESULTS)/scaling
	$(BIN)/python -m mlpbench.scaling --out $(RESULTS)/scaling
	$(BIN)/python -m mlpbench.scaling --out $(RESULTS)/scaling --hidden 50 --depth 1 2 3 4 \
		--batch 10 100

lint: $(STAMP)  ## ruff
	$(BIN)/ruff check .

clean:  ## remove the environment and caches (results stay)
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
