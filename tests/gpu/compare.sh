#!/usr/bin/env bash
# Run ON THE DEVICE MACHINE from the repository root, with .old carried (see run.sh: `git archive` of the
# 0.1 commit plus, for this script, that commit's tests/gpu/flux_tile_check.cpp as .old/flux_tile_check.cpp),
# after run.sh's build step in the same call (it builds both libraries).
# Compares the tile kernel of this tree with the 0.1 tree on the device's own nvcc:
#   resources  ptxas -v of native/src/gpu/flux_tile_kernel.cu, both trees, sm_90: registers, stack and
#              spills of every flux_tile instance (resources.txt)
#   sass       cuobjdump -sass of the kernels matching PROTEUS_COMPARE_SASS (a regular expression over the
#              mangled name; default the bfloat16 D 128, 64-key, 2-row-tile band kernel), both trees
#   sweep      both tile checkers' `time` mode (every launch configuration of the issue's shapes), both
#              libraries, one after the other (sweep-old.txt, sweep-new.txt; printed side by side)
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${OUT:-$root/build-gpu-out}
mkdir -p "$out"
pattern=${PROTEUS_COMPARE_SASS:-'flux_tileINS0_15BFloat16StorageELi128ELi64ELi2ELb0ELb0E'}
repeats=${PROTEUS_COMPARE_REPEATS:-10}
work=$root/build-compare
mkdir -p "$work"

resources() {  # tree, name
  local tree=$1 name=$2
  nvcc -std=c++17 -O3 -arch=sm_90 -cubin -Xptxas -v -I"$tree/native/src" -I"$tree/native/include" \
    -DPROTEUS_HAVE_GPU=1 -DPROTEUS_GPU_BACKEND_CUDA=1 "$tree/native/src/gpu/flux_tile_kernel.cu" \
    -o "$work/$name.cubin" >"$work/$name.ptxas" 2>&1
  # One line per kernel: its template arguments, registers, stack and spills.
  awk '/Compiling entry function/ { k = $0; sub(/.*flux_tileINS0_[0-9]+/, "", k); sub(/EEvNS1_8TileArgsE.*/, "", k) }
       /spill stores/ { s = $1 " stack, " $5 " st, " $9 " ld" }
       /Used [0-9]+ registers/ { print k, $5, "regs,", s }' "$work/$name.ptxas" | sort >"$work/$name.resources"
  cuobjdump -sass "$work/$name.cubin" | awk -v p="$pattern" '/Function :/ { on = ($0 ~ p) } on' >"$out/sass-$name.txt"
}
resources "$root/.old" old &
resources "$root" new &

sweep() {  # name, checker source, tree, library directory
  g++ -O2 -std=c++17 -I"$3/native/include" -I"$3/native/src" "$2" -L"$4" -lproteus -Wl,-rpath,"$4" \
    -o "$work/tile_check_$1" && "$work/tile_check_$1" time "$repeats" >"$out/sweep-$1.txt" 2>&1
}
sweep old "$root/.old/flux_tile_check.cpp" "$root/.old" "$root/.old/build/lib"
sweep new "$root/tests/gpu/flux_tile_check.cpp" "$root" "$root/build-cuda/lib"
wait
{
  echo "== nvcc: $(nvcc --version | tail -1)"
  echo "== 0.1"; cat "$work/old.resources"
  echo "== now"; cat "$work/new.resources"
} >"$out/resources.txt"
echo "== sweep: 0.1 | now"
paste "$out/sweep-old.txt" "$out/sweep-new.txt" | awk -F'\t' '{ printf "%-90s | %s\n", $1, $2 }'
