# The README's two commands: `make demo` (set up, convert the shipped model, stream real data through
# it) and `make test` (set up, run the C tests, the sanitizer build and the whole Python test suite).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_VERSION ?= 2.13.0
# The aeon release whose wheel carries the demo data: written once, in examples/ts_datasets.py.
AEON_VERSION := $(shell sed -n 's/^AEON_VERSION = "\(.*\)"$$/\1/p' examples/ts_datasets.py)
# Oracles of the Keras and ONNX importers' tests (Keras runs on its torch backend: no TensorFlow).
KERAS_VERSION ?= 3.15.1
H5PY_VERSION ?= 3.16.0
ONNX_VERSION ?= 1.23.2
ORT_VERSION ?= 1.32.0
# gru_rt.dask's tests (issue 19): a two-worker LocalCluster, Parquet through pyarrow.
DASK_VERSION ?= 2026.8.0
PANDAS_VERSION ?= 3.1.1
PYARROW_VERSION ?= 26.0.1
# torch.onnx.export(dynamo=True), the default exporter, in tests/test_import_onnx_exporters.py.
ONNXSCRIPT_VERSION ?= 0.7.2
RAY_VERSION ?= 2.60.0
PYSPARK_VERSION ?= 4.3.0
# ONNX files of the TensorFlow exporters (tf2onnx on tf-keras, Keras 3's export): make test-tf.
TF_VENV ?= .venv-tf
TENSORFLOW_VERSION ?= 2.21.0
TF_KERAS_VERSION ?= 2.21.0
TF2ONNX_VERSION ?= 1.17.0
PYTEST_VERSION ?= 9.2.0
OUT ?= out

FUZZ_SECONDS ?= 60
# Formats tools/fuzz_convert.py fuzzes in CI (docs/SECURITY.md, "Fuzzing the converters").
CONVERT_FUZZ_FORMATS ?= npz,safetensors,keras,h5,onnx

.PHONY: demo test test-tf setup setup-test test-engines ctest lint hardening bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Runtime install (NumPy only) + the dataset package for the demo's real data (data files only:
# installed without its dependencies and never imported).
setup: $(BIN)/python
	$(BIN)/pip install --quiet .
	$(BIN)/pip install --quiet --no-deps aeon==$(AEON_VERSION)

demo: setup
	mkdir -p $(OUT)
	$(BIN)/gru-rt convert examples/models/japanese_vowels_gru.npz -o $(OUT)/japanese_vowels.grt \
		--head-activation softmax
	$(BIN)/gru-rt info $(OUT)/japanese_vowels.grt
	$(BIN)/python examples/stream_demo.py $(OUT)/japanese_vowels.grt
	@echo "--- the same model, integer-only (q15), calibrated on the training frames ---"
	$(BIN)/python examples/make_calibration.py $(OUT)/japanese_vowels_calibration.npy
	$(BIN)/gru-rt convert examples/models/japanese_vowels_gru.npz -o $(OUT)/japanese_vowels_q15.grt \
		--head-activation softmax --precision q15 \
		--calibration $(OUT)/japanese_vowels_calibration.npy
	$(BIN)/gru-rt info $(OUT)/japanese_vowels_q15.grt
	$(BIN)/python examples/stream_demo.py $(OUT)/japanese_vowels_q15.grt

# Test install: editable (the extension is built in place), plus the oracles.
setup-test: $(BIN)/python
	$(BIN)/pip install --quiet torch==$(TORCH_VERSION) keras==$(KERAS_VERSION) h5py==$(H5PY_VERSION) \
		onnx==$(ONNX_VERSION) onnxruntime==$(ORT_VERSION) 'dask[distributed]==$(DASK_VERSION)' \
		pandas==$(PANDAS_VERSION) pyarrow==$(PYARROW_VERSION) \
		onnxscript==$(ONNXSCRIPT_VERSION)
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip install --quiet --no-deps aeon==$(AEON_VERSION)

# Issue 19's Ray Data and Spark recipes (examples/score_ray.py, examples/score_spark.py) against
# Model.run. Not in setup-test: ray is an 80 MB wheel (240 MB installed), pyspark a 460 MB sdist
# (490 MB installed); Spark also needs a Java 17+ runtime (apt-get install default-jre-headless),
# its tests skip with that reason without one. About 5 minutes on 2 cores.
test-engines: setup-test
	$(BIN)/pip install --quiet 'ray[data]==$(RAY_VERSION)' pyspark==$(PYSPARK_VERSION)
	$(BIN)/python -m pytest -q tests/test_engines.py

# tests/test_import_tf_exports.py in its own environment: TensorFlow (about 2 GB) pins its own NumPy
# and protobuf, so it stays out of .venv. gru_rt is the extension setup-test built in place.
$(TF_VENV)/bin/python:
	$(PYTHON) -m venv $(TF_VENV)
	$(TF_VENV)/bin/python -m pip install --quiet --upgrade pip

test-tf: setup-test $(TF_VENV)/bin/python
	$(TF_VENV)/bin/pip install --quiet tensorflow==$(TENSORFLOW_VERSION) \
		tf-keras==$(TF_KERAS_VERSION) tf2onnx==$(TF2ONNX_VERSION) keras==$(KERAS_VERSION) \
		onnx==$(ONNX_VERSION) onnxruntime==$(ORT_VERSION) pytest==$(PYTEST_VERSION)
	PYTHONPATH=$(CURDIR) $(TF_VENV)/bin/python -m pytest -q tests/test_import_tf_exports.py

ctest:
	$(MAKE) -C csrc test
	$(MAKE) -C csrc sanitize

lint: setup-test
	$(BIN)/ruff check gru_rt tests tools examples bench
	$(BIN)/mypy gru_rt

test: setup-test ctest lint
	$(BIN)/python -m pytest -q

# Issue 7's CI checks (needs clang with libFuzzer and valgrind; .ci/run installs them): replay the
# seed corpus through both fuzz targets, fuzz each for FUZZ_SECONDS, run the core Python tests under
# valgrind memcheck. Long campaigns: see csrc/fuzz/README.md and docs/SECURITY.md.
hardening: setup-test
	$(MAKE) -C csrc fuzz-replay
	$(MAKE) -C csrc fuzz FUZZ_SECONDS=$(FUZZ_SECONDS)
	$(BIN)/python tools/fuzz_python.py -runs=0 csrc/fuzz/corpus
	mkdir -p build/pyfuzz
	$(BIN)/python tools/fuzz_python.py -max_total_time=$(FUZZ_SECONDS) -max_len=65536 \
		build/pyfuzz csrc/fuzz/corpus
	rm -rf build/convert_seeds
	$(BIN)/python tools/fuzz_convert.py --make-seeds build/convert_seeds
	mkdir -p build/convert_corpus
	GRU_RT_FUZZ_FORMATS=$(CONVERT_FUZZ_FORMATS) $(BIN)/python tools/fuzz_convert.py \
		-max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 -timeout=20 -max_len=65536 \
		build/convert_corpus build/convert_seeds
	$(BIN)/python tools/memcheck.py

# The benchmark suite (issue 5): gru_rt f32/q8/q15 against PyTorch and ONNX Runtime, one thread,
# in one process; writes bench/results/suite.json and suite.png. Plus the C-level benchmark.
bench: setup-test
	$(BIN)/pip install --quiet matplotlib
	$(BIN)/python bench/bench_suite.py
	$(MAKE) -C csrc bench

clean:
	$(MAKE) -C csrc clean
	rm -rf build $(OUT) gru_rt/_core.c gru_rt/*.so *.egg-info
