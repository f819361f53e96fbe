# The load generator (loads/) and its tests (tests/loads/).  loads/ shares no code
# with servers/: the client that measures must not inherit the bugs of what it
# measures.

LOADS_SRCS   := $(wildcard loads/*.c)
LOADS_OBJS   := $(LOADS_SRCS:%.c=$(BUILD)/obj/%.o)
LOADS_LIBOBJS := $(filter-out $(BUILD)/obj/loads/main.o,$(LOADS_OBJS))
LOADS_LIBS   := -lm

LOADS_TEST_SRCS := $(wildcard tests/loads/test_*.c)
LOADS_TEST_OBJS := $(LOADS_TEST_SRCS:%.c=$(BUILD)/obj/%.o)
LOADS_TESTSRV_OBJ := $(BUILD)/obj/tests/loads/lg_testsrv.o

$(LOADS_TEST_OBJS): CPPFLAGS += -Iloads
$(LOADS_TEST_OBJS): CFLAGS += $(call pkg_cflags,cunit)

$(BUILD)/loadgen: $(LOADS_OBJS) $(LLHTTP_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LOADS_LIBS) $(LDLIBS)

$(BUILD)/test-loads: $(LOADS_TEST_OBJS) $(LOADS_LIBOBJS) $(LLHTTP_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(call pkg_libs,cunit) $(LOADS_LIBS) $(LDLIBS)

$(BUILD)/lg-testsrv: $(LOADS_TESTSRV_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

.PHONY: loadgen test-loads test-loads-integration
loadgen: $(BUILD)/loadgen

# Unit tests (CUnit): histogram, schedule, response parser, options, address guard.
test-loads: $(BUILD)/test-loads
	$(BUILD)/test-loads

# Integration: loadgen against every C server model (the counting rule of docs/contract.md,
# a server stopped mid-run) and a small test server (error counts).  The servers are
# built first; a model whose source is missing fails the target, never skips.
LOADS_IT_MODELS := iterative threads pool prefork select poll epoll libev libuv uring
test-loads-integration: $(BUILD)/loadgen $(BUILD)/lg-testsrv $(LOADS_IT_MODELS:%=$(BUILD)/srv-%)
	python3 tests/loads/integration.py --build $(BUILD)

ALL_BINS     += $(BUILD)/loadgen
TEST_TARGETS += test-loads test-loads-integration
TEST_PREBUILD += $(BUILD)/test-loads $(BUILD)/lg-testsrv
## make loadgen               build build/loadgen, the load generator (docs/loadgen.md)
## make test-loads            the load generator's unit tests (CUnit)
## make test-loads-integration  loadgen against every C model and tests/loads/lg_testsrv
