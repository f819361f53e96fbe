# Coursework labs (docs/labs/): starters made from the solution, hand-ins, and
# grading on the instructor's side.  The bodies a student writes are marked in
# the real sources (/* LAB N BEGIN */ ... /* LAB N END */ around a function
# body); labs/lab.py and labs/marks.py say how.
#
#   make lab-starter LAB=N OUT=DIR|FILE.tar.gz   a starter for lab N, to hand out
#   make grade LAB=N                  grade this tree's own answers (the reference)
#   make grade HANDIN=FILE [RESULTS=results.json]   grade a student's hand-in in a
#                                     clean tree made from this project's sources
#   make labs                         the labs, and what each one asks you to write
#   make test-labs                    for each code lab: the starter builds, hides
#                                     every answer and scores <= 10 %; the answers
#                                     handed in score 100 %; each wrong answer in
#                                     docs/labs/keys/handins/ loses its category
# In a starter (labs/LAB says which lab):
#   make grade                        build and grade it as the instructor will
#   make handin                       labN-handin.tar.gz: the bodies, nothing else

LAB_PY := /usr/bin/python3 labs/lab.py

.PHONY: lab-starter grade handin labs test-labs
lab-starter:
	@[ -n "$(LAB)" ] && [ -n "$(OUT)" ] || { echo 'usage: make lab-starter LAB=N OUT=DIR|FILE.tar.gz' >&2; exit 2; }
	@$(LAB_PY) starter $(LAB) $(OUT)

grade: | deps-ok
	@$(LAB_PY) grade $(if $(HANDIN),$(HANDIN),$(LAB)) $(if $(RESULTS),--results $(RESULTS))

handin:
	@$(LAB_PY) handin

labs:
	@$(LAB_PY) list

test-labs: | deps-ok
	@$(LAB_PY) check

TEST_TARGETS += test-labs
## make labs                  the six labs (docs/labs/) and what each asks you to write
## make lab-starter LAB=N OUT=DIR|FILE.tar.gz   a starter for lab N, to hand out
## make grade [LAB=N | HANDIN=FILE [RESULTS=FILE]]   grade a lab: a line per case, then score
## make handin                in a starter: labN-handin.tar.gz, the bodies you wrote
