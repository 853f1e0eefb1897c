#!/usr/bin/env bash
# Run ON THE DEVICE MACHINE from the repository root, with .device carried (see prepare.sh).
# Builds the CUDA backend for sm_90 and runs, in this order:
#   hopper   tests/gpu/hopper_probe.cu (nvcc, sm_90a): the wgmma descriptors, P as registers, the TMA copy of the
#            Hopper tile kernel (issue 12), each against the host (hopper.txt)
#   graph    tests/gpu/graph_check.cpp: every GPU path captured into a CUDA graph (cudaStreamCaptureModeGlobal)
#            on a context over our own stream, replayed, bit-identical to the eager call; then the same
#            checker at a small T under compute-sanitizer memcheck, racecheck and synccheck
#   torch    tests/gpu/torch_zero_copy.py: PyTorch tensors and PyTorch's stream straight into the C ABI
#            (ctypes, proteus_buffer_wrap, proteus_context_create_on_stream), vs SDPA and masked references
#   tile     tests/gpu/flux_tile_check.cpp: the tile kernel vs the CPU backend at tile boundaries, under
#            compute-sanitizer racecheck/synccheck/memcheck, and timings per launch config
#   explicit tests/gpu/explicit_check.cpp: explicit candidate lists, GPU vs the CPU backend (300 random cases and
#            under compute-sanitizer), and the T 1M, H 16, D 64, L 512 bench shape's time (into tile.log)
#   tests    the GPU test category; suite: the whole suite against the CUDA device; memcheck:
#            compute-sanitizer memcheck over the GPU tests
#   bench    `proteus bench` on CUDA; latency: `proteus bench --suite latency` (per-call cost at small T,
#            and the DNA and masked paths at T = 4096)
#   headdims `proteus bench --suite headdims` (dense 16K at D 80, 96, 128, 256; headdims.json)
#   perf     `proteus bench --suite kernels` beside PyTorch SDPA on the same shapes (tests/gpu/sdpa_bench.py)
#   ab       (not in the default list) one bench case with and without PROTEUS_AB_ENV, alternating (ab.txt; below)
#   layer    tests/gpu/layer_ops_check.cpp (every layer operation on CUDA vs the CPU backend, determinism of the
#            router and the DNA update), and `proteus bench --layer original --block` and `--layer wide --block`
#            at the issue's lengths (layer.txt, layer-*.json); then LayerExportTests (PROTEUS_LAYER_EXPORT) writes the
#            layer and block runs on CUDA with their weights and decisions, and tests/gpu/layer_torch.py checks each
#            against a float64 PyTorch implementation of SPEC §7 (logs appended to layer.txt, one PASS/FAIL line per
#            file in the summary); the tests steps also read the safetensors file
#            tests/gpu/write_safetensors.py writes with PyTorch (PROTEUS_TORCH_SAFETENSORS)
#   layersan layer_ops_check's small run under compute-sanitizer memcheck, racecheck (in two parts) and synccheck
#            (PROTEUS_SANITIZER_TIMEOUT, default 240 s each; PROTEUS_LAYERSAN_RUNS="tool:suites …" to choose)
#   tune     issue 10 end to end: `proteus tune --suite kernels` into a fresh cache (wall time, its table of default
#            ms, tuned ms and speed-up per case), `proteus tune --show`, then `proteus bench --suite kernels` reading
#            that cache while a second process starts during the tuning and must read a valid cache (tune.txt)
#   profile  the layer forward's kernels, one by one: `proteus bench --layer original` at T 256K and the wide
#            layer at 1M under nsys (else ncu), the per-kernel time table in profile.txt; with
#            PROTEUS_PROFILE_KERNELS="regex …" also ncu's detail sections of each (profile-detail.txt)
# Everything lands in $OUT, at most 8 files: summary.txt (printed last; holds `proteus info`, every step's
# verdict, the bench, latency and perf tables), build.log, interop.log (graph + torch), tile.log,
# tests.log (gpu-tests, suite-on-cuda and memcheck, one after another), latency.json, perf.txt, perf.json
# (which embeds our full bench JSON).
#   Optional: PROTEUS_GPU_STEPS="build graph torch tile explicit tests suite memcheck bench headdims latency perf" (default: all)
#             PROTEUS_SAVE_LIBRARY=1 with the build step: $OUT/libproteus.so.xz, to carry as .device/lib/libproteus.so.xz;
#                                   a later call without the build step (a fresh machine) unpacks and uses it
#             PROTEUS_PERF_ARGS="--mode tile" extra arguments for the perf step's `proteus bench`
#             PROTEUS_PERF_BASELINE=path/to/perf.json of an earlier run: the perf step also judges each case
#                                   against it (sdpa_bench.py --baseline; carry the file with the call)
#             PROTEUS_WGMMA_SANITIZERS="racecheck" the hopper step's sanitizer runs (default: memcheck racecheck synccheck; "": none);
#             PROTEUS_WGMMA_EXPERIMENTS="none A=1,B=2" the hopper step's experiment runs (check, sanitizers, times);
#             PROTEUS_WGMMA_LINEAR=1 the hopper step also times the shortlist and DNA cases at T 256K, 1M and 2M;
#             PROTEUS_WGMMA_PROFILE="5 0" ncu of wgmma_check's time cases (wgmma-profile.txt: sections, stalling SASS lines);
#             PROTEUS_WGMMA_KERNELS="6" every kernel of one call of wgmma_check's time case 6 and its duration (ncu);
#             PROTEUS_WGMMA_ENERGY="5" joules a call of time case 5 (NVML's energy counter around 3 s of calls), also per experiment;
#             PROTEUS_WGMMA_DRAM="5" DRAM bytes and L2 hit rate of time case 5's kernel (ncu), also per experiment;
#             PROTEUS_TILE_TIME_REPEATS=10 repeats of the tile step's per-config timings (0: skip them)
#             PROTEUS_GRAPH_T=2048 sequence length of the graph step (the sanitizer runs use 300)
#   Before/after in one call: carry .old/ holding `git archive <0.1 commit> native cmake CMakeLists.txt` and
#   that commit's CLI published into .old/cli (as prepare.sh publishes ours). The build step then builds the
#   0.1 library too, latency runs tests/gpu/call_cost.cpp against both, and perf times the 0.1 library's
#   `bench --suite issue3` first and judges every case of ours against it (same call, by ms, 3 %).
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${OUT:-$root/build-gpu-out}
mkdir -p "$out"
steps=${PROTEUS_GPU_STEPS:-"build hopper graph torch tile explicit tests suite memcheck bench headdims latency perf layer layersan"}
summary="$out/summary.txt"
: >"$summary"
note() { echo "$*" | tee -a "$summary"; }
has_step() { [[ " $steps " == *" $1 "* ]]; }

note "== device: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null)"
note "== nvcc: $(nvcc --version | tail -1)"

# The card as found (METHOD.md: its settings are left alone): SM clock, power, temperature and the clock event
# reasons every 100 ms into clocks.csv, with a marker line where each timed section starts; tests/gpu/clocks.py
# prints each section's clocks and power at the end. A sustained load lowers the clocks within ~100 ms (the
# bench's samples drift up 3–7 % through a case), so the times of a step read beside its clocks.
clocks="$out/clocks.csv"
fields=timestamp,clocks.sm,clocks.mem,power.draw,temperature.gpu,clocks_event_reasons.active,utilization.gpu
nvidia-smi --query-gpu=$fields --format=csv,noheader >/dev/null 2>&1 || fields=${fields/clocks_event_reasons/clocks_throttle_reasons}
echo "# $fields" >"$clocks"
nvidia-smi --query-gpu=$fields --format=csv,noheader,nounits -lms 100 >>"$clocks" 2>/dev/null &
clock_pid=$!
mark() { echo "# $(date '+%Y/%m/%d %H:%M:%S.%3N') $*" >>"$clocks"; }

# .NET runtime from the carried archive.
export DOTNET_ROOT=/tmp/dotnet DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
mkdir -p "$DOTNET_ROOT" && tar -C "$DOTNET_ROOT" -xJf "$root/.device/dotnet-runtime.tar.xz"
dotnet() { "$DOTNET_ROOT/dotnet" "$@"; }

build="$root/build-cuda"
if has_step build; then
  # The 0.1 release, when its sources are carried in .old/ (`git archive` of the 0.1 commit, plus its CLI
  # published into .old/cli): the latency and perf steps time it beside this build in the same call. It
  # builds beside ours (8 of the 16 cores each; the long pole is one kernel source either way).
  old_jobs=0
  if [ -d "$root/.old/native" ]; then
    old_jobs=8
    ( start=$SECONDS
      { cmake -S "$root/.old" -B "$root/.old/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DPROTEUS_CUDA=ON \
          -DPROTEUS_HIP=OFF -DPROTEUS_CUDA_ARCHITECTURES=90 -DPROTEUS_BUILD_NATIVE_TESTS=OFF &&
        cmake --build "$root/.old/build" -j 8; } >"$out/build-0.1.log" 2>&1
      echo "$? $((SECONDS - start))" >"$root/.old/build.status" ) &
  fi
  start=$SECONDS
  { cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DPROTEUS_CUDA=ON -DPROTEUS_HIP=OFF \
      -DPROTEUS_CUDA_ARCHITECTURES=90 && cmake --build "$build" -j $((16 - old_jobs)); } >"$out/build.log" 2>&1
  rc=$?
  note "build: rc=$rc in $((SECONDS - start)) s"
  wait
  if [ -f "$root/.old/build.status" ]; then
    read -r old_rc old_s <"$root/.old/build.status"
    note "build of the 0.1 library (.old, beside ours): rc=$old_rc in $old_s s"
    cat "$out/build-0.1.log" >>"$out/build.log" && rm -f "$out/build-0.1.log"
  fi
  [ $rc -eq 0 ] || { tail -60 "$out/build.log"; exit 1; }
  ctest --test-dir "$build" --output-on-failure >>"$out/build.log" 2>&1; note "ctest (native smoke, log in build.log): rc=$?"
fi
# A library built by an earlier call (PROTEUS_SAVE_LIBRARY=1 below) and carried as .device/lib/libproteus.so.xz
# stands in for the build step on a fresh machine: same sources, no 2-minute build.
if ! has_step build && [ ! -f "$build/lib/libproteus.so" ] && [ -f "$root/.device/lib/libproteus.so.xz" ]; then
  mkdir -p "$build/lib" && xz -dc "$root/.device/lib/libproteus.so.xz" >"$build/lib/libproteus.so"
  note "library: unpacked from .device/lib/libproteus.so.xz (no build step)"
fi
if has_step build && [ "${PROTEUS_SAVE_LIBRARY:-0}" = 1 ]; then
  xz -T16 -3 -c "$build/lib/libproteus.so" >"$out/libproteus.so.xz"  # carry it back as .device/lib/libproteus.so.xz
fi
export PROTEUS_NATIVE_PATH="$build/lib/libproteus.so"
dotnet "$root/.device/tests/proteus.dll" info 2>&1 | tee -a "$summary"

# A safetensors file written by PyTorch (safetensors.torch.save_file), which the tests read back.
torch_file="$build/torch_written.safetensors"
mkdir -p "$build"
python3 "$root/tests/gpu/write_safetensors.py" "$torch_file" >/dev/null 2>&1 && export PROTEUS_TORCH_SAFETENSORS="$torch_file"

# Each test run goes to a scratch log first (its verdict is read from it alone), then into tests.log.
mkdir -p "$build"
section() {  # title, scratch log: appends the log to tests.log under a header
  { echo "===== $1"; cat "$2"; echo; } >>"$out/tests.log"
}
tests() {  # section name, then runner arguments
  local name=$1; shift
  local start=$SECONDS log="$build/$name.log"
  dotnet "$root/.device/tests/Proteus.Tests.dll" "$@" >"$log" 2>&1
  local rc=$?
  note "$name: rc=$rc in $((SECONDS - start)) s :: $(grep -E '^(Test run summary|  (total|failed|succeeded|skipped)|.*Passed!|.*Failed!)' "$log" | tr -s ' ' | tr '\n' ' ')"
  section "$name" "$log"
}
if has_step hopper; then
  start=$SECONDS
  { nvcc -std=c++17 -O2 -I"$root/native/src" -gencode=arch=compute_90a,code=sm_90a "$root/tests/gpu/hopper_probe.cu" -o "$build/hopper_probe" &&
      timeout 60 "$build/hopper_probe"; } >"$out/hopper.txt" 2>&1
  note "hopper probes (wgmma descriptors, A from registers, TMA; tests/gpu/hopper_probe.cu): rc=$? in $((SECONDS - start)) s :: $(tail -1 "$out/hopper.txt")"
  grep -E '^(PASS|FAIL|INFO)' "$out/hopper.txt" | tee -a "$summary"
  # The Hopper tile kernel itself (AUTO's choice on sm_90) against the CPU backend, under the sanitizers, then
  # its times beside the mma.sync kernel's (tests/gpu/wgmma_check.cpp).
  checker="$build/wgmma_check"
  if g++ -O2 -std=c++17 -I"$root/native/include" -I"$root/native/src" "$root/tests/gpu/wgmma_check.cpp" -L"$build/lib" -lproteus -ldl \
      -Wl,-rpath,"$build/lib" -o "$checker" >>"$out/hopper.txt" 2>&1; then
    start=$SECONDS
    timeout ${PROTEUS_WGMMA_CHECK_TIMEOUT:-180} "$checker" check >>"$out/hopper.txt" 2>&1
    note "wgmma check (Hopper kernel vs CPU backend): rc=$? in $((SECONDS - start)) s :: $(grep -E '^wgmma check' "$out/hopper.txt" | tail -1)"
    for tool in ${PROTEUS_WGMMA_SANITIZERS-memcheck racecheck synccheck}; do
      timeout 150 compute-sanitizer --tool $tool --error-exitcode 9 "$checker" check small >"$build/wgmma-$tool.log" 2>&1
      rc=$?
      note "wgmma $tool: rc=$rc :: $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$build/wgmma-$tool.log" | tail -1)"
      [ $rc -eq 0 ] || head -c 30000 "$build/wgmma-$tool.log" >"$out/wgmma-$tool.txt"
    done
    # PROTEUS_WGMMA_TIME_PLAIN=0: the Hopper kernel's times alone (not the mma.sync kernel's beside them).
    # PROTEUS_WGMMA_TIME=0: no timings at all.
    [ "${PROTEUS_WGMMA_TIME:-1}" = 0 ] || mark "wgmma_check time"
    [ "${PROTEUS_WGMMA_TIME:-1}" = 0 ] ||
      timeout 240 stdbuf -oL "$checker" time 10 $([ "${PROTEUS_WGMMA_TIME_PLAIN:-1}" = 1 ] || echo alone) 2>&1 |
      tee -a "$out/hopper.txt" | grep -E '^time' >>"$summary"
    # PROTEUS_WGMMA_ENERGY="5 4": joules a call of time case N (wgmma_check energy N 3: three seconds back to back, NVML's
    # energy counter around them), here and in each experiment run — what sets the time under the card's power cap.
    for n in ${PROTEUS_WGMMA_ENERGY:-}; do
      mark "wgmma_check energy $n"
      timeout 60 "$checker" energy "$n" 3 2>&1 | tee -a "$out/hopper.txt" | grep -E '^(energy|SKIP)' >>"$summary"
    done
    # PROTEUS_WGMMA_DRAM="5": DRAM bytes, L2 hit rate and duration of time case N's kernel (ncu, one launch), here and in
    # each experiment run.
    dram_of() {  # dram_of N LABEL [VAR=value …]
      local n=$1 label=$2; shift 2
      timeout 120 env "$@" ncu --clock-control none --kernel-name regex:flux_wgmma --launch-count 1 \
        --metrics dram__bytes_read.sum,dram__bytes_write.sum,lts__t_sector_hit_rate.pct,gpu__time_duration.sum \
        "$checker" once "$n" 2>&1 | grep -E 'dram__|lts__|gpu__time' | tr -s ' ' | sed "s/^/dram$label case $n:/" |
        tee -a "$out/hopper.txt" >>"$summary"
    }
    for n in ${PROTEUS_WGMMA_DRAM:-}; do dram_of "$n" ""; done
    # EXPERIMENTS (gpu/hopper/flux_wgmma.cu, off by default): PROTEUS_WGMMA_EXPERIMENTS="none A=1,B=2" (A, B: an experiment's switches) —
    # for each run (comma-separated VAR=value settings, or none) the check, the sanitizers of
    # PROTEUS_WGMMA_EXPERIMENT_TOOLS (default memcheck racecheck; `check small`; "" none) and every time case
    # (PROTEUS_WGMMA_EXPERIMENT_TIME="10 alone windows": the 1M cases only), in one call.
    for run in ${PROTEUS_WGMMA_EXPERIMENTS:-}; do
      start=$SECONDS
      settings=()
      [ "$run" = none ] || IFS=, read -r -a settings <<<"$run"
      timeout ${PROTEUS_WGMMA_CHECK_TIMEOUT:-180} env "${settings[@]}" "$checker" check 2>&1 | sed "s/^/[$run] /" >>"$out/hopper.txt"
      note "wgmma check [$run]: in $((SECONDS - start)) s :: $(grep -F "[$run] wgmma check" "$out/hopper.txt" | tail -1)"
      tools=${PROTEUS_WGMMA_EXPERIMENT_TOOLS-memcheck racecheck}
      # PROTEUS_WGMMA_EXPERIMENT_TOOLS_RUN="A=1,B=2": the sanitizers for that run alone.
      [ -z "${PROTEUS_WGMMA_EXPERIMENT_TOOLS_RUN:-}" ] || [ "$run" = "$PROTEUS_WGMMA_EXPERIMENT_TOOLS_RUN" ] || tools=""
      for tool in $tools; do
        timeout 150 env "${settings[@]}" compute-sanitizer --tool $tool --error-exitcode 9 "$checker" check small \
          >"$build/wgmma-run-$tool.log" 2>&1
        rc=$?
        note "wgmma $tool [$run]: rc=$rc :: $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$build/wgmma-run-$tool.log" | tail -1)"
        [ $rc -eq 0 ] || head -c 30000 "$build/wgmma-run-$tool.log" >"$out/wgmma-$tool-$(echo "$run" | tr -c 'A-Za-z0-9_\n' '_').txt"
      done
      mark "wgmma_check time [$run]"
      timeout 200 stdbuf -oL env "${settings[@]}" "$checker" time ${PROTEUS_WGMMA_EXPERIMENT_TIME:-10 alone} 2>&1 | sed "s/^time/time[$run]/" |
        tee -a "$out/hopper.txt" | grep -E '^time' >>"$summary"
      for n in ${PROTEUS_WGMMA_DRAM:-}; do dram_of "$n" "[$run]" "${settings[@]}"; done
      for n in ${PROTEUS_WGMMA_ENERGY:-}; do
        mark "wgmma_check energy $n [$run]"
        timeout 60 env "${settings[@]}" "$checker" energy "$n" 3 2>&1 | sed "s/^energy/energy[$run]/" | tee -a "$out/hopper.txt" |
          grep -E '^(energy|SKIP)' >>"$summary"
      done
    done
    # PROTEUS_WGMMA_LINEAR=1: the shortlist and DNA cases at T 256K, 1M and 2M (issue 12's "linear in T"; ~100 s).
    [ "${PROTEUS_WGMMA_LINEAR:-0}" = 0 ] ||
      timeout 240 stdbuf -oL "$checker" linear 5 2>&1 | tee -a "$out/hopper.txt" | grep -E '^linear' >>"$summary"
    # PROTEUS_WGMMA_PROFILE="5 0": ncu of time case N (wgmma_check once N; 5: the shortlist, 0: dense D 64 16K), its
    # throughput, warp-state and instruction sections and the SASS lines where the warps stall (wgmma-profile.txt).
    for n in ${PROTEUS_WGMMA_PROFILE:-}; do
      start=$SECONDS
      rm -f "$build/wgmma-$n.ncu-rep"
      timeout 180 ncu --clock-control none --kernel-name regex:flux_wgmma --launch-count 1 --section SpeedOfLight \
        --section ComputeWorkloadAnalysis --section MemoryWorkloadAnalysis --section WarpStateStats --section SchedulerStats --section InstructionStats \
        --section Occupancy --section SourceCounters -o "$build/wgmma-$n" "$checker" once "$n" >>"$out/hopper.txt" 2>&1
      { echo "===== ncu: wgmma_check once $n"; ncu --import "$build/wgmma-$n.ncu-rep" 2>&1
        ncu --import "$build/wgmma-$n.ncu-rep" --page source --csv --print-source sass >"$build/wgmma-source-$n.csv" 2>&1
        python3 "$root/tests/gpu/stall_lines.py" "$build/wgmma-source-$n.csv" 2>&1; } >>"$out/wgmma-profile.txt"
      # The per-instruction table itself, for reading by region here (xz; PROTEUS_WGMMA_PROFILE_CSV=0: not returned).
      [ "${PROTEUS_WGMMA_PROFILE_CSV:-1}" = 0 ] || xz -c "$build/wgmma-source-$n.csv" >"$out/wgmma-source-$n.csv.xz"
      note "wgmma profile (ncu, case $n): in $((SECONDS - start)) s :: $(grep -E 'Duration' "$out/wgmma-profile.txt" | tail -1)"
    done
    # PROTEUS_WGMMA_KERNELS="6": every kernel of one call of time case N (wgmma_check once N) and its duration (ncu),
    # to see what a call spends beside the attention kernel (the DNA case's lists, for one).
    for n in ${PROTEUS_WGMMA_KERNELS:-}; do
      timeout 120 ncu --clock-control none --metrics gpu__time_duration.sum --print-summary per-kernel "$checker" once "$n" 2>&1 |
        grep -vE '^==PROF==' | tail -40 | sed "s/^/kernels[$n] /" | tee -a "$out/hopper.txt" >>"$summary"
    done
  fi
fi
if has_step graph; then
  checker="$build/graph_check"
  start=$SECONDS
  echo "===== graph: build" >"$out/interop.log"
  # Warnings are errors in our code; CUDA's own headers count as system headers (-isystem beats nvcc's -I).
  cuda_root=$(dirname "$(dirname "$(readlink -f "$(command -v nvcc)")")")
  nvcc -O2 -std=c++17 -Xcompiler -Wall,-Wextra,-Werror -isystem "$cuda_root/include" -I"$root/native/include" \
    "$root/tests/gpu/graph_check.cpp" -L"$build/lib" -lproteus -Xlinker -rpath,"$build/lib" -o "$checker" >>"$out/interop.log" 2>&1
  rc=$?
  if [ $rc -ne 0 ]; then
    note "graph: build failed (rc=$rc), see interop.log"
  else
    graph_t=${PROTEUS_GRAPH_T:-2048}
    echo "===== graph: graph_check $graph_t" >>"$out/interop.log"
    "$checker" "$graph_t" >"$build/graph.log" 2>&1
    rc=$?
    cat "$build/graph.log" >>"$out/interop.log"
    note "graph capture (every GPU path, T $graph_t): rc=$rc in $((SECONDS - start)) s :: $(tail -1 "$build/graph.log")"
    grep -E '^(PASS|FAIL)' "$build/graph.log" | tee -a "$summary"
    for tool in memcheck racecheck synccheck; do
      start=$SECONDS
      echo "===== graph: compute-sanitizer --tool $tool graph_check 300" >>"$out/interop.log"
      compute-sanitizer --tool "$tool" --error-exitcode 9 "$checker" 300 >"$build/graph-$tool.log" 2>&1
      rc=$?
      cat "$build/graph-$tool.log" >>"$out/interop.log"
      note "graph $tool (T 300): rc=$rc in $((SECONDS - start)) s :: $(grep -E '(ERROR|RACECHECK) SUMMARY' "$build/graph-$tool.log" | tail -1) :: $(grep -E '^graph check' "$build/graph-$tool.log")"
    done
  fi
fi
if has_step torch; then
  start=$SECONDS
  echo "===== torch: tests/gpu/torch_zero_copy.py" >>"$out/interop.log"
  PYTHONUNBUFFERED=1 python3 "$root/tests/gpu/torch_zero_copy.py" >"$build/torch.log" 2>&1
  rc=$?
  cat "$build/torch.log" >>"$out/interop.log"
  note "torch zero-copy: rc=$rc in $((SECONDS - start)) s :: $(grep -c '^PASS' "$build/torch.log") PASS, $(grep -c '^FAIL' "$build/torch.log") FAIL :: $(tail -1 "$build/torch.log")"
  grep -E '^FAIL' "$build/torch.log" | tee -a "$summary"
fi
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
  start=$SECONDS
  echo "== check-row-mode 200 5" >>"$out/tile.log"
  "$checker" check-row-mode 200 5 >>"$out/tile.log" 2>&1
  note "row mode check (200 cases ROW, row groups then per-row kernel, vs CPU backend): rc=$? in $((SECONDS - start)) s :: $(tail -1 "$out/tile.log")"
  for tool in racecheck synccheck memcheck; do
    echo "== compute-sanitizer --tool $tool: check 12 2 300, check-row-mode 12 3 300" >>"$out/tile.log"
    compute-sanitizer --tool "$tool" --error-exitcode 9 "$checker" check 12 2 300 >>"$out/tile.log" 2>&1
    rc=$?
    compute-sanitizer --tool "$tool" --error-exitcode 9 "$checker" check-row-mode 12 3 300 >>"$out/tile.log" 2>&1
    note "tile $tool: rc=$rc, row mode rc=$? :: $(grep -E '(ERROR|RACECHECK) SUMMARY' "$out/tile.log" | tail -1)"
  done
  repeats=${PROTEUS_TILE_TIME_REPEATS:-10}
  if [ "$repeats" -gt 0 ]; then
    echo "== time $repeats" >>"$out/tile.log"
    "$checker" time "$repeats" 2>&1 | tee -a "$out/tile.log" | tail -40 >>"$summary"
  fi
fi
if has_step explicit; then
  # Explicit candidate lists (docs/explicit-candidates.md): the GPU kernel vs the CPU backend, under the
  # sanitizers, and the bench shape's time (T 1M, H 16, D 64, L 512); logged into tile.log.
  checker="$build/explicit_check"
  g++ -O2 -std=c++17 -I"$root/native/include" -I"$root/native/src" "$root/tests/gpu/explicit_check.cpp" -L"$build/lib" -lproteus \
    -Wl,-rpath,"$build/lib" -o "$checker" >>"$out/tile.log" 2>&1
  start=$SECONDS
  echo "== explicit check 300 1" >>"$out/tile.log"
  "$checker" check 300 1 >>"$out/tile.log" 2>&1
  note "explicit check (300 random cases, GPU vs CPU backend): rc=$? in $((SECONDS - start)) s :: $(tail -1 "$out/tile.log")"
  for tool in racecheck synccheck memcheck; do
    echo "== compute-sanitizer --tool $tool: explicit check 12 2" >>"$out/tile.log"
    compute-sanitizer --tool "$tool" --error-exitcode 9 "$checker" check 12 2 >>"$out/tile.log" 2>&1
    note "explicit $tool: rc=$? :: $(grep -E '(ERROR|RACECHECK) SUMMARY' "$out/tile.log" | tail -1)"
  done
  echo "== explicit time 10" >>"$out/tile.log"
  "$checker" time 10 2>&1 | tee -a "$out/tile.log" | tail -1 >>"$summary"
fi
if has_step tests; then tests gpu-tests --filter 'TestCategory=Gpu'; fi
if has_step suite; then PROTEUS_TEST_BACKEND=cuda tests suite-on-cuda; fi
if has_step memcheck; then
  start=$SECONDS
  compute-sanitizer --tool memcheck --leak-check full --error-exitcode 9 --target-processes all \
    "$DOTNET_ROOT/dotnet" "$root/.device/tests/Proteus.Tests.dll" --filter 'TestCategory=Gpu' \
    >"$build/memcheck.log" 2>&1
  note "memcheck: rc=$? in $((SECONDS - start)) s :: $(grep -E 'ERROR SUMMARY' "$build/memcheck.log" | sort | uniq -c | tr '\n' ' ')"
  section memcheck "$build/memcheck.log"
fi
if has_step bench; then
  start=$SECONDS
  dotnet "$root/.device/tests/proteus.dll" bench --backend cuda 2>&1 | tee -a "$summary"
  note "bench: rc=${PIPESTATUS[0]} in $((SECONDS - start)) s"
fi
if has_step headdims; then
  # Issue 13 part 4: dense at T 16K, H 8, D 80, 96 and 256 beside D 128 (each ≥ 0.8× D 128's TFLOP/s).
  start=$SECONDS
  dotnet "$root/.device/tests/proteus.dll" bench --suite headdims --backend cuda --json "$out/headdims.json" 2>&1 | tee -a "$summary"
  note "headdims (proteus bench --suite headdims): rc=${PIPESTATUS[0]} in $((SECONDS - start)) s"
fi
if has_step latency; then
  start=$SECONDS
  dotnet "$root/.device/tests/proteus.dll" bench --suite latency --backend cuda --json "$out/latency.json" 2>&1 | tee -a "$summary"
  note "latency (proteus bench --suite latency): rc=${PIPESTATUS[0]} in $((SECONDS - start)) s"
  # Before/after through the 0.1 entry point: tests/gpu/call_cost.cpp against this build and, when the
  # 0.1 sources are carried in .old/ (git archive of the 0.1 commit), against the 0.1 library too, in
  # alternating rounds (ours, 0.1, ours, …; PROTEUS_COST_ROUNDS, default 3) so that neither side owns a
  # warmer or colder machine; the table is each case's median over the rounds.
  cost="$build/call_cost"
  g++ -O2 -std=c++17 -I"$root/native/include" "$root/tests/gpu/call_cost.cpp" -L"$build/lib" -lproteus \
    -Wl,-rpath,"$build/lib" -o "$cost" >>"$out/build.log" 2>&1
  sides=("$cost")
  if [ -f "$root/.old/build/lib/libproteus.so" ]; then
    old="$root/.old/build"
    g++ -O2 -std=c++17 -I"$root/.old/native/include" "$root/tests/gpu/call_cost.cpp" -L"$old/lib" -lproteus \
      -Wl,-rpath,"$old/lib" -o "$old/call_cost" >>"$out/build.log" 2>&1 && sides+=("$old/call_cost")
  fi
  rounds=${PROTEUS_COST_ROUNDS:-3}
  : >"$build/call_cost.rounds"
  for ((round = 1; round <= rounds; ++round)); do
    for side in "${sides[@]}"; do "$side" 1000 2>&1 | sed "s|^|$(basename "$(dirname "$side")") |" >>"$build/call_cost.rounds"; done
  done
  # Rows "<side> <case …> <us per call> <return us>": the median of each column per side and case.
  awk '$2 == "library" { version[$1] = $3; sub(/:$/, "", version[$1]) } NF >= 4 && $(NF) ~ /^[0-9.]+$/ && $(NF - 1) ~ /^[0-9.]+$/ {
         side = $1; name = $2; for (f = 3; f <= NF - 2; ++f) name = name " " $f
         key = side SUBSEP name; if (!(key in n)) order[++cases] = key
         cost[key, ++n[key]] = $(NF - 1); back[key, n[key]] = $(NF) }
       function median(a, key, count,   i, j, t, v) { for (i = 1; i <= count; ++i) v[i] = a[key, i]
         for (i = 1; i <= count; ++i) for (j = i + 1; j <= count; ++j) if (v[j] + 0 < v[i] + 0) { t = v[i]; v[i] = v[j]; v[j] = t }
         return v[int((count + 1) / 2)] }
       END { printf "call_cost, median of %d alternating rounds (us per call | return behind a 7 ms call)\n", '"$rounds"'
             for (c = 1; c <= cases; ++c) { split(order[c], parts, SUBSEP)
               printf "%-12s %-34s %10.2f %10.1f\n", version[parts[1]] != "" ? version[parts[1]] : parts[1], parts[2],
                      median(cost, order[c], n[order[c]]), median(back, order[c], n[order[c]]) } }' \
    "$build/call_cost.rounds" | tee -a "$summary"
fi
if has_step perf; then
  # Our side prints as it goes; its JSON lives outside $OUT because perf.json embeds all of it.
  ours="$build/perf-ours.json"
  mkdir -p "$build" && rm -f "$ours"
  start=$SECONDS
  mark "perf: proteus bench --suite kernels"
  dotnet "$root/.device/tests/proteus.dll" bench --suite kernels --backend cuda ${PROTEUS_PERF_ARGS:-} --json "$ours" 2>&1
  note "perf, ours (proteus bench --suite kernels): rc=$? in $((SECONDS - start)) s"
  baseline_json=${PROTEUS_PERF_BASELINE:-}
  if [ -z "$baseline_json" ] && [ -f "$root/.old/cli/proteus.dll" ] && [ -f "$root/.old/build/lib/libproteus.so" ]; then
    baseline_json="$build/perf-0.1.json"
    start=$SECONDS
    PROTEUS_NATIVE_PATH="$root/.old/build/lib/libproteus.so" dotnet "$root/.old/cli/proteus.dll" bench --suite issue3 \
      --backend cuda ${PROTEUS_PERF_ARGS:-} --json "$baseline_json" >/dev/null 2>&1
    note "perf, the 0.1 library (proteus 0.1 bench --suite issue3, same call): rc=$? in $((SECONDS - start)) s"
  fi
  if [ -f "$ours" ]; then
    start=$SECONDS
    baseline=()
    [ -n "$baseline_json" ] && [ -f "$baseline_json" ] && baseline=(--baseline "$baseline_json")
    mark "perf: sdpa_bench.py"
    python3 "$root/tests/gpu/sdpa_bench.py" "$ours" --out "$out" ${baseline[@]+"${baseline[@]}"} | tee -a "$summary"
    rc=${PIPESTATUS[0]}
    note "perf, SDPA comparison (tests/gpu/sdpa_bench.py): rc=$rc in $((SECONDS - start)) s"
    [ $rc -eq 0 ] || cp "$ours" "$out/perf.json"  # keep our numbers when the comparison failed
  fi
fi
if has_step ab; then
  # One bench case with and without some settings, alternating in one call (the card's power state drifts through a
  # call: clocks.csv): `proteus bench --backend cuda ${PROTEUS_AB_ARGS}` without, then with PROTEUS_AB_ENV
  # (comma-separated VAR=value), PROTEUS_AB_ROUNDS rounds (default 2); each run's median and samples into ab.txt.
  IFS=, read -r -a ab_settings <<<"${PROTEUS_AB_ENV:-}"
  for ((round = 1; round <= ${PROTEUS_AB_ROUNDS:-2}; ++round)); do
    for side in without with; do
      settings=(); [ "$side" = with ] && settings=("${ab_settings[@]}")
      mark "ab: round $round, $side ${PROTEUS_AB_ENV:-}"
      env "${settings[@]}" "$DOTNET_ROOT/dotnet" "$root/.device/tests/proteus.dll" bench --backend cuda ${PROTEUS_AB_ARGS:-} \
        --json "$build/ab.json" >>"$out/ab.txt" 2>&1
      python3 -c 'import json, sys
for r in json.load(open(sys.argv[1]))["results"]:
    t = r["timing"]["sample_ms"]
    print("ab %s %s: %s %d: median %.3f ms, samples %s" % (sys.argv[2], sys.argv[3], r["case"], r["seq_len"], r["median_ms"],
          " ".join("%.3f" % x for x in t)))' "$build/ab.json" "round $round" "$side" | tee -a "$out/ab.txt" >>"$summary"
    done
  done
fi
if has_step layer; then
  start=$SECONDS
  checker="$build/layer_ops_check"
  { g++ -O2 -std=c++17 -I"$root/native/include" -I"$root/native/src" "$root/tests/gpu/layer_ops_check.cpp" -L"$build/lib" -lproteus \
      -Wl,-rpath,"$build/lib" -o "$checker" && "$checker" cuda 1; } >"$out/layer.txt" 2>&1
  note "layer operations (CUDA vs CPU, determinism): rc=$? in $((SECONDS - start)) s :: $(tail -1 "$out/layer.txt")"
  # The layer and block against plain PyTorch (SPEC §7, float64) with the same weights and the layer's
  # host-side decisions: the export test writes one safetensors file per configuration, the script checks them.
  start=$SECONDS
  export_dir="$build/layer-export"
  rm -rf "$export_dir"
  PROTEUS_LAYER_EXPORT="$export_dir" dotnet "$root/.device/tests/Proteus.Tests.dll" --filter 'FullyQualifiedName~LayerExportTests' \
    --output detailed >"$build/layer-export.log" 2>&1
  export_rc=$?
  python3 "$root/tests/gpu/layer_torch.py" "$export_dir" >"$build/layer-torch.log" 2>&1
  rc=$?
  { echo "===== LayerExportTests (PROTEUS_LAYER_EXPORT=$export_dir)"; cat "$build/layer-export.log"
    echo "===== tests/gpu/layer_torch.py $export_dir"; cat "$build/layer-torch.log"; } >>"$out/layer.txt"
  note "layer vs PyTorch (LayerExportTests rc=$export_rc, tests/gpu/layer_torch.py): rc=$rc in $((SECONDS - start)) s :: $(tail -1 "$build/layer-torch.log")"
  grep -E '^(PASS|FAIL)' "$build/layer-torch.log" | tee -a "$summary"
  for preset in original wide; do
    start=$SECONDS
    seqs="262144,1048576"; [ "$preset" = wide ] && seqs="1048576"
    dotnet "$root/.device/tests/proteus.dll" bench --backend cuda --layer "$preset" --block --seq $seqs --json "$out/layer-$preset.json" 2>&1 |
      tee -a "$out/layer.txt" | tee -a "$summary"
    note "proteus bench --layer $preset --block: rc=${PIPESTATUS[0]} in $((SECONDS - start)) s"
  done
fi
if has_step layersan; then
  # compute-sanitizer over layer_ops_check's small run (racecheck is the slowest step here).
  checker="$build/layer_ops_check"
  [ -x "$checker" ] || g++ -O2 -std=c++17 -I"$root/native/include" -I"$root/native/src" "$root/tests/gpu/layer_ops_check.cpp" \
    -L"$build/lib" -lproteus -Wl,-rpath,"$build/lib" -o "$checker" >>"$out/layer.txt" 2>&1
  if [ -x "$checker" ]; then
    # Racecheck is slow: its run is split in two (the router shapes, then selection and the DNA update),
    # each part with its own timeout, so that every suite is reached.
    # PROTEUS_LAYERSAN_RUNS="tool:suites …" replaces the list (e.g. "racecheck:select,dna_update").
    runs=${PROTEUS_LAYERSAN_RUNS:-"memcheck:all racecheck:linear,convert,norm,gelu,rope,rope_views,router racecheck:select,dna_update synccheck:all"}
    for run in $runs; do
      set -- ${run/:/ }
      tool=$1; suites=$2; [ "$suites" = all ] && suites=""
      start=$SECONDS
      log="$build/layer-$tool-${suites:-all}.log"
      timeout "${PROTEUS_SANITIZER_TIMEOUT:-240}" compute-sanitizer --tool "$tool" --error-exitcode 9 "$checker" cuda 1 small $suites >"$log" 2>&1
      rc=$?
      { echo "===== compute-sanitizer --tool $tool layer_ops_check cuda 1 small $suites"; cat "$log"; } >>"$out/layer.txt"
      note "layer operations $tool ${suites:-(every suite)}: rc=$rc in $((SECONDS - start)) s :: $(grep -E '(ERROR|RACECHECK) SUMMARY' "$log" | tail -1) :: $(tail -1 "$log")"
    done
  fi
fi
if has_step tune; then
  start=$SECONDS
  cache="$build/tune-cache"
  rm -rf "$cache" && mkdir -p "$cache"
  cli="$root/.device/tests/proteus.dll"
  { echo "===== proteus tune --suite kernels --cache-dir $cache"
    dotnet "$cli" tune --suite kernels --cache-dir "$cache" 2>&1 &
    tuner=$!
    # A second process while the first tunes: it must find a valid cache (or none yet) and run.
    sleep 20
    echo "===== (while tuning) proteus tune --show --cache-dir $cache"
    dotnet "$cli" tune --show --cache-dir "$cache" 2>&1 | tail -20
    wait $tuner
    echo "tune rc=$? in $((SECONDS - start)) s"
    echo "===== proteus tune --show"
    dotnet "$cli" tune --show --cache-dir "$cache" 2>&1
    echo "===== proteus bench --suite kernels (PROTEUS_CACHE_DIR=$cache: tuned launches from the cache)"
    PROTEUS_CACHE_DIR="$cache" dotnet "$cli" bench --suite kernels --backend cuda 2>&1; } >"$out/tune.txt" 2>&1
  note "tune (proteus tune --suite kernels, then the suite from the cache): in $((SECONDS - start)) s :: $(grep -E '^tune rc=' "$out/tune.txt")"
fi
if has_step profile; then
  start=$SECONDS
  : >"$out/profile.txt"
  for spec in "original 262144" "wide 1048576"; do
    set -- $spec
    cli=(dotnet "$root/.device/tests/proteus.dll" bench --backend cuda --layer "$1" --seq "$2" --iterations 3)
    echo "===== proteus bench --layer $1 --seq $2 (3 timed calls + warm-up + staged call)" >>"$out/profile.txt"
    if command -v nsys >/dev/null; then
      nsys profile --force-overwrite true -o "$build/profile-$1" "$DOTNET_ROOT/dotnet" "${cli[@]:1}" >>"$build/profile.log" 2>&1
      nsys stats --report cuda_gpu_kern_sum --format column "$build/profile-$1.nsys-rep" 2>&1 | cut -c1-220 >>"$out/profile.txt"
    else
      ncu --metrics gpu__time_duration.sum --print-summary per-kernel "$DOTNET_ROOT/dotnet" "${cli[@]:1}" 2>&1 |
        grep -E "^  [a-zA-Z_].*\(|gpu__time_duration|^    [a-z]" | cut -c1-220 >>"$out/profile.txt"
    fi
  done
  # PROTEUS_PROFILE_KERNELS="active_rows rope_pairs …": ncu's throughput, memory, occupancy and stall
  # sections for the first launch of each, in the original layer at 256K (profile-detail.txt).
  # With PROTEUS_PROFILE_SOURCE=1 also the per-instruction stall samples (SourceCounters) of each, as CSV
  # (profile-source-N.csv: SASS lines with their warp-stall samples).
  n=0
  for kernel in ${PROTEUS_PROFILE_KERNELS:-}; do
    n=$((n + 1))
    source_args=(); [ "${PROTEUS_PROFILE_SOURCE:-0}" = 1 ] && source_args=(--section SourceCounters --import-source yes -f -o "$build/detail-$n")
    timeout 150 ncu --kernel-name "regex:$kernel" --launch-count 1 --section SpeedOfLight --section MemoryWorkloadAnalysis \
      --section WarpStateStats --section Occupancy --section LaunchStats --section SchedulerStats --section InstructionStats \
      "${source_args[@]}" "$DOTNET_ROOT/dotnet" "$root/.device/tests/proteus.dll" bench --backend cuda --layer original --seq 262144 --iterations 1 \
      2>&1 | grep -vE '^(proteus|what|layer|results)' >>"$out/profile-detail.txt"
    if [ -f "$build/detail-$n.ncu-rep" ]; then
      ncu --import "$build/detail-$n.ncu-rep" >>"$out/profile-detail.txt" 2>&1
      ncu --import "$build/detail-$n.ncu-rep" --page source --csv --print-source sass >"$out/profile-source-$n.csv" 2>&1
      xz -T0 "$out/profile-source-$n.csv"
    fi
  done
  note "profile (nsys or ncu, per-kernel table in profile.txt): in $((SECONDS - start)) s"
fi
kill "$clock_pid" 2>/dev/null; wait "$clock_pid" 2>/dev/null
python3 "$root/tests/gpu/clocks.py" "$clocks" >>"$summary" 2>&1
echo; echo "===== summary ($out)"; cat "$summary"
