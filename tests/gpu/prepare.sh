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
  dotnet publish "$root/$1" -c Release --no-self-contained -p:ProteusSkipNativeBuild=true \
    -p:UseAppHost=false -o "$out/$2" >"$out/$2.build.log" 2>&1 || { tail -40 "$out/$2.build.log"; exit 1; }
}
publish tests/Proteus.Tests tests
publish managed/Proteus.Cli cli

dotnet_root=$(dirname "$(readlink -f "$(command -v dotnet)")")
runtime=$(ls "$dotnet_root/shared/Microsoft.NETCore.App" | sort -V | tail -1)
tar -C "$dotnet_root" -cJf "$out/dotnet-runtime.tar.xz" \
  dotnet "host/fxr" "shared/Microsoft.NETCore.App/$runtime"
du -sh "$out"/* | sort -h
