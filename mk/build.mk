# Tests of the build itself (tests/build/).
#
#   make test-build   parsing the Makefile runs nothing that `make deps`
#                     installs (tests/build/parse-time.sh says why)
#   make test-uring-blocked   srv-uring and the suites where io_uring is
#                     blocked (a seccomp filter, build/no-io-uring): exit 2 with
#                     the reason, "not testable here" in the suites

.PHONY: test-build
test-build: | deps-ok
	@tests/build/parse-time.sh

TEST_TARGETS += test-build
## make test-build   the Makefile evaluates what deps installs only in recipes, never at parse time

$(BUILD)/no-io-uring: $(BUILD)/obj/tests/build/no-io-uring.o
	$(CC) $(LDFLAGS) -o $@ $^

.PHONY: test-uring-blocked
test-uring-blocked: $(BUILD)/no-io-uring $(BUILD)/srv-uring $(BUILD)/loadgen $(BUILD)/test-conformance | deps-ok
	@tests/build/uring-blocked.sh $(BUILD)

TEST_TARGETS  += test-uring-blocked
TEST_PREBUILD += $(BUILD)/no-io-uring
## make test-uring-blocked  srv-uring and the suites where a seccomp filter blocks io_uring: exit 2, "not testable here"
