// gpu/hopper/flux_wgmma.h for builds without the Hopper kernel (a CUDA compiler before 12, sm_90 not
// among the architectures, or HIP): it refuses every problem.
#include "gpu/hopper/flux_wgmma.h"

#include "core/error.h"

namespace proteus::gpu {

bool wgmma_kernel_built() { return false; }

std::string wgmma_kernel_refusal(const FluxProblem&, const DeviceTraits&)
{
    return "this build has no Hopper kernel (it needs a CUDA 12 or newer compiler and sm_90 among the architectures)";
}

int64_t wgmma_query_rows(const FluxProblem&) { return 128; }

proteus_status launch_flux_wgmma(const FluxProblem&, const TileDna&, const DeviceTraits&, StreamWorkspace&, cudaStream_t)
{
    return set_error(PROTEUS_STATUS_BACKEND_UNAVAILABLE, "this build has no Hopper kernel");
}

}  // namespace proteus::gpu
