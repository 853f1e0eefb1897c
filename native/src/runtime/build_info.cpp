#include "runtime/build_info.h"

#include <algorithm>
#include <cstring>

#include "backend.h"
#include "proteus_build_info.g.h"  // generated into the build tree at build time
#include "runtime/devices.h"

namespace proteus {
namespace {

template <size_t Capacity>
void copy_text(char (&destination)[Capacity], const char* text)
{
    const size_t length = std::min(std::strlen(text), Capacity - 1);
    std::memcpy(destination, text, length);
    std::memset(destination + length, 0, Capacity - length);
}

}  // namespace

void describe_build(proteus_build_info& info)
{
    info.version_major = PROTEUS_VERSION_MAJOR;
    info.version_minor = PROTEUS_VERSION_MINOR;
    info.version_patch = PROTEUS_VERSION_PATCH;
    info.compiled_backends = compiled_backends();
    info.gpu_backend = PROTEUS_BACKEND_CPU;
    info.gpu_runtime_version = 0;
    info.gpu_driver_version = 0;
#if defined(PROTEUS_HAVE_GPU)
    info.gpu_backend = gpu_backend_kind();
    gpu_versions(info.gpu_runtime_version, info.gpu_driver_version);
#endif
    copy_text(info.source_revision, PROTEUS_BUILD_SOURCE_REVISION);
    copy_text(info.kernel_source_hash, PROTEUS_BUILD_KERNEL_SOURCE_HASH);
    copy_text(info.gpu_architectures, PROTEUS_BUILD_GPU_ARCHITECTURES);
    copy_text(info.compiler, PROTEUS_BUILD_COMPILER);
}

}  // namespace proteus
