# The two commands: `make demo` runs the kiosk here on simulated devices; `make test` runs the tests.
export PATH := /opt/swift/usr/bin:$(PATH)
SWIFT ?= swift

.PHONY: demo test build deps deps-test bench clean catalog deb

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

# The kiosk-terminal .deb in dist/ (release build, static Swift stdlib); see README "Installing on a kiosk".
deb: deps
	scripts/deps.sh deb
	scripts/build-deb.sh

catalog:
	python3 scripts/build-catalog.py && python3 scripts/check-catalog.py

bench: deps-test
	scripts/deps.sh bench
	scripts/bench.sh

clean:
	rm -rf .build .demo dist
