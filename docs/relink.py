#!/usr/bin/env python3
"""Makes a site built by fsdocs work wherever it is opened: from disk (file://), served at any path, or offline.

    python3 docs/relink.py SITE_DIR

fsdocs writes every link to the site's own files as `{{root}}path`, with one root for all pages (here
"/Qmix.Functional/"), so a page only works served under that path. No single relative root would do: the guides
sit at the top of the site and the API pages one level down, in reference/. So this step rewrites, in each page,
every href/src (and <html data-root>) that starts with the root into a path relative to that page ("" at the top,
"../" in reference/), and a link to a folder into a link to its index.html (file:// shows a folder as a listing).
The root is read from the site's index.html (<html data-root>), not assumed.

It also:
- removes fsdocs' scripts that import code from the network (lit, fuse.js), which the template replaces with
  content/qmix-site.js, and any <script> tag fsdocs adds for them;
- writes content/qmix-search-index.js from fsdocs' index.json (with page addresses relative to the site's root),
  which the search dialog loads through a <script> tag, because a page opened from disk cannot fetch() a file.

Run it once after `fsdocs build`; on a site already made relative it changes nothing.
"""
import json
import os
import re
import sys

# fsdocs' default scripts that import code from a network address (replaced by content/qmix-site.js).
NETWORK_SCRIPTS = ("fsdocs-search.js", "fsdocs-theme-toggle.js", "fsdocs-details-toggle.js")
DATA_ROOT = re.compile(r'<html[^>]*\sdata-root="([^"]*)"')


def read_root(site):
    index = os.path.join(site, "index.html")
    if not os.path.isfile(index):
        sys.exit(f"relink: {index} does not exist (build the site first)")
    with open(index, encoding="utf-8") as f:
        match = DATA_ROOT.search(f.read())
    if not match:
        sys.exit(f"relink: {index} has no <html data-root=...> (docs/_template.html sets it to {{{{root}}}})")
    return match.group(1)


def relative_link(root, prefix, attribute, value):
    """The link `value` (which starts with `root`) as seen from a page whose way up to the root is `prefix`."""
    rest = value[len(root):]
    if attribute == "data-root":
        return prefix or "./"
    path, sep, tail = re.match(r"([^?#]*)([?#]?)(.*)", rest).groups()
    if path == "" or path.endswith("/"):
        path += "index.html"
    return prefix + path + sep + tail


def relink_page(path, site, root):
    depth = os.path.relpath(path, site).count(os.sep)
    prefix = "../" * depth
    with open(path, encoding="utf-8") as f:
        text = f.read()
    attribute = re.compile(r'(\s(href|src|data-root)=)(["\'])(' + re.escape(root) + r'[^"\']*)\3')
    text, count = attribute.subn(
        lambda m: m.group(1) + m.group(3) + relative_link(root, prefix, m.group(2), m.group(4)) + m.group(3), text)
    scripts = re.compile(r'[ \t]*<script[^>]*\ssrc="[^"]*content/(?:' + "|".join(map(re.escape, NETWORK_SCRIPTS)) +
                         r')"[^>]*>\s*</script>[ \t]*\r?\n?')
    text, removed = scripts.subn("", text)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return count, removed


def write_search_index(site, root):
    index = os.path.join(site, "index.json")
    if not os.path.isfile(index):
        return 0
    with open(index, encoding="utf-8") as f:
        entries = json.load(f)
    for entry in entries:
        uri = entry.get("uri", "")
        if root.startswith("/") and uri.startswith(root):
            entry["uri"] = uri[len(root):]
    with open(index, "w", encoding="utf-8") as f:
        json.dump(entries, f, ensure_ascii=False)
    target = os.path.join(site, "content", "qmix-search-index.js")
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(target, "w", encoding="utf-8") as f:
        f.write("// Written by docs/relink.py from index.json: the search dialog's index (content/qmix-site.js).\n")
        f.write("window.qmixSearchIndex = ")
        json.dump(entries, f, ensure_ascii=False)
        f.write(";\n")
    return len(entries)


def main(argv):
    if len(argv) != 2:
        sys.exit("usage: relink.py SITE_DIR")
    site = argv[1]
    if not os.path.isdir(site):
        sys.exit(f"relink: {site} is not a directory")
    root = read_root(site)
    links = removed = pages = 0
    if root.startswith("/"):
        for folder, _, files in os.walk(site):
            for name in sorted(files):
                if name.endswith(".html"):
                    c, r = relink_page(os.path.join(folder, name), site, root)
                    links += c
                    removed += r
                    pages += 1
    for name in NETWORK_SCRIPTS:
        script = os.path.join(site, "content", name)
        if os.path.exists(script):
            os.remove(script)
    entries = write_search_index(site, root)
    if root.startswith("/"):
        print(f"relink: {links} links under {root} made relative in {pages} pages; {removed} script tags for "
              f"network-loading scripts removed; search index of {entries} entries written")
    else:
        print(f"relink: the site's root is already relative ({root!r}); search index of {entries} entries written")


if __name__ == "__main__":
    main(sys.argv)
