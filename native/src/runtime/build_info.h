// What proteus_get_build_info reports: the version, the backends compiled in, the GPU runtime and
// driver versions, and what the build recorded about itself (cmake/ProteusBuildInfo.cmake writes
// proteus_build_info.g.h at build time: source revision, kernel source hash, architectures, compiler).
#pragma once

#include "proteus/proteus.h"

namespace proteus {

/** Fills every field after struct_size. */
void describe_build(proteus_build_info& info);

}  // namespace proteus
