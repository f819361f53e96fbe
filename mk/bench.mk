# `make bench`: the main job.  Builds everything (all), runs every experiment in quick
# mode (harness/run all --quick) and writes results/latest/report.html, within the
# time budget the harness declares (docs/harness.md); prints the wall time, build
# included.  `make bench-full` is the long run (mk/harness.mk).
ifneq ($(filter bench bench-full,$(MAKECMDGOALS)),)
BENCH_T0 := $(shell date +%s)
endif

.PHONY: bench
bench: all | deps-ok
	@harness/run all --quick; rc=$$?; \
	echo "make bench: wall time $$(( $$(date +%s) - $(BENCH_T0) )) s, build included (report: results/latest/report.html)"; \
	exit $$rc
