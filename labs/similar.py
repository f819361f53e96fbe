"""Does a starter hold a lab's answer anywhere?  A check that does not trust the
marks: every function body of every C file in the tree, and every code block of
every Markdown file, is compared with each answer body the starter hides.

Bodies are compared as token sequences (comments, preprocessor lines and
whitespace dropped; strings, characters and numbers each one token), with
difflib's ratio: 2 * matches / (len(a) + len(b)).  Measured on this project:
the same answer in another model's words (libev's on_readable beside epoll's,
the poll example's conn_write) scores 0.95 or more; unrelated code that reads
or writes a socket scores 0.70 or less (epoll's own on_readable against its
conn_write: 0.67).  A body at or above THRESHOLD that is not stubbed is a leak:
mark it `/* LAB N ALSO BEGIN */ ... /* LAB N ALSO END */`."""
import difflib
import os
import re

THRESHOLD = 0.80
MIN_TOKENS = 20		# shorter bodies say too little to compare

TOKEN_RE = re.compile(r'''"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'|\d[\w.]*|[A-Za-z_]\w*|->|\+\+|--|<<=|>>=|[<>=!+\-*/%&|^]=|&&|\|\||<<|>>|\S''')


def tokens(text):
	text = re.sub(r'/\*.*?\*/', ' ', text, flags=re.S)
	text = re.sub(r'//[^\n]*', ' ', text)
	text = re.sub(r'^\s*#.*$', ' ', text, flags=re.M)
	out = []
	for t in TOKEN_RE.findall(text):
		out.append("STR" if t[0] == '"' else "CHR" if t[0] == "'" else "NUM" if t[0].isdigit() else t)
	return out


def c_bodies(text):
	"""(function, line, body) for each kernel-style function body: a line "{"
	at column 0, up to the next line "}" at column 0."""
	lines = text.split("\n")
	found, i = [], 0
	while i < len(lines):
		if lines[i] == "{":
			j = i + 1
			while j < len(lines) and lines[j] != "}":
				j += 1
			k = i - 1
			while k >= 0 and (lines[k][:1] in ("\t", " ") or not lines[k].strip()):
				k -= 1
			m = re.search(r'(\w+)\s*\(', lines[k]) if k >= 0 else None
			found.append((m.group(1) if m else "?", i + 1, "\n".join(lines[i + 1:j])))
			i = j
		i += 1
	return found


def md_blocks(text):
	return [("code block", text[:m.start()].count("\n") + 1, m.group(1))
		for m in re.finditer(r'^[ \t]*```[\w+-]*\n(.*?)^[ \t]*```', text, re.S | re.M)]


def best_match(want, t, floor):
	"""(ratio, label) of the answer closest to tokens t, or None below floor."""
	sm = difflib.SequenceMatcher(None, autojunk=False)
	sm.set_seq2(t)
	best = None
	for label, w in want:
		sm.set_seq1(w)
		if sm.real_quick_ratio() < floor or sm.quick_ratio() < floor:
			continue	# upper bounds of ratio(): it cannot reach floor
		r = sm.ratio()
		if r >= floor and (best is None or r > best[0]):
			best = (r, label)
	return best


def scan(root, files, answers, floor=0.5):
	"""answers: [(label, body)].  Returns [(ratio, label, "path:line function")]
	for every body or block of the tree at floor or above, best match first
	(the caller decides what is too close)."""
	want = [(label, tokens(body)) for label, body in answers]
	want = [(l, t) for l, t in want if len(t) >= MIN_TOKENS]
	found = []
	for f in files:
		if f.endswith((".c", ".h")):
			parts = c_bodies
		elif f.endswith(".md"):
			parts = md_blocks
		else:
			continue
		try:
			with open(os.path.join(root, f), encoding="utf-8") as fh:
				text = fh.read()
		except (OSError, UnicodeDecodeError):
			continue
		for name, line, body in parts(text):
			t = tokens(body)
			if len(t) < MIN_TOKENS:
				continue
			best = best_match(want, t, floor)
			if best:
				found.append((best[0], best[1], "%s:%d %s" % (f, line, name)))
	found.sort(reverse=True)
	return found
