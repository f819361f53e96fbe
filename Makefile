# loopbench — the only entry point a user needs.  `make help` lists the targets.
#
# Objects and binaries go to build/ (or build/san-<list>/ when SAN= is set, so an
# instrumented build never overwrites the plain one the benchmarks measure).
# Each part of the project keeps its rules in mk/<part>.mk; a line there starting
# with '## ' is its entry in `make help`.

CC      ?= cc
SAN     ?=
comma   := ,
BUILD   := build$(if $(SAN),/san-$(subst $(comma),-,$(SAN)))

CFLAGS_BASE := -std=c11 -D_GNU_SOURCE -O2 -g -pthread \
               -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Werror
# The sanitizer flags alone, for code compiled with flags of its own (mk/llhttp.mk).
SAN_CFLAGS  := $(if $(SAN),-fsanitize=$(SAN) -fno-omit-frame-pointer -fno-sanitize-recover=all)
CFLAGS_BASE += $(SAN_CFLAGS)
ifneq ($(SAN),)
LDFLAGS     += -fsanitize=$(SAN)
endif
CFLAGS  ?=
CFLAGS  := $(CFLAGS_BASE) $(CFLAGS)
LDLIBS  += -pthread

# Flags of a library that `make deps` installs, as *shell* command substitutions:
# $(call pkg_cflags,libuv) puts the text `$(pkg-config --cflags libuv)` into a
# recipe, so pkg-config runs when the recipe runs -- after deps-ok has installed
# the package -- and never while make parses this file.  On a new machine the
# packages arrive only after parsing: a value computed then (`:= $(shell
# pkg-config ...)`) would stay empty for the whole run and the link would fail.
# tests/build/parse-time.sh fails if anything deps installs runs at parse time.
pkg_cflags = $$(pkg-config --cflags $(1))
pkg_libs   = $$(pkg-config --libs $(1))

.DEFAULT_GOAL := all
.PHONY: all help clean deps test bench

help:
	@echo 'loopbench targets:'
	@echo '  make bench        build, run the quick benchmark suite, write results/latest/report.html'
	@echo '  make test         every test: unit, conformance (plain and ASan/UBSan builds), smoke'
	@echo '  make              build every server and the load generator into build/'
	@echo '  make deps         install the missing Debian packages (apt-get; needs root)'
	@echo '  make clean        remove build/'
	@echo '  make SAN=address,undefined   instrumented build into build/san-address-undefined/'
	@sed -n 's/^## /  /p' $(sort $(wildcard mk/*.mk))

# The suites' server variants, as test-binary arguments: `$(VARIANT_ARGS)` in a
# recipe's shell loop sets $$args from $$v (none, offload, reactors).
VARIANT_ARGS = case $$v in none) args=;; \
  offload) args="--server-arg --offload --server-arg 2";; \
  reactors) args="--server-arg --reactors --server-arg 2";; esac

# In a recipe's model loop over $$m (with $$summary and $$rc): $(call usable,BIN,SUITE)
# asks tests/usable.sh whether BIN can run on this machine.  One that cannot
# (srv-uring without io_uring) is reported "not testable here" with its reason
# and skipped; one that does not start at all fails the suite.
usable = u=$$(tests/usable.sh $(1)); case $$? in 0) ;; \
  3) echo "$(2): $$m: not testable here: $$u"; summary="$$summary\n  $$m: not testable here: $$u"; continue;; \
  *) echo "$(2): $$m: $$u"; summary="$$summary\n  $$m: DOES NOT START"; rc=1; continue;; esac

# deps.mk and llhttp.mk first: the others use their variables in rules.
include mk/deps.mk mk/llhttp.mk
include $(sort $(filter-out mk/deps.mk mk/llhttp.mk,$(wildcard mk/*.mk)))

all: $(ALL_BINS)

clean:
	rm -rf build

# Objects: one rule for every C file of the project, with dependency files so a
# changed header rebuilds what includes it.
$(BUILD)/obj/%.o: %.c | deps-ok
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(CPPFLAGS) -MMD -MP -c $< -o $@

-include $(shell find build -name '*.d' 2>/dev/null)
