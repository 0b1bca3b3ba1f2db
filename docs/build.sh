#!/usr/bin/env bash
# Builds the documentation site; every page's code runs, and a page whose code fails fails the build.
# Run it through `./build.sh docs`, which builds the solution first (the pages load its Release assemblies and
# docs/csharp.fsx runs the compiled example in docs/examples/CSharpUsage).
# To look at the site, serve docs/output under /Qmix.Functional/ (its root), e.g.
#   mkdir -p /tmp/site && ln -sfn "$PWD/docs/output" /tmp/site/Qmix.Functional && python3 -m http.server -d /tmp/site
# and open http://localhost:8000/Qmix.Functional/.
set -euo pipefail
cd "$(dirname "$0")/.."
# fsdocs shows a failing script as "No value returned by any evaluator" instead of failing: run each
# page with fsi first so an error stops the build (two at a time: this machine has two cores).
printf '%s\n' docs/*.fsx | xargs -P 2 -I{} sh -c 'echo "== checking {}"; dotnet fsi --quiet --exec "{}" >/dev/null || { echo "docs: {} failed" >&2; exit 1; }'
out=$(mktemp)
dotnet fsdocs build --input docs --output docs/output --eval --strict --properties Configuration=Release 2>&1 | tee "$out"
# fsdocs copies every other file under docs/ to the output: not the example project's sources and build output,
# nor this script
rm -rf docs/output/examples docs/output/build.sh
if grep -q "No value returned by any evaluator" "$out" docs/output/*.html 2>/dev/null; then
  echo "docs: a page's code did not evaluate" >&2
  exit 1
fi
