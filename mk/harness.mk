# The harness.  `make bench` (mk/bench.mk) runs every experiment in quick
# mode and writes results/latest/report.html; `make bench-full` is the long run:
# every point, three repetitions, 5 s windows (about 2.5 hours).
# The harness is Python 3 (Debian's /usr/bin/python3, standard library only) plus
# gnuplot; it drives build/loadgen against build/srv-*.

HARNESS_PY := /usr/bin/python3

.PHONY: bench-full test-harness-smoke harness-print-cflags

bench-full: all | deps-ok
	@harness/run all --full; rc=$$?; \
	echo "make bench-full: wall time $$(( $$(date +%s) - $(BENCH_T0) )) s, build included (report: results/latest/report.html)"; \
	exit $$rc

# A tiny experiment end to end into a temporary directory, then checks on its
# data.csv, figures and report (tests/harness/smoke.py says what and why).
test-harness-smoke: all | deps-ok
	$(HARNESS_PY) tests/harness/smoke.py

# meta.json records the flags the servers were built with.
harness-print-cflags:
	@echo '$(CFLAGS)'

TEST_TARGETS += test-harness-smoke
## make bench-full     the long benchmark run: every point, 3 repetitions, 5 s windows (~2.5 h)
## harness/run NAME    one experiment; harness/doctor first checks what the machine can measure
