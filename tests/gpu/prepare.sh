#!/usr/bin/env bash
# Run HERE (no GPU needed): builds the framework-dependent test runner and CLI without the native
# library (the device machine builds that with its own CUDA), and packs this machine's .NET runtime,
# into the git-ignored folder .device/ that the device call carries.
#   bash tests/gpu/prepare.sh        then, through the device tool:
#   run(command="bash tests/gpu/run.sh", carry=[".device"])
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out="$root/.device"
rm -rf "$out" && mkdir -p "$out"

publish() {  # project, folder
  # -r linux-x64: only the device's native assets of the managed packages (SkiaSharp alone ships 15 RIDs).
  # English only: the analyzers' and test platform's satellite assemblies are 9 MB.
  dotnet publish "$root/$1" -c Release -r linux-x64 --no-self-contained -p:ProteusSkipNativeBuild=true \
    -p:UseAppHost=false -p:SatelliteResourceLanguages=en -o "$out/$2" >"$out/$2.build.log" 2>&1 || { tail -40 "$out/$2.build.log"; exit 1; }
}
# The test project references the CLI, so its output holds the CLI too (proteus.dll with its own
# runtimeconfig and deps): run.sh runs it from there, which keeps the carry under its 64 MiB.
publish tests/Proteus.Tests tests

dotnet_root=$(dirname "$(readlink -f "$(command -v dotnet)")")
runtime=$(ls "$dotnet_root/shared/Microsoft.NETCore.App" | sort -V | tail -1)
tar -C "$dotnet_root" -cJf "$out/dotnet-runtime.tar.xz" \
  dotnet "host/fxr" "shared/Microsoft.NETCore.App/$runtime"
du -sh "$out"/* | sort -h
