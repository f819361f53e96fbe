# The conformance suite (tests/conformance/): the same cases against every server
# binary and both protocols, plus the one-screen equivalence check.
#
#   make test-conformance       every model whose source exists, plain build, with
#                               the --offload 2 and --reactors 2 variants of the
#                               event models
#   make test-conformance-san   the same against `make SAN=address,undefined`
#                               (the C models; node is JavaScript, not instrumented)
#   make equivalence            ~33 requests to every model, one table
#
# Each runs under a throwaway PostgreSQL of its own (harness/pg: $LOOPBENCH_DB),
# one cluster per target that every model's /db cases share.

CONF_MODELS       := iterative threads pool prefork select poll epoll libev libuv uring node
CONF_EVENT_MODELS := select poll epoll libev libuv uring node
CONF_SAN          := address,undefined
CONF_SAN_BUILD    := build/san-$(subst $(comma),-,$(CONF_SAN))

CONF_CUNIT_CFLAGS := $(call pkg_cflags,cunit)
CONF_CUNIT_LIBS   := $(call pkg_libs,cunit)

CONF_COMMON := $(BUILD)/obj/tests/conformance/child.o $(BUILD)/obj/tests/conformance/client.o
CONF_OBJS   := $(CONF_COMMON) \
               $(patsubst %.c,$(BUILD)/obj/%.o,tests/conformance/conformance.c \
                 tests/conformance/http_cases.c tests/conformance/http_limits.c tests/conformance/rfc9112_cases.c \
                 tests/conformance/echo_cases.c \
                 tests/conformance/misc_cases.c tests/conformance/wait_cases.c \
                 tests/conformance/resource_cases.c tests/conformance/procfs.c \
                 tests/conformance/db_cases.c tests/conformance/fail_cases.c)
EQUIV_OBJS  := $(CONF_COMMON) $(BUILD)/obj/tests/conformance/equivalence.o

$(CONF_OBJS) $(EQUIV_OBJS): CPPFLAGS += $(CONF_CUNIT_CFLAGS)

$(BUILD)/test-conformance: $(CONF_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(CONF_CUNIT_LIBS) $(LDLIBS)

$(BUILD)/equivalence: $(EQUIV_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# A model is in the run when its source exists; then a binary that fails to build
# is a failure, not a skip.
conf_source = $(if $(filter node,$(1)),servers/node/server.js,servers/$(1).c)
CONF_PRESENT = $(foreach m,$(CONF_MODELS),$(if $(wildcard $(call conf_source,$(m))),$(m)))

# $(call conf_run,BUILD_DIR,MODELS): builds and runs the suite for each model and
# variant, prints one summary line per run, fails if any run failed.
define conf_run
	@dir=$(1); log=$$(mktemp); rc=0; summary=; \
	for m in $(2); do \
	  if ! $(MAKE) --no-print-directory $(if $(filter build,$(1)),,SAN=$(CONF_SAN)) $$dir/srv-$$m >$$log 2>&1; then \
	    cat $$log; echo "conformance: srv-$$m: source exists but the binary does not build: FAIL"; \
	    summary="$$summary\n  $$m: BUILD FAILED"; rc=1; continue; fi; \
	  $(call usable,$$dir/srv-$$m,conformance); \
	  variants="none"; \
	  case " $(CONF_EVENT_MODELS) " in *" $$m "*) variants="none offload reactors";; esac; \
	  for v in $$variants; do \
	    $(VARIANT_ARGS); \
	    $$dir/test-conformance --server $$dir/srv-$$m $$args >$$log 2>&1; r=$$?; \
	    cat $$log; \
	    line=$$(grep '^conformance summary:' $$log | tail -1); \
	    [ -n "$$line" ] || line="conformance summary: model=$$m args='$$args' crashed (exit $$r)"; \
	    summary="$$summary\n  $${line#conformance summary: }"; \
	    [ $$r -eq 0 ] || rc=1; \
	  done; \
	done; rm -f $$log; \
	printf "conformance per model ($$dir):$$summary\n"; \
	exit $$rc
endef

.PHONY: test-conformance test-conformance-san equivalence conformance-run conformance-run-san
test-conformance: $(BUILD)/test-conformance | deps-ok
	@harness/pg run -- '$(MAKE) --no-print-directory conformance-run'

test-conformance-san: | deps-ok
	@$(MAKE) --no-print-directory SAN=$(CONF_SAN) $(CONF_SAN_BUILD)/test-conformance
	@echo 'conformance (SAN=$(CONF_SAN)): the C models only; node is JavaScript and is not instrumented, so it is not run here'
	@harness/pg run -- '$(MAKE) --no-print-directory conformance-run-san'
	@# Every prefork worker answers its first request: 20 ASan servers beside two
	@# busy loops, a few seconds (docs/reliability.md, "ASan/UBSan and prefork's fork").
	@tests/faults/prefork_fork.py $(CONF_SAN_BUILD)/srv-prefork --servers 20

# The loops themselves, inside harness/pg (without it the /db cases say NOT
# APPLICABLE, one line each).
conformance-run: $(BUILD)/test-conformance
	$(call conf_run,$(BUILD),$(CONF_PRESENT))

conformance-run-san:
	$(call conf_run,$(CONF_SAN_BUILD),$(filter-out node,$(CONF_PRESENT)))

equivalence: $(BUILD)/equivalence | deps-ok
	@bins=; rc=0; summary=; for m in $(CONF_PRESENT); do \
	  $(MAKE) --no-print-directory $(BUILD)/srv-$$m >/dev/null || { echo "equivalence: srv-$$m does not build" >&2; exit 1; }; \
	  $(call usable,$(BUILD)/srv-$$m,equivalence); \
	  bins="$$bins $(BUILD)/srv-$$m"; done; \
	[ $$rc -eq 0 ] && harness/pg run -- $(BUILD)/equivalence $$bins

TEST_TARGETS += test-conformance test-conformance-san
TEST_PREBUILD += $(BUILD)/test-conformance $(BUILD)/equivalence prebuild-conformance-san

# The instrumented build the SAN part runs, made with everything else first.
.PHONY: prebuild-conformance-san
prebuild-conformance-san: | deps-ok
	@$(MAKE) --no-print-directory SAN=$(CONF_SAN) $(CONF_SAN_BUILD)/test-conformance \
	  $(foreach m,$(filter-out node,$(CONF_PRESENT)),$(CONF_SAN_BUILD)/srv-$(m))
## make test-conformance      the conformance suite over every model, both protocols
## make test-conformance-san  the same on the ASan/UBSan builds of the C models
## make equivalence           the same 32 requests to every model, one table, and a GET / beside a /sleep
