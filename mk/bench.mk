# `make bench`: the main job.  Builds everything (all), runs every experiment in quick
# mode (harness/run all --quick: three repetitions of every point) and writes
# results/latest/report.html, within 20 minutes on a 2-core machine, build and deps
# not counted (harness/lib/budget.py; make test checks the plan's estimate); prints
# the wall time, build included.  `make bench-full` is the long run (mk/harness.mk).
ifneq ($(filter bench bench-full,$(MAKECMDGOALS)),)
BENCH_T0 := $(shell date +%s)
endif

.PHONY: bench
bench: all | deps-ok
	@harness/run all --quick; rc=$$?; \
	echo "make bench: wall time $$(( $$(date +%s) - $(BENCH_T0) )) s, build included (report: results/latest/report.html)"; \
	exit $$rc
