#include "runtime/devices.h"

#include <string>

#include "core/error.h"
#include "core/log.h"

namespace proteus {
namespace {

struct CompiledBackend {
    proteus_backend kind;
    int32_t (*count)();
    proteus_status (*info)(int32_t ordinal, proteus_device_info& info);
    proteus_status (*create)(int32_t ordinal, void* stream, bool own_stream, std::unique_ptr<Backend>& instance);
};

const CompiledBackend compiled_list[] = {
    {PROTEUS_BACKEND_CPU, cpu_device_count, cpu_device_info, create_cpu_backend},
#if defined(PROTEUS_HAVE_GPU)
    {gpu_backend_kind(), gpu_device_count, gpu_device_info, create_gpu_backend},
#endif
};

const char* backend_name(int32_t backend)
{
    switch (backend) {
    case PROTEUS_BACKEND_CPU: return "CPU";
    case PROTEUS_BACKEND_CUDA: return "CUDA";
    case PROTEUS_BACKEND_HIP: return "HIP";
    default: return "unknown";
    }
}

bool is_backend(int32_t backend) { return backend >= PROTEUS_BACKEND_CPU && backend <= PROTEUS_BACKEND_HIP; }

proteus_status reject_unknown_backend(int32_t backend)
{
    return set_error(PROTEUS_STATUS_INVALID_ARGUMENT,
                     "backend " + std::to_string(backend) + " is not a proteus_backend", "backend");
}

const CompiledBackend* find_compiled(int32_t backend)
{
    for (const CompiledBackend& entry : compiled_list) {
        if (entry.kind == backend) return &entry;
    }
    return nullptr;
}

std::string compiled_names()
{
    std::string names;
    for (const CompiledBackend& entry : compiled_list) {
        names += names.empty() ? "" : ", ";
        names += backend_name(entry.kind);
    }
    return names;
}

/** The compiled backend that has device `ordinal`, or the error saying why there is none. */
proteus_status locate_device(int32_t backend, int32_t ordinal, const CompiledBackend*& found)
{
    if (!is_backend(backend)) return reject_unknown_backend(backend);
    found = find_compiled(backend);
    if (found == nullptr) {
        return set_error(PROTEUS_STATUS_BACKEND_UNAVAILABLE,
                         std::string("backend ") + backend_name(backend) +
                             " is not compiled into this build (it has: " + compiled_names() + ")",
                         "backend");
    }
    if (ordinal < 0) {
        return set_error(PROTEUS_STATUS_INVALID_ARGUMENT, "ordinal " + std::to_string(ordinal) + " is negative",
                         "ordinal");
    }
    const int32_t count = found->count();
    if (ordinal >= count) {
        return set_error(PROTEUS_STATUS_BACKEND_UNAVAILABLE,
                         std::string("backend ") + backend_name(backend) + " has " + std::to_string(count) +
                             " device(s); there is no ordinal " + std::to_string(ordinal),
                         "ordinal");
    }
    return PROTEUS_STATUS_OK;
}

}  // namespace

uint32_t compiled_backends()
{
    uint32_t mask = 0;
    for (const CompiledBackend& entry : compiled_list) mask |= 1u << entry.kind;
    return mask;
}

proteus_status device_count(int32_t backend, int32_t& count)
{
    if (!is_backend(backend)) return reject_unknown_backend(backend);
    const CompiledBackend* entry = find_compiled(backend);
    count = entry != nullptr ? entry->count() : 0;
    return PROTEUS_STATUS_OK;
}

proteus_status device_info(int32_t backend, int32_t ordinal, proteus_device_info& info)
{
    const CompiledBackend* entry = nullptr;
    const proteus_status status = locate_device(backend, ordinal, entry);
    return status != PROTEUS_STATUS_OK ? status : entry->info(ordinal, info);
}

proteus_status create_backend(int32_t backend, int32_t ordinal, void* stream, bool own_stream,
                              std::unique_ptr<Backend>& instance)
{
    const CompiledBackend* entry = nullptr;
    proteus_status status = locate_device(backend, ordinal, entry);
    if (status == PROTEUS_STATUS_OK) status = entry->create(ordinal, stream, own_stream, instance);
    if (status == PROTEUS_STATUS_OK && log_enabled(PROTEUS_LOG_DEBUG)) {
        proteus_device_info info{};
        info.struct_size = sizeof info;
        if (instance->describe(info) == PROTEUS_STATUS_OK) {
            log_message(PROTEUS_LOG_DEBUG, std::string("context opened on ") + info.name + " (" + info.architecture +
                                               (stream != nullptr ? ", the caller's stream)" : ")"));
        }
    }
    return status;
}

}  // namespace proteus
