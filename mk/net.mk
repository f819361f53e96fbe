# Network helpers of the harness (harness/net/): build/delayline, the wire with
# a round-trip time between two network namespaces, for kernels without netem
# (harness/net/delayline.c says how it works and what it reports).

$(BUILD)/delayline: $(BUILD)/obj/harness/net/delayline.o
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

ALL_BINS += $(BUILD)/delayline
## build/delayline    a TUN wire with a delay between two network namespaces (kernels without netem)
