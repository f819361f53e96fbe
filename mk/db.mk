# /db and /queries beyond the conformance suite: every row a server returns is a
# row of the table (tests/db/rows.py: each model, and each event model again with
# --reactors 2, on a throwaway PostgreSQL of its own).  `make test` ends with
# tests/db/pg_left.py (mk/test.mk): no cluster or server of the run is left.

db_empty :=
db_space := $(db_empty) $(db_empty)

.PHONY: test-db-rows
test-db-rows: $(foreach m,$(CONF_PRESENT),$(BUILD)/srv-$(m)) | deps-ok
	/usr/bin/python3 tests/db/rows.py --build $(BUILD) --models $(subst $(db_space),$(comma),$(strip $(CONF_PRESENT)))

TEST_TARGETS += test-db-rows
## make test-db-rows  every row /db and /queries return is a row of the table, every model
