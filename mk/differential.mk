# The differential tester (tests/differential/, README.md there): the same
# generated and mutated request bytes to a C model and to node, compared on the
# statuses each answers and whether it closes the connection.  Any disagreement
# but the documented deliberate ones fails.
#
#   make test-differential    the corpus (both CVE reproducers among it), then
#                             DIFF_SECONDS of generated and mutated inputs from
#                             seed DIFF_SEED, against the ASan/UBSan build of
#                             srv-$(DIFF_MODEL) and node
#   tests/differential/difftest.py --server build/srv-libuv \
#       --reference build/srv-node --seconds 1800 --seed 7      a long run

DIFF_SECONDS ?= 40
DIFF_SEED    ?= 1
DIFF_MODEL   ?= epoll

.PHONY: test-differential
test-differential: build/srv-node | deps-ok
	@$(MAKE) --no-print-directory SAN=$(CONF_SAN) $(CONF_SAN_BUILD)/srv-$(DIFF_MODEL)
	/usr/bin/python3 tests/differential/difftest.py --server $(CONF_SAN_BUILD)/srv-$(DIFF_MODEL) \
	  --reference build/srv-node --seconds $(DIFF_SECONDS) --seed $(DIFF_SEED)

TEST_TARGETS += test-differential
## make test-differential     the same generated and mutated requests to srv-epoll (ASan) and node: any framing disagreement fails
