# Fuzzing (tests/fuzz/, docs/reliability.md): libFuzzer targets built with clang,
# -fsanitize=fuzzer,address,undefined, into build/fuzz/ (whatever SAN says: a
# fuzz build is always instrumented).
#
#   fuzz-http   the HTTP core of servers/common through the session API
#   fuzz-echo   the echo protocol through the session API
#   fuzz-resp   the load generator's response reader (loads/http_resp.c)
#
# `make fuzz` runs each for FUZZ_SECONDS on a corpus kept in build/fuzz/corpus/
# (seeded from tests/fuzz/corpus/, grown run after run); `make test-fuzz-smoke`
# runs each for FUZZ_SMOKE_SECONDS on a fresh copy of the seeds.  Either fails
# on a crash, leak or broken invariant, leaving the input in
# build/fuzz/artifacts/<target>/; replay one with `build/fuzz/fuzz-<target> FILE`.

FUZZ_CC            ?= clang
FUZZ_BUILD         := build/fuzz
FUZZ_SECONDS       ?= 60
FUZZ_SMOKE_SECONDS ?= 20
FUZZ_TARGETS       := http echo resp
FUZZ_BINS          := $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz-%)

FUZZ_SAN    := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -O1 -g -pthread -Wall -Wextra -Wshadow \
               -Wstrict-prototypes -Wmissing-prototypes -Werror \
               -fsanitize=fuzzer-no-link $(FUZZ_SAN) -Itests/fuzz

# -rss_limit_mb bounds memory per input as well as in all: an input that makes
# the session hold unbounded memory fails here.
FUZZ_OPTS := -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
FUZZ_OPTS_http := -dict=tests/fuzz/http.dict -max_len=16384
FUZZ_OPTS_echo := -max_len=140000
FUZZ_OPTS_resp := -dict=tests/fuzz/resp.dict -max_len=4096

FUZZ_COMMON_OBJS := $(patsubst %.c,$(FUZZ_BUILD)/obj/%.o,$(wildcard servers/common/*.c))
FUZZ_LLHTTP_OBJS := $(LLHTTP_NAMES:%=$(FUZZ_BUILD)/obj/llhttp/%.o)

# Include paths per target: loads/ has a sched.h that must not shadow the
# system's for anything else.
FUZZ_INC = $(if $(findstring fuzz_resp,$<),-Iloads,-Iservers) -I$(LLHTTP_DIR)

$(FUZZ_BUILD)/obj/%.o: %.c | deps-ok
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_INC) $(call pkg_cflags,libpq) -MMD -MP -c $< -o $@

# llhttp from build/llhttp/ with its own flags (mk/llhttp.mk), instrumented
# like the rest: coverage of the parser's states is what guides the fuzzer.
$(FUZZ_BUILD)/obj/llhttp/%.o: $(LLHTTP_DIR)/%.c $(LLHTTP_DIR)/llhttp.h
	@mkdir -p $(@D)
	$(FUZZ_CC) -std=c99 -O1 -g $(LLHTTP_DEFS) -fsanitize=fuzzer-no-link $(FUZZ_SAN) -I$(LLHTTP_DIR) -c $< -o $@

$(FUZZ_BUILD)/fuzz-http: $(FUZZ_BUILD)/obj/tests/fuzz/fuzz_http.o $(FUZZ_COMMON_OBJS) $(FUZZ_LLHTTP_OBJS)
	$(FUZZ_CC) -fsanitize=fuzzer $(FUZZ_SAN) -o $@ $^ $(COMMON_LIBS) -pthread

$(FUZZ_BUILD)/fuzz-echo: $(FUZZ_BUILD)/obj/tests/fuzz/fuzz_echo.o $(FUZZ_COMMON_OBJS) $(FUZZ_LLHTTP_OBJS)
	$(FUZZ_CC) -fsanitize=fuzzer $(FUZZ_SAN) -o $@ $^ $(COMMON_LIBS) -pthread

$(FUZZ_BUILD)/fuzz-resp: $(FUZZ_BUILD)/obj/tests/fuzz/fuzz_resp.o $(FUZZ_BUILD)/obj/loads/http_resp.o $(FUZZ_LLHTTP_OBJS)
	$(FUZZ_CC) -fsanitize=fuzzer $(FUZZ_SAN) -o $@ $^

# $(call fuzz_run,CORPUS_ROOT,SECONDS,FRESH): runs every target in turn, prints
# one line per target (executions, corpus size, result), fails if any failed.
# libFuzzer first replays the whole corpus, so every committed seed (and every
# input a past crash left in the seeds) is checked before it mutates anything.
define fuzz_run
	@rc=0; summary=; \
	for t in $(FUZZ_TARGETS); do \
	  corpus=$(1)/$$t; art=$(FUZZ_BUILD)/artifacts/$$t; log=$(FUZZ_BUILD)/$$t.log; \
	  if [ "$(3)" = fresh ]; then rm -rf $$corpus; fi; \
	  mkdir -p $$corpus $$art; cp -n tests/fuzz/corpus/$$t/* $$corpus/; \
	  case $$t in http) extra='$(FUZZ_OPTS_http)';; echo) extra='$(FUZZ_OPTS_echo)';; \
	    resp) extra='$(FUZZ_OPTS_resp)';; esac; \
	  echo "fuzz-$$t: $(2) s on $$corpus"; \
	  timeout -k 10 $$(( $(2) + 120 )) $(FUZZ_BUILD)/fuzz-$$t $(FUZZ_OPTS) $$extra \
	    -max_total_time=$(2) -artifact_prefix=$$art/ $$corpus >$$log 2>&1; r=$$?; \
	  execs=$$(sed -n 's/^stat::number_of_executed_units: *//p' $$log); \
	  if [ $$r -eq 0 ]; then res=ok; else res="FAILED (exit $$r)"; rc=1; \
	    grep -E 'invariant failed|ERROR|SUMMARY|Test unit written' $$log | head -20; \
	    echo "fuzz-$$t: full log in $$log"; fi; \
	  summary="$$summary\n  fuzz-$$t: $${execs:-?} executions, corpus $$(ls $$corpus | wc -l) inputs: $$res"; \
	done; \
	printf "fuzzing ($(2) s per target):$$summary\n"; \
	exit $$rc
endef

.PHONY: fuzz fuzz-build test-fuzz-smoke
fuzz-build: $(FUZZ_BINS)

fuzz: $(FUZZ_BINS)
	$(call fuzz_run,$(FUZZ_BUILD)/corpus,$(FUZZ_SECONDS),keep)

test-fuzz-smoke: $(FUZZ_BINS)
	$(call fuzz_run,$(FUZZ_BUILD)/smoke,$(FUZZ_SMOKE_SECONDS),fresh)

TEST_TARGETS += test-fuzz-smoke
TEST_PREBUILD += $(FUZZ_BINS)
## make fuzz         each libFuzzer target for FUZZ_SECONDS (default 60) on build/fuzz/corpus
## make test-fuzz-smoke   each fuzz target for FUZZ_SMOKE_SECONDS (20) on a fresh copy of the seeds
