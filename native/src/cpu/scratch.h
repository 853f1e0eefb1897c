// Workspace memory for one CPU kernel call, released when the call ends.
#pragma once

#include <cstdint>

#include "backend.h"

namespace proteus::cpu {

/** Workspace memory held for the duration of one call. */
class ScratchBlock {
public:
    explicit ScratchBlock(Allocator& workspace) : workspace_(workspace) {}
    ~ScratchBlock() { workspace_.release(data_); }
    ScratchBlock(const ScratchBlock&) = delete;
    ScratchBlock& operator=(const ScratchBlock&) = delete;

    proteus_status allocate(uint64_t floats)
    {
        void* data = nullptr;
        const proteus_status status = workspace_.allocate(floats * sizeof(float), &data);
        data_ = static_cast<float*>(data);
        return status;
    }

    float* data() const { return data_; }

private:
    Allocator& workspace_;
    float* data_ = nullptr;
};

}  // namespace proteus::cpu
