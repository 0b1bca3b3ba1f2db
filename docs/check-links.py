#!/usr/bin/env python3
"""Checks that a built site works offline and from disk; fails naming each page and link that does not.

    python3 docs/check-links.py SITE_DIR [--no-anchors]

For every .html page under SITE_DIR, every href and src:
- a relative link must resolve to a file inside SITE_DIR (a folder counts only if it has an index.html, since
  file:// shows a folder as a listing), and with its #anchor, to an element with that id or name in the target page
  (skip the anchor check with --no-anchors);
- a root-absolute link ("/...") is an error: it breaks when the site is opened from disk or served under another path;
- a page may link out to other sites (<a href="https://...">), but nothing the page loads (scripts, style sheets,
  fonts, icons, images, frames, preconnects) may come from the network;
- every page must link a favicon (<link rel="icon">) that resolves.
And no .js or .css file of the site may import code, styles or fonts from a network address.

Exit status 0 when all is well, 1 otherwise (each problem on its own line: "PAGE: PROBLEM LINK"), 2 on bad usage.
Needs nothing but Python 3's standard library, and no network.
"""
import os
import re
import sys
from html.parser import HTMLParser
from urllib.parse import unquote

SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
# <link rel=...> kinds whose href the browser fetches.
FETCHED_RELS = {"stylesheet", "icon", "shortcut", "apple-touch-icon", "preconnect", "preload", "modulepreload",
                "prefetch", "dns-prefetch", "manifest", "mask-icon"}
# A network address used to load code, styles or fonts from a .js or .css file.
NETWORK_IMPORT = re.compile(
    r"""(?:\bimport\s*\(?\s*|\bfrom\s*|@import\s*(?:url\()?\s*|url\(\s*|importScripts\(\s*)["']?((?:https?:)?//[^"')\s]+)""")


class Page(HTMLParser):
    """The links (tag, attribute, value, fetched?) and the anchor targets (ids and names) of one page."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.links = []
        self.anchors = set()
        self.favicon = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for key in ("id", "name"):
            if a.get(key):
                self.anchors.add(a[key])
        rel = set((a.get("rel") or "").lower().split())
        for attribute in ("href", "src"):
            value = a.get(attribute)
            if value is None:
                continue
            # <a href> and <area href> are navigation; everything else with an href or src is loaded by the page.
            fetched = tag not in ("a", "area") and (tag != "link" or bool(rel & FETCHED_RELS))
            self.links.append((tag, attribute, value.strip(), fetched))
            if tag == "link" and "icon" in rel:
                self.favicon.append(value.strip())

    handle_startendtag = handle_starttag


def parse(path):
    page = Page()
    with open(path, encoding="utf-8", errors="replace") as f:
        page.feed(f.read())
    page.close()
    return page


def check(site, anchors=True):
    """The problems found in the site, as (page, message) pairs, and the number of links checked."""
    site = os.path.abspath(site)
    problems = []
    pages = {}
    for folder, _, files in os.walk(site):
        for name in sorted(files):
            if name.endswith(".html"):
                pages[os.path.join(folder, name)] = None
    parsed = {}

    def page_of(path):
        if path not in parsed:
            parsed[path] = parse(path)
        return parsed[path]

    checked = 0
    for path in sorted(pages):
        rel_page = os.path.relpath(path, site)
        page = page_of(path)
        if not page.favicon:
            problems.append((rel_page, 'no favicon (<link rel="icon" href=...>)'))
        for tag, attribute, value, fetched in page.links:
            checked += 1
            where = f'<{tag} {attribute}="{value}">'
            if value == "" or value.startswith(("javascript:", "data:", "mailto:", "tel:")):
                continue
            if value.startswith("//") or SCHEME.match(value):
                if fetched:
                    problems.append((rel_page, f"loads from the network (breaks offline): {where}"))
                continue
            if value.startswith("/"):
                problems.append((rel_page, f"root-absolute link (breaks opened from disk): {where}"))
                continue
            target, _, fragment = value.partition("#")
            target = unquote(target.split("?", 1)[0])
            if target == "":
                resolved = path
            else:
                resolved = os.path.normpath(os.path.join(os.path.dirname(path), target))
                if not (resolved == site or resolved.startswith(site + os.sep)):
                    problems.append((rel_page, f"link outside the site: {where}"))
                    continue
                if os.path.isdir(resolved):
                    if not os.path.isfile(os.path.join(resolved, "index.html")):
                        problems.append((rel_page, f"dead link (a folder without index.html): {where}"))
                        continue
                    resolved = os.path.join(resolved, "index.html")
                if not os.path.isfile(resolved):
                    problems.append((rel_page, f"dead link: {where}"))
                    continue
            fragment = unquote(fragment)
            if anchors and fragment and resolved.endswith(".html") and fragment not in page_of(resolved).anchors:
                problems.append((rel_page, f"dead anchor (no id or name {fragment!r} in "
                                           f"{os.path.relpath(resolved, site)}): {where}"))
    for folder, _, files in os.walk(site):
        for name in sorted(files):
            if name.endswith((".js", ".css")):
                path = os.path.join(folder, name)
                with open(path, encoding="utf-8", errors="replace") as f:
                    for number, line in enumerate(f, 1):
                        for match in NETWORK_IMPORT.finditer(line):
                            problems.append((os.path.relpath(path, site),
                                             f"line {number} loads from the network (breaks offline): {match.group(1)}"))
    return problems, checked, len(pages)


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("--")]
    flags = [a for a in argv[1:] if a.startswith("--")]
    if len(args) != 1 or any(f != "--no-anchors" for f in flags):
        print("usage: check-links.py SITE_DIR [--no-anchors]", file=sys.stderr)
        return 2
    site = args[0]
    if not os.path.isdir(site):
        print(f"check-links: {site} is not a directory", file=sys.stderr)
        return 2
    problems, checked, pages = check(site, anchors="--no-anchors" not in flags)
    if pages == 0:
        print(f"check-links: no .html page under {site}", file=sys.stderr)
        return 1
    for page, message in problems:
        print(f"{page}: {message}", file=sys.stderr)
    if problems:
        print(f"check-links: {len(problems)} problems in {pages} pages ({checked} links checked)", file=sys.stderr)
        return 1
    print(f"check-links: {checked} links in {pages} pages resolve; nothing is loaded from the network")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
