"""A tiny document model rendered two ways: Markdown (report.md) and one
self-contained HTML file (report.html, figures embedded as base64 PNG)."""
import base64
import html
import os
import re


class Doc:
    def __init__(self, base_dir):
        self.base_dir = base_dir       # where figure paths are relative to
        self.blocks = []

    def h(self, level, text, anchor=None):
        self.blocks.append(("h", level, text, anchor))

    def p(self, text):
        self.blocks.append(("p", text))

    def items(self, lines):
        if lines:
            self.blocks.append(("ul", list(lines)))

    def table(self, headers, rows, caption=None):
        if rows:
            self.blocks.append(("table", headers, rows, caption))

    def fig(self, rel_png, rel_svg, caption, error=None):
        self.blocks.append(("fig", rel_png, rel_svg, caption, error))

    def code(self, text):
        self.blocks.append(("code", text))

    def verdict(self, claim, label, text):
        self.blocks.append(("verdict", claim, label, text))

    def extend(self, other, rel_prefix=""):
        for b in other.blocks:
            if b[0] == "fig" and rel_prefix:
                b = ("fig", os.path.join(rel_prefix, b[1]), os.path.join(rel_prefix, b[2])) + b[3:]
            self.blocks.append(b)

    # --- Markdown -------------------------------------------------------------
    def markdown(self):
        out = []
        for b in self.blocks:
            k = b[0]
            if k == "h":
                out.append("#" * b[1] + " " + b[2])
            elif k == "p":
                out.append(b[1])
            elif k == "ul":
                out.append("\n".join("- " + x for x in b[1]))
            elif k == "table":
                _, headers, rows, caption = b
                t = []
                if caption:
                    t.append("*%s*\n" % caption)
                t.append("| " + " | ".join(_md_cell(h) for h in headers) + " |")
                t.append("|" + "|".join("---" for _ in headers) + "|")
                for r in rows:
                    t.append("| " + " | ".join(_md_cell(c) for c in r) + " |")
                out.append("\n".join(t))
            elif k == "fig":
                _, png, svg, caption, error = b
                if error:
                    out.append("*Figure not drawn: %s*" % error)
                else:
                    out.append("![%s](%s)\n\n*%s* ([SVG](%s))" % (caption, png, caption, svg))
            elif k == "code":
                out.append("```\n" + b[1] + "\n```")
            elif k == "verdict":
                out.append("**%s: %s.** %s" % (b[1], b[2], b[3]))
        return "\n\n".join(out) + "\n"

    # --- HTML -----------------------------------------------------------------
    def html(self, title):
        body = []
        for b in self.blocks:
            k = b[0]
            if k == "h":
                aid = ' id="%s"' % b[3] if b[3] else ""
                body.append("<h%d%s>%s</h%d>" % (b[1], aid, _inline(b[2]), b[1]))
            elif k == "p":
                body.append("<p>%s</p>" % _inline(b[1]))
            elif k == "ul":
                body.append("<ul>%s</ul>" % "".join("<li>%s</li>" % _inline(x) for x in b[1]))
            elif k == "table":
                _, headers, rows, caption = b
                t = ["<table>"]
                if caption:
                    t.append("<caption>%s</caption>" % _inline(caption))
                t.append("<tr>%s</tr>" % "".join("<th>%s</th>" % _inline(h) for h in headers))
                for r in rows:
                    t.append("<tr>%s</tr>" % "".join("<td>%s</td>" % _inline(str(c)) for c in r))
                t.append("</table>")
                body.append("".join(t))
            elif k == "fig":
                _, png, svg, caption, error = b
                path = os.path.join(self.base_dir, png)
                if error or not os.path.exists(path):
                    body.append('<p class="err">Figure not drawn: %s</p>'
                                % html.escape(error or "missing " + png))
                    continue
                with open(path, "rb") as f:
                    data = base64.b64encode(f.read()).decode()
                body.append('<figure><img alt="%s" src="data:image/png;base64,%s">'
                            '<figcaption>%s</figcaption></figure>'
                            % (html.escape(caption, quote=True), data, _inline(caption)))
            elif k == "code":
                body.append("<pre>%s</pre>" % html.escape(b[1]))
            elif k == "verdict":
                cls = b[2].split(" (")[0].replace(" ", "-")
                body.append('<p class="verdict"><span class="badge %s">%s: %s</span> %s</p>'
                            % (cls, html.escape(b[1]), html.escape(b[2]), _inline(b[3])))
        return HTML_HEAD % html.escape(title) + "\n".join(body) + "\n</body></html>\n"


def _md_cell(c):
    return str(c).replace("|", "\\|").replace("\n", " ")


def _inline(text):
    t = html.escape(str(text))
    t = re.sub(r"`([^`]+)`", r"<code>\1</code>", t)
    t = re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", t)
    t = re.sub(r"\[([^\]]+)\]\((#[^)]+)\)", r'<a href="\2">\1</a>', t)
    return t


HTML_HEAD = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>%s</title>
<style>
body { font-family: 'DejaVu Sans', Arial, sans-serif; max-width: 1280px; margin: 2em auto;
       padding: 0 1.5em; color: #222; line-height: 1.45; }
h1 { border-bottom: 2px solid #333; padding-bottom: .2em; }
h2 { border-bottom: 1px solid #bbb; margin-top: 2em; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.88em; }
caption { text-align: left; font-style: italic; padding-bottom: .3em; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
figure { margin: 1.2em 0; }
figure img { max-width: 100%%; border: 1px solid #ddd; }
figcaption { font-size: .9em; color: #444; }
code { background: #f4f4f4; padding: 0 .2em; }
pre { background: #f4f4f4; padding: .8em; overflow-x: auto; }
.badge { font-weight: bold; padding: .1em .5em; border-radius: .3em; white-space: nowrap; }
.confirmed { background: #d4edda; } .refuted { background: #f8d7da; }
.mixed { background: #fff3cd; } .not-testable-here, .not-run { background: #e2e3e5; }
.err { color: #a00; }
</style></head><body>
"""
