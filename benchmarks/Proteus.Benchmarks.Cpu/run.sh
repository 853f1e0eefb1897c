#!/usr/bin/env bash
# Builds and runs the libtorch-vs-Proteus CPU benchmark (README.md beside this file).
#   benchmarks/Proteus.Benchmarks.Cpu/run.sh [--threads N] [other options of the program; --help lists them]
#
# TorchSharp 0.107's libLibTorchSharp.so was linked against GCC 13's libstdc++ and asks for symbol
# version GLIBCXX_3.4.32; Debian 12 has GCC 12's (GLIBCXX_3.4.30), so loading it fails with
#   version `GLIBCXX_3.4.32' not found (required by .../libLibTorchSharp.so)
# The workaround, all local to this benchmark's build output (nothing in the library, its tests or the
# NuGet cache changes), works offline:
#   1. compat/weaken_verneed marks the GLIBCXX_3.4.32 requirement of the *copy* of libLibTorchSharp.so
#      in bin/ as weak (VER_FLG_WEAK), so the loader no longer refuses it;
#   2. compat/glibcxx_compat.so, LD_PRELOADed, defines the one symbol behind that version,
#      std::ios_base_library_init(), and initialises the standard streams as libstdc++ 13 would.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
configuration=Release
out="$here/bin/$configuration/net10.0"
compat="$here/obj/compat"

threads=2
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  if [ "${args[i]}" = "--threads" ] && [ $((i + 1)) -lt ${#args[@]} ]; then threads=${args[i + 1]}; fi
done

# The compat tools: rebuilt when their sources change.
mkdir -p "$compat"
if [ ! -x "$compat/weaken_verneed" ] || [ "$here/compat/weaken_verneed.c" -nt "$compat/weaken_verneed" ]; then
  gcc -O2 -Wall -Wextra -Werror -o "$compat/weaken_verneed" "$here/compat/weaken_verneed.c"
fi
if [ ! -f "$compat/glibcxx_compat.so" ] || [ "$here/compat/glibcxx_compat.cpp" -nt "$compat/glibcxx_compat.so" ] ||
   [ "$here/compat/glibcxx_compat.map" -nt "$compat/glibcxx_compat.so" ]; then
  g++ -O2 -Wall -Wextra -Werror -shared -fPIC -Wl,--version-script="$here/compat/glibcxx_compat.map" \
    -o "$compat/glibcxx_compat.so" "$here/compat/glibcxx_compat.cpp"
fi

# Building the managed library builds libproteus through CMake. Keep that build CPU-only: with the
# backend switch (-p:ProteusBackends=cpu) where the tree has it, else by configuring the build
# directory without CUDA/HIP before MSBuild does (it configures only when there is no cache).
build_flags=()
if grep -qs ProteusBackends "$root/managed/Proteus/Proteus.csproj" "$root/Directory.Build.props" "$root"/cmake/*.targets 2>/dev/null; then
  build_flags+=(-p:ProteusBackends=cpu)
elif [ ! -f "$root/artifacts/native/build/CMakeCache.txt" ]; then
  cmake -S "$root" -B "$root/artifacts/native/build" -DCMAKE_BUILD_TYPE=Release -DPROTEUS_BUILD_NATIVE_TESTS=OFF \
    -DPROTEUS_CUDA=OFF -DPROTEUS_HIP=OFF >/dev/null
fi
dotnet build "$here/Proteus.Benchmarks.Cpu.csproj" -c "$configuration" --nologo -v q -clp:ErrorsOnly\;NoSummary "${build_flags[@]}" \
  -p:ProteusNativeBuildJobs="$(nproc)"

native="$out/runtimes/linux-x64/native"
lib=$(find "$out" -name libLibTorchSharp.so | head -1)
[ -n "$lib" ] || { echo "libLibTorchSharp.so is not in $out" >&2; exit 1; }
"$compat/weaken_verneed" "$lib" GLIBCXX_3.4.32 >/dev/null

mkdir -p "$root/artifacts/benchmarks"
export PROTEUS_NUM_THREADS="$threads" OMP_NUM_THREADS="$threads" MKL_NUM_THREADS="$threads"
LD_PRELOAD="$compat/glibcxx_compat.so${LD_PRELOAD:+:$LD_PRELOAD}" \
LD_LIBRARY_PATH="$native${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
  dotnet "$out/Proteus.Benchmarks.Cpu.dll" --json "$root/artifacts/benchmarks/cpu-vs-libtorch.json" "$@"
