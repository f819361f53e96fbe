# /db and /queries beyond the conformance suite: every row a server returns is a
# row of the table (tests/db/rows.py: each model, and each event model again with
# --reactors 2, on a throwaway PostgreSQL of its own).  `make test` ends with
# test-pg-left (mk/test.mk runs it last, alone): no cluster of the run, in its
# $LOOPBENCH_PG_DIR, and no server started from one, is left.

db_empty :=
db_space := $(db_empty) $(db_empty)

.PHONY: test-db-rows
test-db-rows: $(foreach m,$(CONF_PRESENT),$(BUILD)/srv-$(m)) | deps-ok
	/usr/bin/python3 tests/db/rows.py --build $(BUILD) --models $(subst $(db_space),$(comma),$(strip $(CONF_PRESENT)))

.PHONY: test-pg-left
test-pg-left:
	@[ -n "$$LOOPBENCH_PG_DIR" ] || { echo 'test-pg-left: run by make test, which sets $$LOOPBENCH_PG_DIR' >&2; exit 2; }
	/usr/bin/python3 tests/db/pg_left.py "$$LOOPBENCH_PG_DIR"

TEST_TARGETS += test-db-rows
## make test-db-rows  every row /db and /queries return is a row of the table, every model
