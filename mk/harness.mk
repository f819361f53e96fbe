# The harness.  `make bench` (mk/bench.mk) runs every experiment in quick mode and
# writes results/latest/report.html; `make bench-full` is the long run: every point
# and model, three repetitions, 5 s windows (several hours).
# The harness is Python 3 (Debian's /usr/bin/python3, standard library only) plus
# gnuplot; it drives build/loadgen against build/srv-*.

HARNESS_PY := /usr/bin/python3

.PHONY: bench-full test-harness-smoke test-harness-rules harness-print-cflags

bench-full: all | deps-ok
	@harness/run all --full; rc=$$?; \
	echo "make bench-full: wall time $$(( $$(date +%s) - $(BENCH_T0) )) s, build included (report: results/latest/report.html)"; \
	exit $$rc

# A tiny experiment end to end into a temporary directory, then checks on its
# data.csv, figures and report (tests/harness/smoke.py says what and why).
test-harness-smoke: all | deps-ok
	$(HARNESS_PY) tests/harness/smoke.py

# Every verdict rule fed synthetic data, one case per outcome; the time budget of
# make bench; the thresholds' reasons (tests/harness/rules.py).  Runs nothing.
test-harness-rules:
	$(HARNESS_PY) tests/harness/rules.py

# meta.json records the flags the servers were built with.
harness-print-cflags:
	@echo '$(CFLAGS)'

TEST_TARGETS += test-harness-rules test-harness-smoke
## make bench-full     the long benchmark run: every point and model, 3 repetitions, 5 s windows
## make test-harness-rules  the verdict rules on synthetic data, the make-bench time budget
## harness/run NAME    one experiment; harness/doctor first checks what the machine can measure
