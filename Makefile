# The two commands: `make demo` runs the kiosk here on simulated devices; `make test` runs the tests.
export PATH := /opt/swift/usr/bin:$(PATH)
SWIFT ?= swift

.PHONY: demo test build deps deps-test bench clean catalog

demo: deps build
	scripts/demo.sh

test: deps-test
	$(SWIFT) build --build-tests
	scripts/run-tests.sh

build:
	$(SWIFT) build

deps:
	scripts/deps.sh demo

deps-test:
	scripts/deps.sh test

catalog:
	python3 scripts/build-catalog.py && python3 scripts/check-catalog.py

bench: deps-test
	scripts/deps.sh bench
	scripts/bench.sh

clean:
	rm -rf .build .demo
