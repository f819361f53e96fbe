# Network helpers of the harness (harness/net/): build/delayline, the wire with
# a round-trip time between two network namespaces, for kernels without netem
# (harness/net/delayline.c says how it works and what it reports), and its tests
# (tests/net/): the queue and link model on made-up times (CUnit, any user), and
# the wire end to end -- a 20 ms round trip measured by the load generator at low
# load within 10 %, --loss and --rate-mbit, nothing left behind (root: otherwise
# "not testable here").

DELAYQ_OBJ := $(BUILD)/obj/harness/net/delayq.o

$(BUILD)/delayline: $(BUILD)/obj/harness/net/delayline.o $(DELAYQ_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/obj/tests/net/test_delayq.o: CPPFLAGS += -Iharness/net $(call pkg_cflags,cunit)

$(BUILD)/test-delayq: $(BUILD)/obj/tests/net/test_delayq.o $(DELAYQ_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(call pkg_libs,cunit) $(LDLIBS)

.PHONY: test-net
test-net: $(BUILD)/test-delayq $(BUILD)/delayline $(BUILD)/loadgen $(BUILD)/srv-epoll | deps-ok
	@$(BUILD)/test-delayq && LOOPBENCH_BUILD=$(BUILD) $(HARNESS_PY) tests/net/wire.py

ALL_BINS += $(BUILD)/delayline
TEST_TARGETS += test-net
TEST_PREBUILD += $(BUILD)/test-delayq
## build/delayline    a TUN wire with a delay between two network namespaces (kernels without netem)
## make test-net      the delay line's queue (any user); a 20 ms RTT measured within 10 %, loss, rate (root)
