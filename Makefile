# jaxgen: `make demo` trains and samples on Fashion-MNIST; `make test` runs the tests.
# Both set everything up from a fresh clone (virtual environment, package, data).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
FMNIST := data/debian/usr/share/datasets/fashion-mnist
DEMO_DIR ?= runs/demo
PYTEST_ARGS ?=
# `make test` spreads the test files over processes (pytest-xdist; a file stays on one, so its
# fixtures run once); `make test-slow` runs serially (its multi-process runs time themselves).
TEST_WORKERS ?= 2
TWIN_ARGS ?=

.PHONY: demo test test-slow data onednn bench bench-twin bench-samplers clean venv

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# Fashion-MNIST from the Debian package dataset-fashion-mnist, unpacked without root.
data: $(FMNIST)/train-images-idx3-ubyte.gz

$(FMNIST)/train-images-idx3-ubyte.gz:
	mkdir -p data/deb
	cd data/deb && (apt-get download dataset-fashion-mnist 2>/dev/null \
	  || (apt-get update -qq && apt-get download dataset-fashion-mnist))
	dpkg -x data/deb/dataset-fashion-mnist_*.deb data/debian
	test -f $@

# oneDNN convolutions for the CPU back-end (jaxgen/kernels/onednn.py): Debian's libdnnl,
# unpacked without root, and the XLA FFI kernels compiled against it with g++. If the build
# fails, jaxgen runs XLA's own (slower) convolutions; tests/kernels/test_onednn.py fails then.
ONEDNN := build/onednn/libjaxgen_onednn.so
onednn: $(ONEDNN)

$(ONEDNN): jaxgen/kernels/conv_onednn.cc jaxgen/kernels/group_norm.cc jaxgen/kernels/optimizer.cc jaxgen/kernels/parts.h jaxgen/kernels/build_onednn.sh $(STAMP)
	sh jaxgen/kernels/build_onednn.sh $(PY) build/onednn \
	  || echo "onednn: not built; jaxgen uses XLA's own convolutions (slower on CPU)"

# Train, then in one process score 2,000 samples against the test split (FD) and sample a grid;
# print time and FD.
demo: venv data onednn
	@start=$$(date +%s); \
	$(PY) train.py --config=configs/ddpm_fmnist.py:demo --workdir=$(DEMO_DIR) && \
	$(PY) sample.py --workdir=$(DEMO_DIR) --eval --eval_num=2000 --no-eval_bpd \
	  --num=64 --out=$(DEMO_DIR)/grid.png > /dev/null && \
	$(PY) -c "import json; r = json.load(open('$(DEMO_DIR)/eval.json')); \
	print(f'demo: FD {r[\"fd\"]:.1f} on 2,000 samples vs test (train vs test: \
	{r[\"baseline\"][\"fd\"]:.1f}); grid $(DEMO_DIR)/grid.png')" && \
	echo "demo: $$(( $$(date +%s) - start )) s from start to here"

test: venv data onednn
	$(PY) -m pytest -q -m "not slow" -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

test-slow: venv data onednn
	$(PY) -m pytest -q -m slow $(PYTEST_ARGS)

# The PyTorch twin runs when PyTorch is installed (`make bench-twin` installs it).
bench: venv data onednn
	$(PY) benchmarks/train_throughput.py
	$(PY) benchmarks/scaling.py
	@if $(PY) -c "import torch" 2>/dev/null; then $(PY) benchmarks/torch_twin.py; \
	  else echo "benchmarks/torch_twin.py skipped: no PyTorch; make bench-twin installs it"; fi

# jaxgen's train steps against a PyTorch eager twin, interleaved in one process.
bench-twin: venv data onednn
	$(PY) -m pip install --quiet -e '.[twin]'
	$(PY) benchmarks/torch_twin.py $(TWIN_ARGS)

# FD and time against NFE for every sampler, on a trained diffusion workdir (DEMO_DIR).
bench-samplers: venv data
	$(PY) -m pip install --quiet -e '.[bench]'
	$(PY) benchmarks/sampler_quality.py --workdir=$(DEMO_DIR) --out=docs/bench_sampler_quality.json \
	  --plot=docs/images/sampler_quality.png --grid=docs/images/sampler_grid.png

clean:
	rm -rf $(VENV) data runs build *.egg-info
