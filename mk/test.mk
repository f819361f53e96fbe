# `make test`: every part's test target, in a fixed order (cheap and basic first),
# each run even when an earlier one failed, then one closing line with the counts.
# Each mk/<part>.mk appends its phony test targets to TEST_TARGETS.
TEST_ORDER := test-build test-model-repeats test-unit test-loads test-conformance test-conformance-san \
              test-loads-integration test-faults test-tsan test-fuzz-smoke \
              test-harness-rules test-harness-smoke test-labs test-notebooks

.PHONY: test
test: | deps-ok
	@passed=0; failed=0; failures=; \
	for t in $(TEST_ORDER) $(filter-out $(TEST_ORDER),$(TEST_TARGETS)); do \
	  case " $(TEST_TARGETS) " in *" $$t "*) ;; *) continue;; esac; \
	  echo "=== $$t"; start=$$(date +%s); \
	  if $(MAKE) --no-print-directory $$t; then passed=$$((passed+1)); r=ok; \
	  else failed=$$((failed+1)); failures="$$failures $$t"; r=FAILED; fi; \
	  echo "=== $$t: $$r in $$(( $$(date +%s) - start )) s"; \
	done; \
	[ -z "$$failures" ] || echo "failed parts:$$failures"; \
	echo "test: $$passed passed, $$failed failed"; \
	[ $$failed -eq 0 ]
