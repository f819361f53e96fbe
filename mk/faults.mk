# Fault tests (tests/faults/, docs/reliability.md): slowloris, resets, clients
# that vanish during /block, more connections than descriptors, --max-conns,
# SIGTERM under load, and the database restarted or stopped under load
# (tests/faults/db_cases.c) -- against every model whose source exists, each
# case with a server of its own.  The client plumbing is the conformance
# suite's (tests/conformance/child.c, client.c); the loads are build/loadgen's.
# Each model and variant runs under a throwaway PostgreSQL of its own
# (harness/pg run), which its database cases stop and start.
#
#   make test-faults                 every model, plain build
#   build/test-faults --server build/srv-epoll [--server-arg --offload --server-arg 2]
#   harness/pg run -- build/test-faults --server build/srv-epoll   (with the database cases)
#   harness/pg run -- build/test-faults --server build/srv-prefork --suite 'database faults'

FAULT_MODELS := iterative threads pool prefork select poll epoll libev libuv uring node
# Run again with --reactors 2: several threads accepting at once share one
# reserve descriptor for EMFILE (servers/common/net.c), which one thread alone
# never tests.  (node's --reactors is cluster: N processes, each with limits of
# its own, which the single-process fd-limit and --max-conns cases cannot judge.)
FAULT_REACTOR_MODELS := select poll epoll libev libuv uring

FAULT_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard tests/faults/*.c)) \
              $(BUILD)/obj/tests/conformance/child.o $(BUILD)/obj/tests/conformance/client.o
$(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard tests/faults/*.c)): \
	CPPFLAGS += -Itests/conformance $(call pkg_cflags,cunit)

$(BUILD)/test-faults: $(FAULT_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(call pkg_libs,cunit) $(LDLIBS)

fault_source = $(if $(filter node,$(1)),servers/node/server.js,servers/$(1).c)
FAULT_PRESENT = $(foreach m,$(FAULT_MODELS),$(if $(wildcard $(call fault_source,$(m))),$(m)))

# A model whose source exists but whose binary does not build is a failure.
.PHONY: test-faults
test-faults: $(BUILD)/test-faults $(BUILD)/loadgen | deps-ok
	@log=$$(mktemp); rc=0; summary=; \
	for m in $(FAULT_PRESENT); do \
	  if ! $(MAKE) --no-print-directory $(BUILD)/srv-$$m >$$log 2>&1; then \
	    cat $$log; summary="$$summary\n  $$m: BUILD FAILED"; rc=1; continue; fi; \
	  $(call usable,$(BUILD)/srv-$$m,faults); \
	  variants="none"; \
	  case " $(FAULT_REACTOR_MODELS) " in *" $$m "*) variants="none reactors";; esac; \
	  for v in $$variants; do \
	    $(VARIANT_ARGS); \
	    start=$$(date +%s); \
	    timeout -k 10 600 harness/pg run -- $(BUILD)/test-faults --server $(BUILD)/srv-$$m $$args --loadgen $(BUILD)/loadgen >$$log 2>&1; r=$$?; \
	    cat $$log; \
	    line=$$(grep '^faults summary:' $$log | tail -1); \
	    [ -n "$$line" ] || line="faults summary: model=$$m args='$$args' crashed or timed out (exit $$r)"; \
	    summary="$$summary\n  $${line#faults summary: } ($$(( $$(date +%s) - start )) s)"; \
	    [ $$r -eq 0 ] || rc=1; \
	  done; \
	done; rm -f $$log; \
	printf "fault tests per model ($(BUILD)):$$summary\n"; \
	exit $$rc

TEST_TARGETS += test-faults
TEST_PREBUILD += $(BUILD)/test-faults
## make test-faults  fault tests against every model: slowloris, resets, vanishing clients, EMFILE, --max-conns, SIGTERM under load, the database restarted or stopped
