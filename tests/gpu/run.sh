#!/usr/bin/env bash
# Run ON THE DEVICE MACHINE from the repository root, with .device carried (see prepare.sh).
# Builds the CUDA backend for sm_90, runs the GPU tests, the whole suite against the CUDA device,
# compute-sanitizer memcheck over the GPU tests, `proteus bench` on CUDA, and the perf comparison
# (`proteus bench --suite issue3` against PyTorch SDPA on the same shapes, tests/gpu/sdpa_bench.py),
# and the tile kernel's own checker (tests/gpu/flux_tile_check.cpp: GPU vs CPU backend at tile
# boundaries, under compute-sanitizer racecheck/synccheck/memcheck, and timings per launch config).
# Everything lands in $OUT, at most 8 files: summary.txt (printed last; holds `proteus info`, the bench
# table and the perf table), build.log, gpu-tests.log, suite-on-cuda.log, memcheck.log, tile.log,
# perf.txt, perf.json (which embeds our full bench JSON).
#   Optional: PROTEUS_GPU_STEPS="build tile tests suite memcheck bench perf" (default: all, in that order)
#             PROTEUS_PERF_ARGS="--mode tile" extra arguments for the perf step's `proteus bench`
#             PROTEUS_TILE_TIME_REPEATS=10 repeats of the tile step's per-config timings (0: skip them)
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${OUT:-$root/build-gpu-out}
mkdir -p "$out"
steps=${PROTEUS_GPU_STEPS:-"build tile tests suite memcheck bench perf"}
summary="$out/summary.txt"
: >"$summary"
note() { echo "$*" | tee -a "$summary"; }
has_step() { [[ " $steps " == *" $1 "* ]]; }

note "== device: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null)"
note "== nvcc: $(nvcc --version | tail -1)"

# .NET runtime from the carried archive.
export DOTNET_ROOT=/tmp/dotnet DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
mkdir -p "$DOTNET_ROOT" && tar -C "$DOTNET_ROOT" -xJf "$root/.device/dotnet-runtime.tar.xz"
dotnet() { "$DOTNET_ROOT/dotnet" "$@"; }

build="$root/build-cuda"
if has_step build; then
  start=$SECONDS
  { cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DPROTEUS_CUDA=ON -DPROTEUS_HIP=OFF \
      -DPROTEUS_CUDA_ARCHITECTURES=90 && cmake --build "$build" -j 16; } >"$out/build.log" 2>&1
  rc=$?
  note "build: rc=$rc in $((SECONDS - start)) s"
  [ $rc -eq 0 ] || { tail -60 "$out/build.log"; exit 1; }
  ctest --test-dir "$build" --output-on-failure >>"$out/build.log" 2>&1; note "ctest (native smoke, log in build.log): rc=$?"
fi
export PROTEUS_NATIVE_PATH="$build/lib/libproteus.so"
dotnet "$root/.device/cli/proteus.dll" info 2>&1 | tee -a "$summary"

tests() {  # log name, then runner arguments
  local name=$1; shift
  local start=$SECONDS
  dotnet "$root/.device/tests/Proteus.Tests.dll" "$@" >"$out/$name.log" 2>&1
  local rc=$?
  note "$name: rc=$rc in $((SECONDS - start)) s :: $(grep -E '^(Test run summary|  (total|failed|succeeded|skipped)|.*Passed!|.*Failed!)' "$out/$name.log" | tr -s ' ' | tr '\n' ' ')"
}
if has_step tile; then
  checker="$build/flux_tile_check"
  g++ -O2 -std=c++17 -I"$root/native/include" -I"$root/native/src" "$root/tests/gpu/flux_tile_check.cpp" -L"$build/lib" -lproteus \
    -Wl,-rpath,"$build/lib" -o "$checker" >"$out/tile.log" 2>&1
  start=$SECONDS
  echo "== check 300 1" >>"$out/tile.log"
  "$checker" check 300 1 >>"$out/tile.log" 2>&1
  note "tile check (300 random cases, GPU vs CPU backend): rc=$? in $((SECONDS - start)) s :: $(tail -1 "$out/tile.log")"
  start=$SECONDS
  echo "== check 40 4 40000" >>"$out/tile.log"
  "$checker" check 40 4 40000 >>"$out/tile.log" 2>&1
  note "tile check (40 random cases up to T 30001, GPU vs CPU backend): rc=$? in $((SECONDS - start)) s :: $(tail -1 "$out/tile.log")"
  for tool in racecheck synccheck memcheck; do
    echo "== compute-sanitizer --tool $tool: check 12 2 300" >>"$out/tile.log"
    compute-sanitizer --tool "$tool" --error-exitcode 9 "$checker" check 12 2 300 >>"$out/tile.log" 2>&1
    note "tile $tool: rc=$? :: $(grep -E '(ERROR|RACECHECK) SUMMARY' "$out/tile.log" | tail -1)"
  done
  repeats=${PROTEUS_TILE_TIME_REPEATS:-10}
  if [ "$repeats" -gt 0 ]; then
    echo "== time $repeats" >>"$out/tile.log"
    "$checker" time "$repeats" 2>&1 | tee -a "$out/tile.log" | tail -40 >>"$summary"
  fi
fi
if has_step tests; then tests gpu-tests --filter 'TestCategory=Gpu'; fi
if has_step suite; then PROTEUS_TEST_BACKEND=cuda tests suite-on-cuda; fi
if has_step memcheck; then
  start=$SECONDS
  compute-sanitizer --tool memcheck --leak-check full --error-exitcode 9 --target-processes all \
    "$DOTNET_ROOT/dotnet" "$root/.device/tests/Proteus.Tests.dll" --filter 'TestCategory=Gpu' \
    >"$out/memcheck.log" 2>&1
  note "memcheck: rc=$? in $((SECONDS - start)) s :: $(grep -E 'ERROR SUMMARY' "$out/memcheck.log" | sort | uniq -c | tr '\n' ' ')"
fi
if has_step bench; then
  start=$SECONDS
  dotnet "$root/.device/cli/proteus.dll" bench --backend cuda 2>&1 | tee -a "$summary"
  note "bench: rc=${PIPESTATUS[0]} in $((SECONDS - start)) s"
fi
if has_step perf; then
  # Our side prints as it goes; its JSON lives outside $OUT because perf.json embeds all of it.
  ours="$build/perf-ours.json"
  mkdir -p "$build" && rm -f "$ours"
  start=$SECONDS
  dotnet "$root/.device/cli/proteus.dll" bench --suite issue3 --backend cuda ${PROTEUS_PERF_ARGS:-} --json "$ours" 2>&1
  note "perf, ours (proteus bench --suite issue3): rc=$? in $((SECONDS - start)) s"
  if [ -f "$ours" ]; then
    start=$SECONDS
    python3 "$root/tests/gpu/sdpa_bench.py" "$ours" --out "$out" | tee -a "$summary"
    rc=${PIPESTATUS[0]}
    note "perf, SDPA comparison (tests/gpu/sdpa_bench.py): rc=$rc in $((SECONDS - start)) s"
    [ $rc -eq 0 ] || cp "$ours" "$out/perf.json"  # keep our numbers when the comparison failed
  fi
fi
echo; echo "===== summary ($out)"; cat "$summary"
