"""The LAB marks in the sources, and what a starter does with them.

A code lab's answer is marked where it lives, as the first and last lines of
a function body (kernel style: the signature at column 0, then a line "{"):

    /* LAB N BEGIN */               the body a student of lab N writes, graded
    /* LAB N BEGIN: a hint */       in the model file that holds it
    ...
    /* LAB N END */

    /* LAB N ALSO BEGIN */          the same answer in another file (another
    ...                             model, an example): not graded, but hidden
    /* LAB N ALSO END */            in lab N's starter like the answer itself

A starter replaces a marked body with a stub that keeps the signature, marks
every parameter used, prints "TODO(lab N): ..." and aborts: it compiles under
-Werror, and a server that reaches it dies at once, so every case that needs it
fails fast instead of waiting out the suite's timeouts.
"""
import re

BEGIN_RE = re.compile(r'^(\s*)/\* LAB (\d+)( ALSO)? BEGIN(?::\s*(.*?))?\s*\*/\s*$')
END_RE = re.compile(r'^\s*/\* LAB (\d+)( ALSO)? END \*/\s*$')


class MarkError(Exception):
	pass


class Region:
	"""One marked body: lines [begin + 1, end) of its file (0-based; begin and
	end are the marker lines)."""

	def __init__(self, lab, also, func, params, begin, end, indent, hint):
		self.lab, self.also, self.func, self.params = lab, also, func, params
		self.begin, self.end, self.indent, self.hint = begin, end, indent, hint

	def body(self, lines):
		return "\n".join(lines[self.begin + 1:self.end])


def signature(lines, brace, path):
	"""The name and parameter names of the function whose body opens at line
	`brace` (a line that is just "{")."""
	start = brace - 1
	while start >= 0 and (lines[start][:1] in ("\t", " ") or not lines[start].strip()):
		start -= 1
	if start < 0:
		raise MarkError("%s:%d: no function signature above the LAB marker" % (path, brace + 1))
	sig = " ".join(l.strip() for l in lines[start:brace])
	m = re.search(r'(\w+)\s*\((.*)\)\s*$', sig)
	if not m:
		raise MarkError("%s:%d: cannot read the signature %r" % (path, start + 1, sig))
	params = []
	for p in m.group(2).split(","):
		p = p.strip()
		if p in ("", "void", "..."):
			continue
		pm = re.search(r'(\w+)\s*(\[[^\]]*\]\s*)*$', p)
		if not pm:
			raise MarkError("%s:%d: cannot read the parameter %r" % (path, start + 1, p))
		params.append(pm.group(1))
	return m.group(1), params


def regions(text, path):
	"""Every marked region of a file, in order."""
	lines = text.split("\n")
	found = []
	i = 0
	while i < len(lines):
		if END_RE.match(lines[i]):
			raise MarkError("%s:%d: LAB END without a BEGIN" % (path, i + 1))
		m = BEGIN_RE.match(lines[i])
		if not m:
			i += 1
			continue
		indent, lab, also, hint = m.group(1), int(m.group(2)), bool(m.group(3)), m.group(4)
		j = i + 1
		while j < len(lines) and not END_RE.match(lines[j]):
			if BEGIN_RE.match(lines[j]):
				raise MarkError("%s:%d: LAB markers nest" % (path, j + 1))
			j += 1
		if j == len(lines):
			raise MarkError("%s:%d: LAB %d BEGIN without an END" % (path, i + 1, lab))
		e = END_RE.match(lines[j])
		if int(e.group(1)) != lab or bool(e.group(2)) != also:
			raise MarkError("%s:%d: this END does not match the BEGIN on line %d" % (path, j + 1, i + 1))
		if i == 0 or lines[i - 1].strip() != "{" or j + 1 >= len(lines) or lines[j + 1].strip() != "}":
			raise MarkError("%s:%d: LAB markers must be the first and last lines of a function body" %
					(path, i + 1))
		func, params = signature(lines, i - 1, path)
		found.append(Region(lab, also, func, params, i, j, indent, hint))
		i = j + 1
	return found


def orphans(lines, begin, end, kept):
	"""Static functions of this file that the removed body called and nothing
	kept calls: without a mention they would break -Werror=unused-function."""
	body = "\n".join(lines[begin + 1:end])
	rest = "\n".join(kept + lines[end + 1:])
	rest = re.sub(r'/\*.*?\*/', lambda m: "\n" * m.group(0).count("\n"), rest, flags=re.S)
	names = []
	for f in sorted(set(re.findall(r'\b([A-Za-z_]\w*)\b', body))):
		defn = re.compile(r'^static\b[^;{]*\b%s\s*\(' % re.escape(f), re.M)
		if not defn.search(rest):
			continue
		uses = [l for l in rest.split("\n") if re.search(r'\b%s\b' % re.escape(f), l)
			and not defn.match(l)]
		if not uses:
			names.append(f)
	return names


def stub(text, path, labs, handout):
	"""The text with the bodies of every region of the given labs (answers and
	ALSO regions) replaced by stubs, and the regions stubbed.  handout(n) names
	lab n's handout."""
	lines = text.split("\n")
	todo = [r for r in regions(text, path) if r.lab in labs]
	out, done, i = [], [], 0
	for r in todo:
		out += lines[i:r.begin + 1]
		ind = r.indent
		if r.also:
			out.append(ind + "/* Hidden in the lab %d starter: this body is that lab's answer "
				   "in this file's words (%s). */" % (r.lab, handout(r.lab)))
			msg = "lab %d starter: %s() is hidden until lab %d is done" % (r.lab, r.func, r.lab)
		else:
			out.append(ind + "/* TODO(lab %d): write %s()%s.  See %s. */" %
				   (r.lab, r.func, (": " + r.hint) if r.hint else "", handout(r.lab)))
			msg = "TODO(lab %d): %s() is not written yet" % (r.lab, r.func)
		out += [ind + "(void)%s;" % p for p in r.params]
		out += [ind + "(void)%s;\t/* yours to call: nothing else does */" % f
			for f in orphans(lines, r.begin, r.end, out)]
		out.append(ind + 'fprintf(stderr, "%s\\n");' % msg)
		out.append(ind + "abort();")
		i = r.end
		done.append(r)
	out += lines[i:]
	if done:
		# The stub needs fprintf and abort; add the headers if the file lacks them.
		for hdr in ("stdlib.h", "stdio.h"):
			if not re.search(r'^#include <%s>' % re.escape(hdr), "\n".join(out), re.M):
				k = next((x for x, l in enumerate(out) if l.startswith("#include")), 0)
				out.insert(k, "#include <%s>\t/* lab starter: for the TODO stubs */" % hdr)
	return "\n".join(out), done


def answers(text, path, lab):
	"""{function: body} of lab's answer regions in one file."""
	lines = text.split("\n")
	return {r.func: r.body(lines) for r in regions(text, path) if r.lab == lab and not r.also}


def frame(text, path, lab):
	"""The file with lab's answer bodies left out: what a hand-in does not
	carry, and must find unchanged."""
	lines = text.split("\n")
	out, i = [], 0
	for r in regions(text, path):
		if r.lab == lab and not r.also:
			out += lines[i:r.begin + 1]
			i = r.end
	return "\n".join(out + lines[i:])


def put_answers(text, path, lab, bodies):
	"""The text with lab's answer bodies replaced by bodies[function]; a
	function missing from bodies keeps what it has."""
	lines = text.split("\n")
	out, i = [], 0
	for r in regions(text, path):
		if r.lab == lab and not r.also and r.func in bodies:
			out += lines[i:r.begin + 1]
			out += bodies[r.func].split("\n")
			i = r.end
	return "\n".join(out + lines[i:])


def mark(path, lab, funcs, also=False):
	"""Inserts LAB markers as the first and last lines of each named function's
	body (the code itself is untouched)."""
	with open(path, encoding="utf-8") as fh:
		lines = fh.read().split("\n")
	kind = " ALSO" if also else ""
	for f in funcs:
		sig = [i for i, l in enumerate(lines) if re.match(r'^[A-Za-z_].*\b%s\s*\(' % re.escape(f), l)
		       and not l.rstrip().endswith(";")]
		if len(sig) != 1:
			raise MarkError("%s: %d definitions of %s()" % (path, len(sig), f))
		i = sig[0]
		while i < len(lines) and lines[i] != "{":
			i += 1
		j = i + 1
		while j < len(lines) and lines[j] != "}":
			j += 1
		if j >= len(lines):
			raise MarkError("%s: cannot find the body of %s()" % (path, f))
		if BEGIN_RE.match(lines[i + 1]):
			raise MarkError("%s: %s() is already marked" % (path, f))
		lines[j:j] = ["\t/* LAB %d%s END */" % (lab, kind)]
		lines[i + 1:i + 1] = ["\t/* LAB %d%s BEGIN */" % (lab, kind)]
	with open(path, "w", encoding="utf-8") as fh:
		fh.write("\n".join(lines))
