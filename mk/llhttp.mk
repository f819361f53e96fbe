# llhttp, Node's HTTP parser, for the servers (servers/common/http.c), the load
# generator's response reader (loads/http_resp.c) and their tests.  Its C is
# generated code from Debian's node-llhttp (8.1.0), which `make deps` puts into
# build/llhttp/ (mk/deps.sh says how; build/llhttp/SOURCE says from where); it
# is never copied into the repository.
#
# Generated code is not written to our warning set, so it gets flags of its
# own: C99 as upstream builds it, our optimisation level, no -W or -Werror, the
# sanitizers of the build (SAN=...), and LLHTTP_STRICT_MODE=1.  That macro
# selects llhttp 8's strict state machine (the generated file holds both); no
# lenient flag is ever set at run time.  The fuzz build compiles its own,
# instrumented copy from the same sources (mk/fuzz.mk).
#
# And -flto: the state machine (llhttp.c) reaches every callback through a
# small function of api.c (llhttp__on_url, ...) that only looks up ours;
# compiled apart, each is a call and a return per callback, several per
# request.  With link-time optimisation they are inlined into the state
# machine when a program links the library (about 120 of srv-epoll's
# user-space instructions per GET /, experiment instr).  The objects are fat,
# so a link that does not optimise at link time still finds machine code.

LLHTTP_DIR      := build/llhttp
LLHTTP_NAMES    := llhttp api http
LLHTTP_SRCS     := $(LLHTTP_NAMES:%=$(LLHTTP_DIR)/%.c)
LLHTTP_DEFS     := -DLLHTTP_STRICT_MODE=1
LLHTTP_CFLAGS   := -std=c99 -O2 -g -flto -ffat-lto-objects $(LLHTTP_DEFS)
LLHTTP_OBJS     := $(LLHTTP_NAMES:%=$(BUILD)/obj/llhttp/%.o)
LLHTTP_LIB      := $(BUILD)/libllhttp.a

# Every object may include <llhttp.h>: the directory holds nothing else of ours.
CPPFLAGS += -I$(LLHTTP_DIR)

# The sources exist once deps-ok has run (every target waits for it): named
# here, so that make knows it can count on them.
$(LLHTTP_SRCS) $(LLHTTP_DIR)/llhttp.h: | deps-ok
	@test -e $@ || { echo "$@ is missing: run make deps" >&2; exit 1; }

# This file holds the objects' flags: a change to them rebuilds the objects.
$(BUILD)/obj/llhttp/%.o: $(LLHTTP_DIR)/%.c $(LLHTTP_DIR)/llhttp.h mk/llhttp.mk
	@mkdir -p $(@D)
	$(CC) $(LLHTTP_CFLAGS) $(SAN_CFLAGS) -I$(LLHTTP_DIR) -c $< -o $@

$(LLHTTP_LIB): $(LLHTTP_OBJS)
	@mkdir -p $(@D)
	rm -f $@
	$(AR) rcs $@ $^
