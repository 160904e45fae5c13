# Convenience targets; the scripts are what README.md and CI call.
.PHONY: setup test lint demo lab-down bench

setup:
	scripts/setup.sh

test:
	scripts/test.sh

demo:
	scripts/demo.sh

lab-down:
	.venv/bin/postwright lab down

bench:
	scripts/bench.sh
