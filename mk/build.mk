# Tests of the build itself (tests/build/).
#
#   make test-build   parsing the Makefile runs nothing that `make deps`
#                     installs (tests/build/parse-time.sh says why)

.PHONY: test-build
test-build: | deps-ok
	@tests/build/parse-time.sh

TEST_TARGETS += test-build
## make test-build   the Makefile evaluates what deps installs only in recipes, never at parse time
