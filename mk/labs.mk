# Coursework labs (docs/labs/): starter trees made from the solution, and grading.
# The parts a student writes are marked in the real sources (/* LAB N BEGIN */ ...
# /* LAB N END */ around a function body); labs/lab.py says how.
#
#   make lab-starter LAB=N OUT=DIR   a copy of the project with lab N's bodies stubbed
#   make grade [LAB=N]               unit tests + conformance against the lab's model,
#                                    one line per case, then `score: X/Y`
#                                    (a starter tree knows its lab: labs/LAB)
#   make labs                        the labs, and what each one asks you to write
#   make test-labs                   for each lab with code: its starter compiles and
#                                    scores below full marks; the solution scores full

LAB_PY := /usr/bin/python3 labs/lab.py

.PHONY: lab-starter grade labs test-labs
lab-starter:
	@[ -n "$(LAB)" ] && [ -n "$(OUT)" ] || { echo 'usage: make lab-starter LAB=N OUT=DIR' >&2; exit 2; }
	@$(LAB_PY) starter $(LAB) $(OUT)

grade: | deps-ok
	@$(LAB_PY) grade $(LAB)

labs:
	@$(LAB_PY) list

test-labs: | deps-ok
	@$(LAB_PY) check

TEST_TARGETS += test-labs
## make labs                  the six labs (docs/labs/) and what each asks you to write
## make lab-starter LAB=N OUT=DIR   a starter tree for lab N (its bodies stubbed)
## make grade [LAB=N]         build and grade a lab: a line per case, then score: X/Y
