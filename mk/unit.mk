# Unit tests (CUnit) for servers/common: one binary, every suite.
# `make test-unit` runs it; a failed assertion makes it exit non-zero.  (Run by
# hand, it needs $LOOPBENCH_DB: `harness/pg run -- build/test-unit`.)

UNIT_SRCS := $(wildcard tests/unit/*.c)
UNIT_OBJS := $(UNIT_SRCS:%.c=$(BUILD)/obj/%.o)
UNIT_BIN  := $(BUILD)/test-unit

CUNIT_CFLAGS := $(call pkg_cflags,cunit)
CUNIT_LIBS   := $(call pkg_libs,cunit)

TEST_TARGETS += test-unit
TEST_PREBUILD += $(UNIT_BIN)
## make test-unit    the CUnit unit tests of servers/common

$(UNIT_OBJS): CFLAGS += $(CUNIT_CFLAGS) $(call pkg_cflags,libpq) -Iservers

$(UNIT_BIN): $(UNIT_OBJS) $(LIBCOMMON) $(LLHTTP_LIB)
	$(CC) $(LDFLAGS) -o $@ $(UNIT_OBJS) $(LIBCOMMON) $(LLHTTP_LIB) $(COMMON_LIBS) $(CUNIT_LIBS) $(LDLIBS)

# Under a throwaway PostgreSQL of its own (harness/pg): the database clients'
# tests (test_dbclients.c) run against it.
.PHONY: test-unit
test-unit: $(UNIT_BIN)
	harness/pg run -- $(UNIT_BIN)
