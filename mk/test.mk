# `make test`: every part's test target, TEST_JOBS at a time (tests/run-parts.sh
# says why that is safe and how the output stays readable), each run even when
# another failed, then one closing line with the counts.  Each mk/<part>.mk
# appends its phony test targets to TEST_TARGETS, and what they build to
# TEST_PREBUILD: everything is built first, in one make, so that parts running
# side by side never compile the same file at once.
#
# TEST_ORDER starts the long parts first, so that the lanes end together; a part
# it does not name runs after those it does.
#
# The parts that need PostgreSQL start throwaway clusters of their own
# (harness/pg); this run makes them all in one directory of its own
# ($LOOPBENCH_PG_DIR), and its last part, once every other has ended, checks
# that none is left there and no server started from one (test-pg-left,
# mk/db.mk) -- other runs on the machine have clusters of their own elsewhere.
TEST_JOBS  ?= 3
TEST_ORDER := test-faults test-tsan test-conformance-san test-conformance test-labs \
              test-fuzz-smoke test-loads-integration test-db-rows test-notebooks test-harness-smoke \
              test-harness-rules test-loads test-unit test-model-repeats test-build

TEST_PREBUILD += $(ALL_BINS)

.PHONY: test test-prebuild
test: | deps-ok
	@start=$$(date +%s); echo "=== building everything the tests need"; \
	if $(MAKE) --no-print-directory -j2 test-prebuild >build/test-prebuild.log 2>&1; then \
	  echo "=== built in $$(( $$(date +%s) - start )) s"; \
	else cat build/test-prebuild.log; echo "=== the build failed: the parts will say what they miss"; fi
	@LOOPBENCH_PG_DIR=$$(mktemp -d "$${TMPDIR:-/tmp}/loopbench-test-pg.XXXXXX") && \
	  chmod 755 "$$LOOPBENCH_PG_DIR" && export LOOPBENCH_PG_DIR && \
	  tests/run-parts.sh $(TEST_JOBS) --last test-pg-left \
	    $(filter $(TEST_TARGETS),$(TEST_ORDER)) $(filter-out $(TEST_ORDER),$(TEST_TARGETS))

test-prebuild: $(TEST_PREBUILD)
