#!/usr/bin/env bash
# The packages as a user meets them. Packs Proteus.Native.Runtime.<rid>, Proteus.Native and the
# Proteus.Native.Cli tool into a local feed; makes a new console app (`dotnet new console`) that takes
# Proteus.Native from that feed with `dotnet add package` (no ProjectReference), builds it and runs
# Consumer.cs (flux calls checked against attention computed in C#); checks the resolver's message
# when the runtime package's library is missing; installs the tool from the feed and runs
# `proteus info` and a short `proteus bench`.
#   tests/packages/check.sh [libproteus.so]   (default: the library `dotnet build` makes with CMake)
# Packing builds under a temporary artifacts path, so the repository's bin/ and obj/ are left alone. The
# app and the tool restore from the feed alone, into their own package folder: nothing is taken from an
# earlier run's NuGet cache, and the packages' dependencies must all be in the feed.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
feed=$work/feed
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

pack_args=(-c Release -o "$feed" --artifacts-path "$work/build" -v quiet -nologo)
[ $# -ge 1 ] && pack_args+=("-p:ProteusNativeLibrary=$(realpath "$1")")
for project in native/package/Proteus.Native.Runtime.csproj managed/Proteus managed/Proteus.Cli; do
  dotnet pack "$root/$project" "${pack_args[@]}"
done
# The app restores from the local feed alone, so Proteus.Native's own NuGet dependencies (the logging
# abstractions, and theirs) go into the feed too, copied from the machine's NuGet cache that packing filled.
cache=$(dotnet nuget locals global-packages --list | sed 's/^global-packages: //')
copy_dependencies() {  # a .nupkg in the cache or the feed: copies its net10.0 dependencies, recursively
  local id version lower package
  while read -r id version; do
    [ -n "$id" ] || continue
    case "$id" in Proteus.*) continue ;; esac
    version=${version#[}; version=${version%%,*}; version=${version%]}  # "[1.0, )" and "1.0" alike
    lower=${id,,}
    [ -f "$feed/$lower.$version.nupkg" ] && continue
    package="$cache$lower/$version/$lower.$version.nupkg"
    [ -f "$package" ] || { echo "FAIL: $id $version, a dependency of the packages, is not in the NuGet cache ($package)"; exit 1; }
    cp "$package" "$feed/" && copy_dependencies "$package"
  done < <(unzip -p "$1" '*.nuspec' | tr -d '\r' |
    awk '/<group targetFramework="net10.0"/ && !/\/>/ { inside = 1 } inside && /<\/group>/ { inside = 0 } inside && /<dependency / { print }' |
    sed -n 's/.*id="\([^"]*\)" version="\([^"]*\)".*/\1 \2/p')
}
export NUGET_PACKAGES=$work/nuget-packages
version=$(sed -n 's/^#define PROTEUS_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\)$/\2/p' "$root/native/include/proteus/proteus.h" | paste -sd.)
echo "feed: $(cd "$feed" && ls | tr '\n' ' ')"
for package in Proteus.Native.Runtime.linux-x64 Proteus.Native Proteus.Native.Cli; do
  [ -f "$feed/$package.$version.nupkg" ] || { echo "FAIL: $package $version was not packed"; exit 1; }
done
# (Listings go through variables: grep -q closing a pipe early would fail the pipeline under pipefail.)
contains() { local listing; listing=$(unzip -Z1 "$feed/$1"); grep -qx "$2" <<<"$listing" || { echo "FAIL: $1 has no $2"; exit 1; }; }
contains "Proteus.Native.Runtime.linux-x64.$version.nupkg" runtimes/linux-x64/native/libproteus.so
contains "Proteus.Native.$version.nupkg" lib/net10.0/Proteus.Native.dll
contains "Proteus.Native.$version.nupkg" lib/net10.0/Proteus.Interop.dll
contains "Proteus.Native.$version.snupkg" lib/net10.0/Proteus.Interop.pdb
contains "Proteus.Native.Cli.$version.nupkg" tools/net10.0/any/runtimes/linux-x64/native/libproteus.so

copy_dependencies "$feed/Proteus.Native.$version.nupkg"

app=$work/app
mkdir "$app"
cat >"$app/nuget.config" <<CONFIG
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <packageSources>
    <clear />
    <add key="local" value="$feed" />
  </packageSources>
</configuration>
CONFIG
(
  cd "$app"
  dotnet new console --name PackageConsumer --output . --no-restore >/dev/null
  cp "$root/tests/packages/Consumer.cs" Program.cs
  dotnet add package Proteus.Native --version "$version" --source "$feed" >/dev/null
  if grep -q ProjectReference PackageConsumer.csproj; then echo "FAIL: the app has a ProjectReference"; exit 1; fi
  dotnet build -c Release -v quiet -nologo
  dotnet bin/Release/net10.0/PackageConsumer.dll "$version"

  # Without the runtime package's library the resolver names what is missing, not a build command.
  rm bin/Release/net10.0/runtimes/linux-x64/native/libproteus.so
  if message=$(PROTEUS_NATIVE_PATH= dotnet bin/Release/net10.0/PackageConsumer.dll "$version" 2>&1); then
    echo "FAIL: the app ran without libproteus"; exit 1
  fi
  grep -m1 'DllNotFoundException' <<<"$message"
  grep -q 'The runtime package Proteus.Native.Runtime.linux-x64 is referenced but' <<<"$message" \
    || { echo "FAIL: the resolver's message does not name the runtime package:"; echo "$message"; exit 1; }
  if grep -q 'dotnet build' <<<"$message"; then echo "FAIL: the resolver tells a package user to build"; exit 1; fi
)

tools=$work/tools
dotnet tool install Proteus.Native.Cli --version "$version" --tool-path "$tools" --add-source "$feed" >/dev/null
"$tools/proteus" info
"$tools/proteus" bench --backend cpu --seq 256 --heads 2 --iterations 3
echo "packages: ok (Proteus.Native $version from a local feed, in a new console app and as the proteus tool)"
