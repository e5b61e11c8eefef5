# pmmlkit — see README.md. Two entry points: `make demo` and `make test`.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
JAVA_SRC := $(wildcard bridge/src/pmmlkit/bridge/*.java)
BRIDGE_JAR := pmmlkit/jars/pmmlkit-bridge.jar

.PHONY: demo test lint bench jar docs protos clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m pmmlkit.demo

lint: $(STAMP)
	$(VENV)/bin/ruff check pmmlkit tests benchmarks
	$(VENV)/bin/mypy pmmlkit

test: $(STAMP) lint
	$(VENV)/bin/pytest -q

# Regenerate docs/cli.md's option tables from the Typer app (the tests check them).
docs: $(STAMP)
	$(PY) -m pmmlkit.cli._docs docs/cli.md

bench: $(STAMP)
	$(PY) benchmarks/bench_scorer.py

# The bridge jar is committed (users need no JDK); rebuild it after editing bridge/src.
jar: $(STAMP)
	rm -rf build/bridge && mkdir -p build/bridge
	javac --release 11 -cp "$$($(PY) -c 'from pmmlkit.scorer.backends._jvm import dependency_classpath as c; print(":".join(c()))')" \
	    -d build/bridge $(JAVA_SRC)
	jar --create --file $(BRIDGE_JAR) -C build/bridge .

# Recompile the gRPC descriptor set after editing pmmlkit/server/rpc/protos/*.proto (committed;
# a test checks it matches the .proto files).
protos: $(STAMP)
	$(PY) -m pmmlkit.server.rpc.compile

clean:
	rm -rf build $(VENV)
