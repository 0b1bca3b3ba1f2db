#!/usr/bin/env bash
# Builds the documentation site; every page's code runs, and a page whose code fails fails the build.
# Run it through `./build.sh docs`, which builds the solution first (the pages load its Release assemblies and
# docs/csharp.fsx runs the compiled example in docs/examples/CSharpUsage).
# The site's links are relative (docs/relink.py), so it works opened from disk (docs/output/index.html), served
# from any path (`./build.sh docs serve`), and offline: nothing is loaded from the network, which
# docs/check-links.py checks together with every local link.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v python3 >/dev/null 2>&1; then
  echo "docs: python3 is needed to make the site's links relative and check them (docs/relink.py, docs/check-links.py)" >&2
  exit 1
fi
# fsdocs shows a failing script as "No value returned by any evaluator" instead of failing: run each
# page with fsi first so an error stops the build (two at a time: this machine has two cores).
printf '%s\n' docs/*.fsx | xargs -P 2 -I{} sh -c 'echo "== checking {}"; dotnet fsi --quiet --exec "{}" >/dev/null || { echo "docs: {} failed" >&2; exit 1; }'
out=$(mktemp)
# a clean output: fsdocs rewrites only the pages whose sources changed, and relink.py reads the root from index.html
rm -rf docs/output
dotnet fsdocs build --input docs --output docs/output --eval --strict --properties Configuration=Release 2>&1 | tee "$out"
# fsdocs copies every other file under docs/ to the output: not the example project's sources and build output,
# nor this script
rm -rf docs/output/examples docs/output/build.sh docs/output/relink.py docs/output/check-links.py
if grep -q "No value returned by any evaluator" "$out" docs/output/*.html 2>/dev/null; then
  echo "docs: a page's code did not evaluate" >&2
  exit 1
fi
# fsdocs writes the links to the site's own files from one root (/Qmix.Functional/): make them relative to each
# page, then check that every local link resolves and nothing comes from the network; a dead link fails the build.
python3 docs/relink.py docs/output
if ! python3 docs/check-links.py docs/output; then
  echo "docs: the site has dead local links or loads from the network (listed above)" >&2
  exit 1
fi
echo "docs: open docs/output/index.html in a browser, or serve the site with ./build.sh docs serve"
