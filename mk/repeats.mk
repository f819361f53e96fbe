# The model files hold only what their model does differently; what two of them
# do the same way belongs in servers/common/.  tests/build/model-repeats.py
# fails when a block of ten or more lines (whitespace normalised) stands in two
# of servers/*.c, or twice in one; its self-test first shows that it catches a
# copied block.
#
#   make test-model-repeats

.PHONY: test-model-repeats
test-model-repeats:
	@tests/build/model-repeats.py --self-test && tests/build/model-repeats.py

TEST_TARGETS += test-model-repeats
## make test-model-repeats  no block of 10+ lines repeats among servers/*.c (sameness belongs in common/)
