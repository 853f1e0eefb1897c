// The GPU dispatch (gpu/flux_dispatch.h): pure functions of the problem and the device's traits.
#include "gpu/flux_dispatch.h"

#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/error.h"
#include "gpu/device_call.h"
#include "gpu/flux_explicit.h"
#include "gpu/flux_kernel.h"
#include "gpu/flux_row_mode.h"
#include "gpu/flux_tile_kernel.h"
#include "gpu/hopper/flux_wgmma.h"

namespace proteus::gpu {
namespace {

proteus_status reject(const char* field, const std::string& message)
{
    return set_error(PROTEUS_STATUS_INVALID_ARGUMENT, std::string(field) + ": " + message, field);
}

proteus_launch_config config_of(proteus_launch_mode mode)
{
    proteus_launch_config config{};
    config.struct_size = sizeof config;
    config.mode = mode;
    return config;
}

proteus_launch_config config_of(proteus_launch_mode mode, const TileLaunch& tile)
{
    proteus_launch_config config = config_of(mode);
    config.block_q = tile.block_q;
    config.block_k = tile.block_k;
    config.rows_per_warp = tile.rows_per_warp();
    config.stages = tile.stages;
    return config;
}

bool same_launch(const proteus_launch_config& a, const proteus_launch_config& b)
{
    return a.mode == b.mode && a.block_q == b.block_q && a.block_k == b.block_k && a.rows_per_warp == b.rows_per_warp &&
           a.stages == b.stages;
}

/** OK when `config` sets no tile-kernel field; else INVALID_ARGUMENT naming the first it sets. */
/** The first tile-kernel field `config` sets (non-zero) and its value; null when it sets none. */
const char* first_tile_field(const proteus_launch_config& config, int32_t& value)
{
    const struct {
        const char* name;
        int32_t value;
    } fields[] = {{"launch.block_q", config.block_q},
                  {"launch.block_k", config.block_k},
                  {"launch.rows_per_warp", config.rows_per_warp},
                  {"launch.stages", config.stages}};
    for (const auto& field : fields) {
        if (field.value != 0) {
            value = field.value;
            return field.name;
        }
    }
    return nullptr;
}

proteus_status check_no_tile_fields(const proteus_launch_config& config, const std::string& kernel)
{
    int32_t value = 0;
    if (const char* field = first_tile_field(config, value)) {
        return reject(field, std::to_string(value) + " configures the tile kernel, but " + kernel +
                                 " runs this problem, which has no such field: leave it 0");
    }
    return PROTEUS_STATUS_OK;
}

/** OK when the general row kernel computes `problem`; else its status. */
proteus_status check_row_kernel(const FluxProblem& problem)
{
    const proteus_dtype dtype = problem.q.dtype;
    if (dtype != PROTEUS_DTYPE_FLOAT32 && dtype != PROTEUS_DTYPE_FLOAT16 && dtype != PROTEUS_DTYPE_BFLOAT16) {
        return set_error(PROTEUS_STATUS_UNSUPPORTED_DTYPE,
                         "flux attention takes float32, float16 or bfloat16, not dtype " + std::to_string(dtype), "q.dtype");
    }
    if (problem.head_dim > kRowKernelMaxHeadDim) {
        return set_error(PROTEUS_STATUS_UNSUPPORTED_HEAD_DIM,
                         "the GPU row kernel supports head dims up to " + std::to_string(kRowKernelMaxHeadDim) + ", not " +
                             std::to_string(problem.head_dim),
                         "q.shape");
    }
    return PROTEUS_STATUS_OK;
}

proteus_status plan_tile(const FluxProblem& problem, const DeviceTraits& traits, proteus_flux_kernel kernel,
                         proteus_launch_mode mode, FluxPlan& plan)
{
    TileLaunch tile;
    const proteus_status status =
        resolve_tile_launch(problem, problem.launch, traits.multiprocessors, traits.shared_limit, tile);
    if (status != PROTEUS_STATUS_OK) return status;
    plan.kernel = kernel;
    plan.launch = config_of(mode, tile);
    return PROTEUS_STATUS_OK;
}

/** The explicit-list kernel, the one kernel of the explicit policy (AUTO only: it has no launch fields). */
proteus_status plan_explicit(const FluxProblem& problem, FluxPlan& plan)
{
    const std::string refusal = explicit_kernel_refusal(problem);
    if (!refusal.empty()) return set_error(PROTEUS_STATUS_UNSUPPORTED_HEAD_DIM, refusal, "q.shape");
    const proteus_status status = check_no_tile_fields(problem.launch, "the explicit-list kernel");
    if (status != PROTEUS_STATUS_OK) return status;
    plan.kernel = PROTEUS_KERNEL_GPU_EXPLICIT;
    plan.launch = config_of(PROTEUS_LAUNCH_AUTO);
    return PROTEUS_STATUS_OK;
}

/**
 * Whether the tile kernel computes `problem` on this device: it takes the problem and some launch of
 * it fits the device's shared memory (D 256 does not fit the 64 KiB of a HIP block).
 */
bool tile_kernel_runs(const FluxProblem& problem, const DeviceTraits& traits)
{
    return tile_kernel_takes(problem) && tile_launch_fits(problem, traits.shared_limit);
}

/** AUTO (see gpu/flux_dispatch.h). */
proteus_status plan_auto(const FluxProblem& problem, const DeviceTraits& traits, FluxPlan& plan)
{
    if (problem.candidates.policy == PROTEUS_POLICY_EXPLICIT) return plan_explicit(problem, plan);
    const bool masked = problem.active.present();
    const bool row_mode = row_mode_takes(problem);
    // The caller's hint on the mask's density settles what the device would count: under a quarter of
    // the rows, the row mode alone (no tile launch behind a gate); a quarter or more, the tile kernel alone.
    const bool sparse = masked && row_mode && problem.active_hint == ActiveHint::kSparse;
    // With a mask the row mode may be the faster one; without a hint the device counts the active rows and picks.
    const bool choose = masked && row_mode && problem.active_hint != ActiveHint::kDense;
    // The Hopper kernel where it takes the problem (its head dims include some the tile kernel lacks), unless a
    // tile field asks for the tile kernel or the row mode may be the better one. DNA keys included since
    // version 3 (its list entries arrive by the bulk copy engine; racecheck clean; 13.8 against the tile
    // kernel's 16.3 ms on the issue's 1M DNA case, NOTES.md).
    int32_t value = 0;
    if (!sparse && !choose && traits.wgmma_auto && first_tile_field(problem.launch, value) == nullptr &&
        wgmma_kernel_refusal(problem, traits).empty()) {
        plan.kernel = PROTEUS_KERNEL_GPU_TILE_WGMMA;
        plan.launch = config_of(PROTEUS_LAUNCH_TILE_WGMMA);
        return PROTEUS_STATUS_OK;
    }
    if (tile_kernel_runs(problem, traits) && !sparse) {
        return choose ? plan_tile(problem, traits, PROTEUS_KERNEL_GPU_TILE_OR_ROW_MODE, PROTEUS_LAUNCH_AUTO, plan)
                      : plan_tile(problem, traits, PROTEUS_KERNEL_GPU_TILE, PROTEUS_LAUNCH_TILE, plan);
    }
    if (masked && row_mode) {
        const proteus_status status = check_no_tile_fields(problem.launch, "the row mode (AUTO's choice)");
        if (status != PROTEUS_STATUS_OK) return status;
        plan.kernel = PROTEUS_KERNEL_GPU_ROW_MODE;
        plan.launch = config_of(PROTEUS_LAUNCH_ROW);
        return PROTEUS_STATUS_OK;
    }
    proteus_status status = check_row_kernel(problem);
    if (status == PROTEUS_STATUS_OK) status = check_no_tile_fields(problem.launch, "the general row kernel (AUTO's choice)");
    if (status != PROTEUS_STATUS_OK) return status;
    plan.kernel = PROTEUS_KERNEL_GPU_ROW;
    plan.launch = config_of(PROTEUS_LAUNCH_AUTO);
    return PROTEUS_STATUS_OK;
}

}  // namespace

proteus_status query_device_traits(int device, DeviceTraits& traits)
{
    int major = 0;
    int minor = 0;
    PROTEUS_GPU_CHECK(cudaDeviceGetAttribute(&traits.multiprocessors, cudaDevAttrMultiProcessorCount, device),
                      "DeviceGetAttribute");
    PROTEUS_GPU_CHECK(cudaDeviceGetAttribute(&traits.shared_limit, cudaDevAttrMaxSharedMemoryPerBlockOptin, device),
                      "DeviceGetAttribute");
    PROTEUS_GPU_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device), "DeviceGetAttribute");
    PROTEUS_GPU_CHECK(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device), "DeviceGetAttribute");
    traits.arch = 10 * major + minor;
    int l2_bytes = 0;
    PROTEUS_GPU_CHECK(cudaDeviceGetAttribute(&l2_bytes, cudaDevAttrL2CacheSize, device), "DeviceGetAttribute");
    traits.l2_bytes = l2_bytes > 0 ? l2_bytes : 0;
    const char* tile_kernel = std::getenv("PROTEUS_GPU_TILE_KERNEL");
    traits.wgmma_auto =
        wgmma_kernel_built() && traits.arch == 90 && (tile_kernel == nullptr || std::string(tile_kernel) != "mma");
    return PROTEUS_STATUS_OK;
}

TileLaunch tile_launch_of(const proteus_launch_config& launch)
{
    return {launch.block_q, launch.block_k, launch.stages, launch.rows_per_warp / 16};
}

proteus_status plan_flux(const FluxProblem& problem, const DeviceTraits& traits, FluxPlan& plan)
{
    plan = FluxPlan{};
    plan.launch = config_of(PROTEUS_LAUNCH_AUTO);
    // DNA lists, Seed scratch and the tile kernel hold positions as int32.
    if (problem.seq_len > INT32_MAX) {
        return set_error(PROTEUS_STATUS_INVALID_ARGUMENT,
                         "the GPU backend supports sequences up to 2^31 - 1 keys, not " + std::to_string(problem.seq_len),
                         "k.shape");
    }
    proteus_status status = PROTEUS_STATUS_OK;
    switch (problem.launch.mode) {
    case PROTEUS_LAUNCH_AUTO: status = plan_auto(problem, traits, plan); break;
    case PROTEUS_LAUNCH_TILE: {
        const std::string refusal = tile_kernel_refusal(problem);
        if (!refusal.empty()) return reject("launch.mode", "TILE cannot run this problem: " + refusal);
        status = plan_tile(problem, traits, PROTEUS_KERNEL_GPU_TILE, PROTEUS_LAUNCH_TILE, plan);
        break;
    }
    case PROTEUS_LAUNCH_ROW: {
        const std::string refusal = row_mode_refusal(problem);
        if (!refusal.empty()) return reject("launch.mode", "ROW cannot run this problem: " + refusal);
        status = check_no_tile_fields(problem.launch, "the row mode (launch.mode ROW)");
        plan.kernel = PROTEUS_KERNEL_GPU_ROW_MODE;
        plan.launch = config_of(PROTEUS_LAUNCH_ROW);
        break;
    }
    case PROTEUS_LAUNCH_TILE_WGMMA: {
        const std::string refusal = wgmma_kernel_refusal(problem, traits);
        if (!refusal.empty()) return reject("launch.mode", "TILE_WGMMA cannot run this problem: " + refusal);
        status = check_no_tile_fields(problem.launch, "the Hopper kernel (launch.mode TILE_WGMMA)");
        plan.kernel = PROTEUS_KERNEL_GPU_TILE_WGMMA;
        plan.launch = config_of(PROTEUS_LAUNCH_TILE_WGMMA);
        break;
    }
    case PROTEUS_LAUNCH_REFERENCE:
        return reject("launch.mode",
                      "REFERENCE is the CPU backend's reference kernel; the GPU backends run AUTO, TILE, ROW or TILE_WGMMA");
    default:
        return reject("launch.mode", "AUTO (0), TILE (1), ROW (2) or TILE_WGMMA (4), not " + std::to_string(problem.launch.mode));
    }
    if (status != PROTEUS_STATUS_OK) return status;
    if (problem.batch * problem.heads * problem.query_len == 0) {  // checked, and nothing to run
        plan.kernel = PROTEUS_KERNEL_NONE;
        plan.launch = config_of(PROTEUS_LAUNCH_AUTO);
    }
    return PROTEUS_STATUS_OK;
}

proteus_status flux_launch_candidates(const FluxProblem& problem, const DeviceTraits& traits,
                                      std::vector<proteus_launch_config>& configs)
{
    configs.clear();
    FluxProblem heuristic = problem;
    heuristic.launch = config_of(PROTEUS_LAUNCH_AUTO);
    FluxPlan plan;
    const proteus_status status = plan_flux(heuristic, traits, plan);
    if (status != PROTEUS_STATUS_OK) return status;
    configs.push_back(plan.launch);
    const auto offer = [&configs](const proteus_launch_config& config) {
        if (!same_launch(config, configs.front())) configs.push_back(config);
    };
    if (tile_kernel_takes(problem)) {
        for (const TileLaunch& tile : tile_launch_options(problem, traits.shared_limit)) {
            offer(config_of(PROTEUS_LAUNCH_TILE, tile));
        }
    }
    if (row_mode_takes(problem)) offer(config_of(PROTEUS_LAUNCH_ROW));
    // The Hopper kernel joins the tuner's search where AUTO may run it.
    if (traits.wgmma_auto && wgmma_kernel_refusal(problem, traits).empty()) offer(config_of(PROTEUS_LAUNCH_TILE_WGMMA));
    return PROTEUS_STATUS_OK;
}

}  // namespace proteus::gpu
