# Clients we did not write (curl, ab -k, h2load --h1) against every model: the
# exact bytes back and no failed request (tests/clients/third_party.py).

.PHONY: test-clients
test-clients: $(foreach m,$(CONF_PRESENT),$(BUILD)/srv-$(m)) | deps-ok
	/usr/bin/python3 tests/clients/third_party.py --build $(BUILD) --models $(subst $(db_space),$(comma),$(strip $(CONF_PRESENT)))

TEST_TARGETS += test-clients
## make test-clients  curl, ab -k and h2load --h1 get the right answers from every model
