#!/usr/bin/env bash
# Builds the documentation site; every page's code runs, and a page whose code fails fails the build.
set -euo pipefail
cd "$(dirname "$0")/.."
# fsdocs shows a failing script as "No value returned by any evaluator" instead of failing: run each
# page with fsi first so an error stops the build.
for page in docs/*.fsx; do
  echo "== checking $page"
  dotnet fsi --quiet --exec "$page" >/dev/null
done
out=$(mktemp)
dotnet fsdocs build --input docs --output docs/output --eval --strict --properties Configuration=Release 2>&1 | tee "$out"
if grep -q "No value returned by any evaluator" "$out" docs/output/*.html 2>/dev/null; then
  echo "docs: a page's code did not evaluate" >&2
  exit 1
fi
