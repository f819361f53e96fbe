# The C servers: servers/common/*.c into libcommon.a, then one binary per
# servers/<model>.c.  A new model file builds without touching this file; a
# model that needs a library says so in LIBS_<model> (and CFLAGS_<model>).

COMMON_SRCS := $(wildcard servers/common/*.c)
COMMON_OBJS := $(COMMON_SRCS:%.c=$(BUILD)/obj/%.o)
LIBCOMMON   := $(BUILD)/libcommon.a

MODELS      := $(basename $(notdir $(wildcard servers/*.c)))
MODEL_BINS  := $(MODELS:%=$(BUILD)/srv-%)

# Every server links libpq: /db and /queries live in servers/common.
COMMON_LIBS := $(call pkg_libs,libpq)
$(COMMON_OBJS): CFLAGS += $(call pkg_cflags,libpq)

LIBS_libev  := -lev
LIBS_libuv   := $(call pkg_libs,libuv)
CFLAGS_libuv := $(call pkg_cflags,libuv)
LIBS_uring   := $(call pkg_libs,liburing)
CFLAGS_uring := $(call pkg_cflags,liburing)

ALL_BINS   += $(MODEL_BINS)
## make servers      build build/srv-<model> for every servers/<model>.c

.PHONY: servers
servers: $(MODEL_BINS)

$(LIBCOMMON): $(COMMON_OBJS)
	@mkdir -p $(@D)
	rm -f $@
	$(AR) rcs $@ $^

# Per-model compile flags (libuv's include path) for that model's object only.
$(foreach m,$(MODELS),$(eval $(BUILD)/obj/servers/$(m).o: CFLAGS += $$(CFLAGS_$(m))))

$(BUILD)/srv-%: $(BUILD)/obj/servers/%.o $(LIBCOMMON) $(LLHTTP_LIB)
	$(CC) $(LDFLAGS) -o $@ $< $(LIBCOMMON) $(LLHTTP_LIB) $(COMMON_LIBS) $(LIBS_$*) $(LDLIBS)
