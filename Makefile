# The two commands of the README. Both set up everything they need first.
.PHONY: run test demo

run:
	@scripts/bootstrap.sh
	@.venv/bin/cameogate serve

test:
	@scripts/bootstrap.sh
	@scripts/check

demo:
	@scripts/bootstrap.sh
	@.venv/bin/cameogate demo
