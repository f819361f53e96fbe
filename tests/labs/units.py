#!/usr/bin/python3
"""Small cases for labs/ (marks, hand-ins, the similarity scan), each a function
that raises on failure.  Run by `make test-labs` before the end-to-end checks,
and alone: /usr/bin/python3 tests/labs/units.py."""
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "labs"))

import grading  # noqa: E402
import handin  # noqa: E402
import marks  # noqa: E402
import similar  # noqa: E402

SRC = """#include <string.h>

static int helper(int x)
{
	return x + 1;
}

/* The contract. */
static int answer(struct conn *c, const char *p,
		  size_t n)
{
	/* LAB 7 BEGIN: a hint */
	int k = helper((int)n);

	return k + c->fd + p[0];
	/* LAB 7 END */
}

static void other(struct conn *c)
{
	/* LAB 7 ALSO BEGIN */
	c->fd = -1;
	/* LAB 7 ALSO END */
}
"""


def expect_error(fn, *args):
	try:
		fn(*args)
	except (marks.MarkError, handin.HandinError):
		return
	raise AssertionError("%s%r did not fail" % (fn.__name__, args))


def test_regions():
	rs = marks.regions(SRC, "x.c")
	assert [(r.lab, r.also, r.func) for r in rs] == [(7, False, "answer"), (7, True, "other")], rs
	assert rs[0].params == ["c", "p", "n"] and rs[0].hint == "a hint"


def test_stub_keeps_the_frame_and_names_orphans():
	text, done = marks.stub(SRC, "x.c", {7}, lambda n: "docs/labs/lab%d.md" % n)
	assert len(done) == 2
	assert "return k + c->fd" not in text and "c->fd = -1" not in text
	assert "(void)helper;\t/* yours to call" in text, text	# else -Werror=unused-function
	assert "#include <stdio.h>" in text and "#include <stdlib.h>" in text
	assert "TODO(lab 7): write answer(): a hint.  See docs/labs/lab7.md." in text
	# Around the answers, the file handed out is the project's file, but for
	# the headers the stubs need: what a hand-in's frame check compares.
	src = SRC[:SRC.index("static void other")]
	text, _ = marks.stub(src, "x.c", {7}, lambda n: "h")
	for hdr in ("stdio.h", "stdlib.h"):
		text = text.replace("#include <%s>\t/* lab starter: for the TODO stubs */\n" % hdr, "")
	assert marks.frame(text, "x.c", 7) == marks.frame(src, "x.c", 7)


def test_answers_round_trip():
	bodies = marks.answers(SRC, "x.c", 7)
	assert list(bodies) == ["answer"]
	stubbed, _ = marks.stub(SRC, "x.c", {7}, lambda n: "h")
	back = marks.put_answers(stubbed, "x.c", 7, bodies)
	assert marks.answers(back, "x.c", 7) == bodies
	assert marks.put_answers(SRC, "x.c", 7, bodies) == SRC


def test_bad_marks():
	expect_error(marks.regions, "f(void)\n{\n\t/* LAB 1 BEGIN */\n}\n", "x.c")
	expect_error(marks.regions, "f(void)\n{\n\t/* LAB 1 END */\n}\n", "x.c")
	expect_error(marks.regions, "f(void)\n{\n\t/* LAB 1 BEGIN */\n\t/* LAB 1 ALSO END */\n}\n", "x.c")
	expect_error(marks.regions, "f(void)\n{\n\tint a;\n\t/* LAB 1 BEGIN */\n\t/* LAB 1 END */\n}\n", "x.c")


def test_handin_round_trip():
	bodies = {("servers/a.c", "f"): "\tint x;\n\n\treturn x;", ("servers/a.c", "g"): ""}
	lab, back = handin.parse(handin.render(3, bodies, "v1"))
	assert lab == 3 and back == bodies, back


def test_bad_handins():
	expect_error(handin.parse, "int main(void) { return 0; }\n")
	head = "/* loopbench hand-in: lab 2 */\n"
	expect_error(handin.parse, head + "/* BODY a.c f */\nx;\n")
	expect_error(handin.parse, head + "/* BODY a.c f */\n/* BODY a.c g */\n/* END BODY */\n")
	expect_error(handin.parse, head + "/* BODY a.c f */\n/* END BODY */\n/* BODY a.c f */\n/* END BODY */\n")
	expect_error(handin.parse, head + "/* BODY a.c f */\n\t/* LAB 2 END */\n/* END BODY */\n")
	expect_error(handin.render, 2, {("a.c", "f"): "/* END BODY */"}, "v")


def test_similarity_finds_a_renamed_copy_and_not_other_code():
	answer = marks.answers(SRC, "x.c", 7)["answer"]
	long_answer = "\n".join([answer] * 4)	# over MIN_TOKENS
	copy = long_answer.replace("helper", "assist").replace("c->fd", "c->io.fd")
	other = "\tfor (int i = 0; i < n; i++)\n\t\tsum += a[i] * b[i];\n" * 4
	with tempfile.TemporaryDirectory() as d:
		with open(os.path.join(d, "m.c"), "w") as fh:
			fh.write("static int f(void)\n{\n%s\n}\n\nstatic int g(void)\n{\n%s\n}\n" % (copy, other))
		with open(os.path.join(d, "n.md"), "w") as fh:
			fh.write("text\n\n```c\n%s\n```\n" % copy)
		found = similar.scan(d, ["m.c", "n.md"], [("the answer", long_answer)], floor=0.0)
	got = {where: r for r, _, where in found}
	assert got["m.c:2 f"] >= similar.THRESHOLD, got
	assert got["n.md:3 code block"] >= similar.THRESHOLD, got
	assert got.get("m.c:8 g", 0) < 0.5, got


def test_score_shares_points_and_skips_what_cannot_apply():
	cases = ["echo: a", "echo: b", "http: c", "resources: no busy loop: d",
		 "servers of their own: usage errors exit 2, --help exits 0"]
	results = {"echo: a": (True, []), "echo: b": (False, ["wrong bytes"]),
		   "http: c": (True, ["NOT APPLICABLE to epoll: /c never waits: runs in a variant"]),
		   "resources: no busy loop: d": (True, []),
		   "servers of their own: usage errors exit 2, --help exits 0": (True, [])}
	rows, got, total, missing = grading.score(2, cases, results)
	by = {r["name"]: r for r in rows}
	assert by["echo: a"]["max_score"] == 20 and by["echo: a"]["score"] == 20, by	# 40 shared by a and b
	assert by["echo: b"]["score"] == 0
	assert by["http: c"]["category"] == "not graded"	# passed only as not applicable
	assert by[cases[4]]["category"] == "not graded"	# the command line
	assert got == 35 and total == 55, (got, total)	# protocol 40 + no busy loop 15
	assert set(missing) == {"back-pressure", "idle timer", "partial writes"}, missing
	text = grading.table(2, "t", rows, got, total, missing)
	assert "not graded            1  (NOT APPLICABLE to epoll: /c never waits" in text, text
	assert "not graded            1  (the command line" in text, text


def main():
	tests = [(n, f) for n, f in sorted(globals().items()) if n.startswith("test_")]
	failed = 0
	for name, fn in tests:
		try:
			fn()
		except AssertionError as e:
			failed += 1
			print("labs units: FAIL %s: %s" % (name, e))
	print("labs units: %d of %d passed" % (len(tests) - failed, len(tests)))
	return 1 if failed else 0


if __name__ == "__main__":
	sys.exit(main())
