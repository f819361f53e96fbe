# ThreadSanitizer (docs/reliability.md).  `make SAN=thread` builds everything
# with -fsanitize=thread into build/san-thread/ (the Makefile's SAN rule; TSan
# cannot be combined with ASan, so it is a build of its own).  `make test-tsan`
# runs tests/faults/stress.sh -- many clients of GET / /cpu /block /bytes,
# pipelining, --max-conns churn, idle timeouts, SIGTERM under load -- against
# the TSan build of every threaded configuration: threads, pool, prefork (its
# parent's signal thread beside the supervisor, counters shared with the
# workers), and each event model with --offload 2, --reactors 2, and both.  The load generator is the
# plain build (it is not under test here).  libev and libuv are not
# instrumented; tests/tsan.supp may silence what comes from inside them only.

TSAN_BUILD    := build/san-thread
TSAN_OPTIONS_ := halt_on_error=0 exitcode=66 history_size=4 second_deadlock_stack=1 \
                 suppressions=$(abspath tests/tsan.supp)
TSAN_EVENT    := select poll epoll libev libuv uring
TSAN_ARGS     := --offload,2 --reactors,2 --offload,2,--reactors,2

# model[:comma-separated args] for every configuration whose source exists.
TSAN_RUNS = $(foreach m,threads pool prefork,$(if $(wildcard servers/$(m).c),$(m))) \
            $(foreach m,$(TSAN_EVENT),$(if $(wildcard servers/$(m).c),$(foreach a,$(TSAN_ARGS),$(m):$(a))))

# Under a throwaway PostgreSQL (harness/pg): with $LOOPBENCH_DB set, stress.sh
# adds /db and /queries to its load.
.PHONY: test-tsan tsan-run
test-tsan: $(BUILD)/loadgen | deps-ok
	@harness/pg run -- '$(MAKE) --no-print-directory tsan-run'

tsan-run:
	@log=$$(mktemp); \
	if ! $(MAKE) --no-print-directory SAN=thread $(foreach r,$(TSAN_RUNS),$(TSAN_BUILD)/srv-$(firstword $(subst :, ,$(r)))) >$$log 2>&1; then \
	  cat $$log; rm -f $$log; echo "test-tsan: the SAN=thread build failed"; exit 1; fi; \
	rm -f $$log; rc=0; summary=; \
	for r in $(TSAN_RUNS); do \
	  m=$${r%%:*}; args=; case $$r in *:*) args=$$(echo $${r#*:} | tr , ' ');; esac; \
	  $(call usable,$(TSAN_BUILD)/srv-$$m,test-tsan); \
	  start=$$(date +%s); \
	  line=$$(TSAN_OPTIONS='$(TSAN_OPTIONS_)' tests/faults/stress.sh --server $(TSAN_BUILD)/srv-$$m \
	          --loadgen $(BUILD)/loadgen -- $$args); r2=$$?; \
	  echo "$$line"; \
	  summary="$$summary\n  $$(echo "$$line" | head -1 | sed 's/^stress: //') ($$(( $$(date +%s) - start )) s)"; \
	  [ $$r2 -eq 0 ] || rc=1; \
	done; \
	printf "ThreadSanitizer stress per configuration:$$summary\n"; \
	exit $$rc

TEST_TARGETS += test-tsan
TEST_PREBUILD += prebuild-tsan

.PHONY: prebuild-tsan
prebuild-tsan: | deps-ok
	@$(MAKE) --no-print-directory SAN=thread \
	  $(sort $(foreach r,$(TSAN_RUNS),$(TSAN_BUILD)/srv-$(firstword $(subst :, ,$(r)))))
## make SAN=thread   ThreadSanitizer build into build/san-thread/
## make test-tsan    concurrency stress (tests/faults/stress.sh) on the TSan builds of threads, pool, and every --offload/--reactors mode
