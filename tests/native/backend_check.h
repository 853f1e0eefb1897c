// What the native programs that drive a backend directly share (cpu_backend_check.cpp, layer_ops_check.cpp,
// cpu_flux_timing.cpp): the CHECK macro that counts checks and failures, and workspace straight from a
// backend's pool.
#pragma once

#include <cstdint>
#include <cstdio>

#include "backend.h"

inline int failures = 0;
inline int checks = 0;

#define CHECK(condition, ...)                                                                            \
    do {                                                                                                 \
        ++checks;                                                                                        \
        if (!(condition)) {                                                                              \
            ++failures;                                                                                  \
            std::fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #condition);          \
            std::fprintf(stderr, __VA_ARGS__);                                                           \
            std::fprintf(stderr, "\n");                                                                  \
        }                                                                                                \
    } while (0)

/** Workspace straight from the backend's pool, as the runtime's Workspace passes it through. */
class BackendWorkspace final : public proteus::Allocator {
public:
    explicit BackendWorkspace(proteus::Backend& backend) : backend_(backend) {}
    proteus_status allocate(uint64_t bytes, void** pointer) override { return backend_.allocate_workspace(bytes, pointer); }
    void release(void* pointer) noexcept override { backend_.release_workspace(pointer); }

private:
    proteus::Backend& backend_;
};
