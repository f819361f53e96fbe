# `make test`: every part's test target, in a fixed order (cheap and basic first),
# each run even when an earlier one failed, then one closing line with the counts.
# Each mk/<part>.mk appends its phony test targets to TEST_TARGETS.
#
# The parts that need PostgreSQL start throwaway clusters of their own
# (harness/pg); this run makes them all in one directory of its own
# ($LOOPBENCH_PG_DIR), and its last part checks that none is left there, and no
# server started from one (tests/db/pg_left.py) -- other runs on the machine
# have clusters of their own elsewhere.
TEST_ORDER := test-build test-model-repeats test-unit test-loads test-conformance test-conformance-san \
              test-db-rows test-loads-integration test-faults test-tsan test-fuzz-smoke \
              test-harness-smoke test-labs test-notebooks

.PHONY: test
test: | deps-ok
	@passed=0; failed=0; failures=; \
	LOOPBENCH_PG_DIR=$$(mktemp -d "$${TMPDIR:-/tmp}/loopbench-test-pg.XXXXXX") && \
	  chmod 755 $$LOOPBENCH_PG_DIR && export LOOPBENCH_PG_DIR || exit 1; \
	for t in $(TEST_ORDER) $(filter-out $(TEST_ORDER),$(TEST_TARGETS)); do \
	  case " $(TEST_TARGETS) " in *" $$t "*) ;; *) continue;; esac; \
	  echo "=== $$t"; start=$$(date +%s); \
	  if $(MAKE) --no-print-directory $$t; then passed=$$((passed+1)); r=ok; \
	  else failed=$$((failed+1)); failures="$$failures $$t"; r=FAILED; fi; \
	  echo "=== $$t: $$r in $$(( $$(date +%s) - start )) s"; \
	done; \
	echo "=== no PostgreSQL left behind"; \
	if /usr/bin/python3 tests/db/pg_left.py $$LOOPBENCH_PG_DIR; then passed=$$((passed+1)); \
	else failed=$$((failed+1)); failures="$$failures pg-left-behind"; fi; \
	[ -z "$$failures" ] || echo "failed parts:$$failures"; \
	echo "test: $$passed passed, $$failed failed"; \
	[ $$failed -eq 0 ]
