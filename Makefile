# Set-up and everyday targets. `make demo` and `make test` are the README's two commands.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
export MEDENV_HOME ?= $(CURDIR)/.medenv

.PHONY: demo test bench mutate lint clean venv learn default-set

$(VENV)/bin/activate:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(VENV)/.installed: $(VENV)/bin/activate pyproject.toml
	$(PIP) install -q -e ".[train,dev]"
	touch $@

venv: $(VENV)/.installed

demo: $(VENV)/.installed
	$(VENV)/bin/medenv demo --out out/demo

# the tests also record with Minari's DataCollector, which needs jax (medenv[minari-collect])
$(VENV)/.test-installed: $(VENV)/.installed
	$(PIP) install -q -e ".[train,dev,minari-collect]"
	touch $@

# TEST_WORKERS pytest-xdist processes, one test file each at a time (module fixtures built once),
# files in the order tests/conftest.py sets (default-set-free files first: a cold cache)
TEST_WORKERS ?= 2
test: $(VENV)/.test-installed
	$(PY) -m pytest -q -p no:cacheprovider --durations=15 -n $(TEST_WORKERS) --dist loadfile \
		--no-loadscope-reorder

# re-synthesize the default QA set and ship it in the package (medenv/data/default_qa/): run
# after a change to the KG, corpus or synthesis that alters it (tests/test_shipped_qa.py fails
# until then)
default-set: $(VENV)/.installed
	$(PY) -c "from medenv.questions import ship_default_set; print(ship_default_set())"

bench: $(VENV)/.installed
	mkdir -p .benchmarks
	$(PY) -m pytest bench -q -p no:cacheprovider -o python_files='bench_*.py' \
		-o python_functions='bench_* test_*' --benchmark-only \
		--benchmark-columns=min,median,mean,max,rounds --benchmark-json .benchmarks/latest.json
	$(PY) -m bench.summary

# CPU learning benchmark (issue 21): synth -> oracle -> SFT -> eval -> GRPO -> eval;
# writes out/learn/summary.json and the SFT-loss / GRPO-reward plots
learn: $(VENV)/.installed
	$(PY) -m medenv.training.learn --out out/learn

mutate: $(VENV)/.installed
	$(PIP) install -q -e ".[train,dev,mutate]"
	$(PY) -m bench.mutate

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check medenv agents training tests bench

clean:
	rm -rf $(VENV) .medenv out mutants
