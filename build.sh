#!/usr/bin/env bash
# One entry point for the project: ./build.sh test | run | bench | docs | format | restore
set -euo pipefail
cd "$(dirname "$0")"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

# Paket reads its package source from NUGET_SOURCE; no file in the repository names a host.
# When unset, take the first enabled source of the machine's own NuGet configuration.
nuget_source() {
  if [ -z "${NUGET_SOURCE:-}" ]; then
    NUGET_SOURCE=$(dotnet nuget list source --format short | awk '$1 == "E" { print $2; exit }')
    export NUGET_SOURCE
  fi
  if [ -z "$NUGET_SOURCE" ]; then
    echo "build.sh: no enabled NuGet source (dotnet nuget list source) and NUGET_SOURCE is unset" >&2
    exit 1
  fi
}

# After paket writes the lock file, put the placeholder back in place of the address.
lock_placeholder() {
  sed -i -E 's#^([[:space:]]*remote:)[[:space:]]+[a-z]+://.*#\1 %NUGET_SOURCE%#' paket.lock
}

restore() {
  nuget_source
  dotnet tool restore >/dev/null
  dotnet paket restore
}

build_release() {
  restore
  dotnet build Qmix.Functional.sln -c Release -nologo -v quiet -clp:ErrorsOnly
}

# The packable projects: the three libraries, then the `qmix` command as a .NET tool (package id qmix).
packable_projects() {
  echo src/Qmix.Tensors/Qmix.Tensors.fsproj src/Qmix.Functional/Qmix.Functional.fsproj \
    src/Qmix.CSharp/Qmix.CSharp.csproj src/Qmix.Cli/Qmix.Cli.csproj
}

# Packs the Release build into the folder $1 (created when missing), passing the other arguments to `dotnet pack`,
# then lists the packages there.
pack_packages() {
  local out=$1
  shift
  mkdir -p "$out"
  for proj in $(packable_projects); do
    dotnet pack "$proj" -c Release --no-build -nologo -v quiet -o "$out" "$@"
  done
  echo "packages in $out:"
  ls -l "$out"/*.nupkg | awk '{ printf "  %-44s %9d bytes\n", $NF, $5 }'
}

test_projects() {
  find tests -name '*.Tests.*proj' | sort
}

# Runs every test project, then prints "N passed, N failed" summed over all of them.
run_tests() {
  build_release
  local passed=0 failed=0 status=0 log
  log=$(mktemp)
  for proj in $(test_projects); do
    echo "== $proj"
    if ! dotnet test "$proj" -c Release --no-build --nologo 2>&1 | tee "$log"; then status=1; fi
    local line
    line=$(grep -E '(Passed|Failed)!' "$log" | tail -n 1 || true)
    if [ -z "$line" ]; then
      echo "build.sh: $proj reported no test summary" >&2
      status=1
      failed=$((failed + 1))
      continue
    fi
    local p f
    p=$(sed -E 's/.*Passed:[[:space:]]*([0-9]+).*/\1/' <<<"$line")
    f=$(sed -E 's/.*Failed:[[:space:]]*([0-9]+).*/\1/' <<<"$line")
    passed=$((passed + p))
    failed=$((failed + f))
  done
  rm -f "$log"
  [ "$failed" -eq 0 ] || status=1
  echo "$passed passed, $failed failed"
  return $status
}

case "${1:-}" in
  restore) restore ;;
  build) build_release ;;
  test) run_tests ;;
  run)
    build_release
    shift
    # no arguments: QMIX on combat:3m with the default preset (pymarl2's) for 500,000 steps (about a minute here),
    # ending with its greedy win rate, the plot and the run directory; otherwise the arguments go to `qmix` as they
    # are (options alone, e.g. `./build.sh run --env two-step`, are options of `qmix train`)
    case "${1:-}" in
      "") set -- train --env combat:3m --algo qmix --steps 500000 ;;
      -h | --help | -\? | --version) ;;
      -*) set -- train "$@" ;;
    esac
    dotnet run --project src/Qmix.Cli -c Release --no-build -- "$@"
    ;;
  bench)
    shift
    # no arguments, or `table [OPTIONS]`: `qmix bench [OPTIONS]`, every performance target in one table (against
    # PyTorch when python3 with torch is there); `gflops | learner | envs | combat` and BenchmarkDotNet's own
    # arguments (`bdn [ARGS]`, or e.g. `--filter '*Learner*'` directly) go to tests/Qmix.Benchmarks
    case "${1:-}" in
      "" | table)
        if [ "${1:-}" = table ]; then shift; fi
        build_release
        dotnet run --project src/Qmix.Cli -c Release --no-build -- bench "$@"
        ;;
      bdn)
        shift
        restore
        dotnet run --project tests/Qmix.Benchmarks -c Release -- "$@"
        ;;
      *)
        restore
        dotnet run --project tests/Qmix.Benchmarks -c Release -- "$@"
        ;;
    esac
    ;;
  docs)
    shift
    case "${1:-}" in
      "")
        build_release
        ./docs/build.sh
        ;;
      serve)
        # serves the built site (docs/output) at http://localhost:PORT/ (PORT: the second argument, default 8000);
        # opening docs/output/index.html from disk works as well
        port="${2:-8000}"
        if [ ! -f docs/output/index.html ]; then
          echo "build.sh: docs/output/index.html does not exist: build the site first with ./build.sh docs" >&2
          exit 1
        fi
        if ! command -v python3 >/dev/null 2>&1; then
          echo "build.sh: serving the site needs python3 (python3 -m http.server); without it, open docs/output/index.html from disk" >&2
          exit 1
        fi
        echo "Serving docs/output at http://localhost:$port/ (Ctrl+C stops)"
        exec python3 -m http.server "$port" --bind 127.0.0.1 --directory docs/output
        ;;
      *)
        echo "usage: ./build.sh docs [serve [PORT]]" >&2
        exit 2
        ;;
    esac
    ;;
  format)
    restore
    dotnet fantomas src tests docs
    ;;
  pack)
    # ./build.sh pack [DIR [OPTIONS]]: NuGet packages of the libraries and the `qmix` tool into DIR (default
    # artifacts/packages); OPTIONS go to `dotnet pack`, e.g. -p:Version=1.0.1-dev.2
    build_release
    pack_packages "${2:-artifacts/packages}" "${@:3}"
    ;;
  paket-install | paket-update)
    nuget_source
    dotnet tool restore >/dev/null
    dotnet paket "${1#paket-}"
    lock_placeholder
    ;;
  *)
    echo "usage: ./build.sh test | run | bench | docs | format | pack [DIR [OPTIONS]] | restore | paket-install | paket-update" >&2
    exit 2
    ;;
esac
