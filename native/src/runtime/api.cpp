// The C ABI. Each exported function is a shell: it resolves handles through the registry, validates
// what the caller passed, hands the work to a context or backend, and turns every exception into a
// status so that none crosses the ABI.
#include <algorithm>
#include <climits>
#include <cstring>
#include <exception>
#include <new>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/log.h"
#include "core/explicit_lists.h"
#include "core/shortlist.h"
#include "proteus/proteus.h"
#include "runtime/build_info.h"
#include "runtime/context.h"
#include "runtime/devices.h"
#include "runtime/layer_validation.h"
#include "runtime/registry.h"
#include "runtime/validation.h"
#include "runtime/versioned.h"

using namespace proteus;

namespace {

/** The status of the exception being handled; called from a catch block. */
proteus_status report_exception(const char* function) noexcept
{
    try {
        try {
            throw;
        } catch (const std::bad_alloc&) {
            return set_out_of_memory(std::string(function) + ": host memory ran out", 0, 0);
        } catch (const std::exception& error) {
            return set_error(PROTEUS_STATUS_INTERNAL_ERROR, std::string(function) + ": " + error.what());
        } catch (...) {
            return set_error(PROTEUS_STATUS_INTERNAL_ERROR, std::string(function) + ": unknown exception");
        }
    } catch (...) {
        return PROTEUS_STATUS_OUT_OF_MEMORY;  // not even the message could be allocated
    }
}

template <typename Body>
proteus_status guarded(const char* function, Body&& body) noexcept
{
    try {
        return body();
    } catch (...) {
        return report_exception(function);
    }
}

proteus_status find_live(proteus_context handle, std::shared_ptr<Context>& context)
{
    context = find_context(handle);
    return context != nullptr ? PROTEUS_STATUS_OK : reject_dead_handle("context", "context");
}

proteus_status find_live(proteus_buffer handle, const char* argument, std::shared_ptr<Buffer>& buffer)
{
    buffer = find_buffer(handle);
    return buffer != nullptr ? PROTEUS_STATUS_OK : reject_dead_handle(argument, "buffer");
}

char* address(const Buffer& buffer, uint64_t offset) { return static_cast<char*>(buffer.data()) + offset; }

/**
 * The salience values [0, count) of one batch row, copied to the host (empty when the budgets take no
 * DNA). The row is contiguous: salience's last axis has stride 1.
 */
proteus_status download_salience_prefix(Context& context, const CheckedTensor& salience, int64_t batch, int64_t count,
                                        std::vector<float>& row)
{
    if (!salience.present() || count <= 0) return PROTEUS_STATUS_OK;
    row.resize(static_cast<size_t>(count));
    const float* device_row = static_cast<const float*>(salience.ref.data) + batch * salience.ref.strides[0];
    return context.backend().download(row.data(), device_row, static_cast<uint64_t>(count) * sizeof(float));
}

/**
 * The int32 elements a tensor spans, from its element [0, …] (empty when absent), copied to the host;
 * waits for the stream. Read them through the tensor's strides.
 */
proteus_status download_span(Context& context, const TensorRef& tensor, std::vector<int32_t>& host)
{
    host.clear();
    if (!tensor.present()) return PROTEUS_STATUS_OK;
    int64_t last = 0;  // the element offset of the last element
    for (int axis = 0; axis < tensor.rank; ++axis) last += (tensor.shape[axis] - 1) * tensor.strides[axis];
    host.resize(static_cast<size_t>(last + 1));
    return context.backend().download(host.data(), tensor.data, host.size() * sizeof(int32_t));
}

/** Registers a buffer made on `context` (the handle); INVALID_HANDLE when the context was destroyed meanwhile. */
proteus_status publish_buffer(proteus_context context, std::shared_ptr<Buffer>& created, proteus_buffer* buffer)
{
    *buffer = register_buffer(context, created);
    return *buffer != nullptr ? PROTEUS_STATUS_OK : reject_dead_handle("context", "context");
}

/** A validated flux call: the problem, the buffers it addresses, the live context. */
struct FluxCall {
    std::shared_ptr<Context> context;
    FluxProblem problem;
    BufferLease lease;
};

proteus_status check_flux(proteus_context context, const proteus_flux_tensors* tensors,
                          const proteus_flux_params* params, const proteus_launch_config* launch, FluxCall& call)
{
    const proteus_status status = find_live(context, call.context);
    return status != PROTEUS_STATUS_OK ? status
                                       : check_flux_call(*call.context, tensors, params, launch, call.problem, call.lease);
}

/** Queues one validated flux call as planned; `workspace_bytes` receives the workspace it took. */
proteus_status run_flux(FluxCall& call, const FluxPlan& plan, uint64_t& workspace_bytes)
{
    Workspace workspace(*call.context);
    const proteus_status status = call.context->backend().flux_attention(call.problem, plan, workspace);
    workspace_bytes = workspace.taken_bytes();
    return status;
}

/** Writes what a flux call ran into the caller's run info (nothing when it passed none). */
void report_run(const FluxCall& call, const FluxPlan& plan, uint64_t workspace_bytes, Output<proteus_flux_run_info>& out)
{
    proteus_flux_run_info& info = out.value();
    info.kernel = plan.kernel;
    info.launch = plan.launch;
    info.launch.struct_size = sizeof info.launch;
    info.query_offset = call.problem.query_offset;
    info.workspace_bytes = workspace_bytes;
    out.write();
}

/**
 * proteus_flux_time's cache flush: a scratch buffer of `bytes` on the context (none when 0), written
 * before each timed run on the stream. Each write takes another byte so that no layer of the memory
 * system can skip it as a repeat.
 */
class FlushBuffer {
public:
    FlushBuffer(Context& context, uint64_t bytes) : context_(context), bytes_(bytes)
    {
        if (bytes_ > 0) status_ = context_.allocate(bytes_, &data_);
    }
    ~FlushBuffer()
    {
        if (data_ != nullptr) context_.release(data_, bytes_);
    }
    FlushBuffer(const FlushBuffer&) = delete;
    FlushBuffer& operator=(const FlushBuffer&) = delete;

    proteus_status status() const { return status_; }

    proteus_status write(int32_t run)
    {
        if (data_ == nullptr) return PROTEUS_STATUS_OK;
        const unsigned char pattern = static_cast<unsigned char>(run);
        return context_.backend().fill(data_, bytes_, &pattern, 1);
    }

private:
    Context& context_;
    const uint64_t bytes_;
    void* data_ = nullptr;
    proteus_status status_ = PROTEUS_STATUS_OK;
};

/** Runs a validated layer operation: a backend method that takes a workspace gets one counted on the context. */
template <typename Problem>
proteus_status dispatch(Context& context, proteus_status (Backend::*method)(const Problem&, Allocator&),
                        const Problem& problem)
{
    Workspace workspace(context);
    return (context.backend().*method)(problem, workspace);
}

template <typename Problem>
proteus_status dispatch(Context& context, proteus_status (Backend::*method)(const Problem&), const Problem& problem)
{
    return (context.backend().*method)(problem);
}

/**
 * A layer operation: the live context, then `check(context, problem, lease)` validates every argument
 * before any work, then the backend's `method` runs with the buffers held.
 */
template <typename Problem, typename Method, typename Check>
proteus_status run_layer(proteus_context handle, Method method, Check&& check)
{
    std::shared_ptr<Context> context;
    Problem problem;
    BufferLease lease;
    proteus_status status = find_live(handle, context);
    if (status == PROTEUS_STATUS_OK) status = check(*context, problem, lease);
    return status != PROTEUS_STATUS_OK ? status : dispatch<Problem>(*context, method, problem);
}

}  // namespace

extern "C" {

// ---- Library and errors --------------------------------------------------------------------------

PROTEUS_API proteus_status proteus_get_version(int32_t* major, int32_t* minor, int32_t* patch)
{
    if (major != nullptr) *major = PROTEUS_VERSION_MAJOR;
    if (minor != nullptr) *minor = PROTEUS_VERSION_MINOR;
    if (patch != nullptr) *patch = PROTEUS_VERSION_PATCH;
    return PROTEUS_STATUS_OK;
}

PROTEUS_API proteus_status proteus_get_compiled_backends(uint32_t* mask)
{
    return guarded(__func__, [&] {
        const proteus_status status = check_not_null(mask, "mask");
        if (status == PROTEUS_STATUS_OK) *mask = compiled_backends();
        return status;
    });
}

PROTEUS_API const char* proteus_last_error_message(void) { return last_error_message(); }

PROTEUS_API proteus_status proteus_set_log_callback(proteus_log_callback callback, void* user_data, int32_t min_level)
{
    return guarded(__func__, [&] {
        if (min_level < PROTEUS_LOG_DEBUG || min_level > PROTEUS_LOG_NONE) {
            return set_error(PROTEUS_STATUS_INVALID_ARGUMENT,
                             "min_level: " + std::to_string(min_level) + " is not a proteus_log_level", "min_level");
        }
        set_log_callback(callback, user_data, static_cast<proteus_log_level>(min_level));
        return PROTEUS_STATUS_OK;
    });
}

PROTEUS_API proteus_status proteus_last_error_info(proteus_error_info* info)
{
    return guarded(__func__, [&] {
        Output<proteus_error_info> out(info, PROTEUS_ERROR_INFO_SIZE_V0_1, "info");
        if (out.status() != PROTEUS_STATUS_OK) return out.status();
        last_error_info(out.value());
        out.write();
        return PROTEUS_STATUS_OK;
    });
}

// ---- Devices and contexts ------------------------------------------------------------------------

PROTEUS_API proteus_status proteus_device_count(int32_t backend, int32_t* count)
{
    return guarded(__func__, [&] {
        const proteus_status status = check_not_null(count, "count");
        return status != PROTEUS_STATUS_OK ? status : device_count(backend, *count);
    });
}

PROTEUS_API proteus_status proteus_get_build_info(proteus_build_info* info)
{
    return guarded(__func__, [&] {
        Output<proteus_build_info> out(info, PROTEUS_BUILD_INFO_SIZE_V0_2, "info");
        if (out.status() != PROTEUS_STATUS_OK) return out.status();
        describe_build(out.value());
        out.write();
        return PROTEUS_STATUS_OK;
    });
}

PROTEUS_API proteus_status proteus_device_get_info(int32_t backend, int32_t ordinal, proteus_device_info* info)
{
    return guarded(__func__, [&] {
        Output<proteus_device_info> out(info, PROTEUS_DEVICE_INFO_SIZE_V0_1, "info");
        proteus_status status = out.status();
        if (status == PROTEUS_STATUS_OK) status = device_info(backend, ordinal, out.value());
        if (status == PROTEUS_STATUS_OK) out.write();
        return status;
    });
}

PROTEUS_API proteus_status proteus_context_create(int32_t backend, int32_t ordinal, proteus_context* context)
{
    return guarded(__func__, [&] {
        proteus_status status = check_not_null(context, "context");
        if (status != PROTEUS_STATUS_OK) return status;
        *context = nullptr;
        std::unique_ptr<Backend> instance;
        status = create_backend(backend, ordinal, nullptr, true, instance);
        if (status != PROTEUS_STATUS_OK) return status;
        *context = register_context(std::make_shared<Context>(std::move(instance)));
        return PROTEUS_STATUS_OK;
    });
}

PROTEUS_API proteus_status proteus_context_create_on_stream(int32_t backend, int32_t ordinal, void* stream,
                                                            proteus_context* context)
{
    return guarded(__func__, [&] {
        proteus_status status = check_not_null(context, "context");
        if (status != PROTEUS_STATUS_OK) return status;
        *context = nullptr;
        std::unique_ptr<Backend> instance;
        status = create_backend(backend, ordinal, stream, false, instance);
        if (status != PROTEUS_STATUS_OK) return status;
        *context = register_context(std::make_shared<Context>(std::move(instance)));
        return PROTEUS_STATUS_OK;
    });
}

PROTEUS_API proteus_status proteus_context_destroy(proteus_context context)
{
    return guarded(__func__, [&] {
        RemovedContext removed = unregister_context(context);
        if (removed.context == nullptr) return reject_dead_handle("context", "context");
        // Freed even when the wait fails: the handle is gone either way, and the error is reported.
        return removed.context->backend().synchronize();
    });
}

PROTEUS_API proteus_status proteus_context_get_info(proteus_context context, proteus_device_info* info)
{
    return guarded(__func__, [&] {
        std::shared_ptr<Context> live;
        proteus_status status = find_live(context, live);
        Output<proteus_device_info> out(info, PROTEUS_DEVICE_INFO_SIZE_V0_1, "info");
        if (status == PROTEUS_STATUS_OK) status = out.status();
        if (status == PROTEUS_STATUS_OK) status = live->backend().describe(out.value());
        if (status == PROTEUS_STATUS_OK) out.write();
        return status;
    });
}

PROTEUS_API proteus_status proteus_context_synchronize(proteus_context context)
{
    return guarded(__func__, [&] {
        std::shared_ptr<Context> live;
        const proteus_status status = find_live(context, live);
        return status != PROTEUS_STATUS_OK ? status : live->backend().synchronize();
    });
}

PROTEUS_API proteus_status proteus_context_memory(proteus_context context, proteus_memory_stats* stats)
{
    return guarded(__func__, [&] {
        std::shared_ptr<Context> live;
        proteus_status status = find_live(context, live);
        Output<proteus_memory_stats> out(stats, PROTEUS_MEMORY_STATS_SIZE_V0_1, "stats");
        if (status == PROTEUS_STATUS_OK) status = out.status();
        if (status == PROTEUS_STATUS_OK) status = live->memory(out.value());
        if (status == PROTEUS_STATUS_OK) out.write();
        return status;
    });
}

PROTEUS_API proteus_status proteus_context_reset_peak(proteus_context context)
{
    return guarded(__func__, [&] {
        std::shared_ptr<Context> live;
        const proteus_status status = find_live(context, live);
        if (status == PROTEUS_STATUS_OK) live->reset_peak();
        return status;
    });
}

PROTEUS_API proteus_status proteus_context_set_memory_limit(proteus_context context, uint64_t limit_bytes)
{
    return guarded(__func__, [&] {
        std::shared_ptr<Context> live;
        const proteus_status status = find_live(context, live);
        if (status == PROTEUS_STATUS_OK) live->set_memory_limit(limit_bytes);
        return status;
    });
}

// ---- Buffers -------------------------------------------------------------------------------------

PROTEUS_API proteus_status proteus_buffer_create(proteus_context context, uint64_t bytes, proteus_buffer* buffer)
{
    return guarded(__func__, [&] {
        std::shared_ptr<Context> live;
        proteus_status status = find_live(context, live);
        if (status == PROTEUS_STATUS_OK) status = check_not_null(buffer, "buffer");
        if (status != PROTEUS_STATUS_OK) return status;
        *buffer = nullptr;
        status = check_buffer_size(bytes);
        if (status != PROTEUS_STATUS_OK) return status;
        std::shared_ptr<Buffer> created;
        status = create_buffer(live, bytes, created);
        return status != PROTEUS_STATUS_OK ? status : publish_buffer(context, created, buffer);
    });
}

PROTEUS_API proteus_status proteus_buffer_wrap(proteus_context context, void* pointer, uint64_t bytes,
                                               proteus_buffer* buffer)
{
    return guarded(__func__, [&] {
        std::shared_ptr<Context> live;
        proteus_status status = find_live(context, live);
        if (status == PROTEUS_STATUS_OK) status = check_not_null(buffer, "buffer");
        if (status != PROTEUS_STATUS_OK) return status;
        *buffer = nullptr;
        status = check_wrap_range(pointer, bytes);
        std::shared_ptr<Buffer> wrapped;
        if (status == PROTEUS_STATUS_OK) status = wrap_buffer(live, pointer, bytes, wrapped);
        return status != PROTEUS_STATUS_OK ? status : publish_buffer(context, wrapped, buffer);
    });
}

PROTEUS_API proteus_status proteus_buffer_destroy(proteus_buffer buffer)
{
    return guarded(__func__, [&] {
        if (unregister_buffer(buffer) != nullptr) return PROTEUS_STATUS_OK;  // freed once no call uses it
        return reject_dead_handle("buffer", "buffer");
    });
}

PROTEUS_API proteus_status proteus_buffer_size(proteus_buffer buffer, uint64_t* bytes)
{
    return guarded(__func__, [&] {
        std::shared_ptr<Buffer> live;
        proteus_status status = find_live(buffer, "buffer", live);
        if (status == PROTEUS_STATUS_OK) status = check_not_null(bytes, "bytes");
        if (status == PROTEUS_STATUS_OK) *bytes = live->bytes();
        return status;
    });
}

PROTEUS_API proteus_status proteus_buffer_device_pointer(proteus_buffer buffer, void** pointer)
{
    return guarded(__func__, [&] {
        std::shared_ptr<Buffer> live;
        proteus_status status = find_live(buffer, "buffer", live);
        if (status == PROTEUS_STATUS_OK) status = check_not_null(pointer, "pointer");
        if (status == PROTEUS_STATUS_OK) *pointer = live->data();
        return status;
    });
}

PROTEUS_API proteus_status proteus_buffer_upload(proteus_buffer buffer, uint64_t offset, const void* source,
                                                 uint64_t bytes)
{
    return guarded(__func__, [&] {
        std::shared_ptr<Buffer> live;
        proteus_status status = find_live(buffer, "buffer", live);
        if (status == PROTEUS_STATUS_OK) status = check_transfer(*live, offset, source, bytes, "source");
        if (status != PROTEUS_STATUS_OK || bytes == 0) return status;
        return live->context()->backend().upload(address(*live, offset), source, bytes);
    });
}

PROTEUS_API proteus_status proteus_buffer_download(proteus_buffer buffer, uint64_t offset, void* destination,
                                                   uint64_t bytes)
{
    return guarded(__func__, [&] {
        std::shared_ptr<Buffer> live;
        proteus_status status = find_live(buffer, "buffer", live);
        if (status == PROTEUS_STATUS_OK) status = check_transfer(*live, offset, destination, bytes, "destination");
        if (status != PROTEUS_STATUS_OK || bytes == 0) return status;
        return live->context()->backend().download(destination, address(*live, offset), bytes);
    });
}

PROTEUS_API proteus_status proteus_buffer_copy(proteus_buffer destination, uint64_t destination_offset,
                                               proteus_buffer source, uint64_t source_offset, uint64_t bytes)
{
    return guarded(__func__, [&] {
        std::shared_ptr<Buffer> to;
        std::shared_ptr<Buffer> from;
        proteus_status status = find_live(destination, "destination", to);
        if (status == PROTEUS_STATUS_OK) status = find_live(source, "source", from);
        if (status == PROTEUS_STATUS_OK) status = check_copy(*to, destination_offset, *from, source_offset, bytes);
        if (status != PROTEUS_STATUS_OK || bytes == 0) return status;
        return to->context()->backend().copy(address(*to, destination_offset), address(*from, source_offset), bytes);
    });
}

PROTEUS_API proteus_status proteus_buffer_fill(proteus_buffer buffer, uint64_t offset, uint64_t bytes,
                                               const void* pattern, uint32_t pattern_bytes)
{
    return guarded(__func__, [&] {
        std::shared_ptr<Buffer> live;
        proteus_status status = find_live(buffer, "buffer", live);
        if (status == PROTEUS_STATUS_OK) status = check_fill(*live, offset, bytes, pattern, pattern_bytes);
        if (status != PROTEUS_STATUS_OK || bytes == 0) return status;
        return live->context()->backend().fill(address(*live, offset), bytes, pattern, pattern_bytes);
    });
}

// ---- Flux attention --------------------------------------------------------------------------------

PROTEUS_API proteus_status proteus_flux_attention_v2(proteus_context context, const proteus_flux_tensors* tensors,
                                                     const proteus_flux_params* params,
                                                     const proteus_launch_config* launch,
                                                     proteus_flux_run_info* run_info)
{
    return guarded(__func__, [&] {
        // Checked before any work is queued, so a bad run_info leaves nothing half done.
        Output<proteus_flux_run_info> out(run_info, PROTEUS_FLUX_RUN_INFO_SIZE_V0_2, "run_info", Presence::Optional);
        FluxCall call;
        FluxPlan plan;
        proteus_status status = out.status();
        if (status == PROTEUS_STATUS_OK) status = check_flux(context, tensors, params, launch, call);
        if (status == PROTEUS_STATUS_OK) status = call.context->backend().plan_flux(call.problem, plan);
        uint64_t workspace_bytes = 0;
        if (status == PROTEUS_STATUS_OK) status = run_flux(call, plan, workspace_bytes);
        if (status != PROTEUS_STATUS_OK) return status;
        report_run(call, plan, workspace_bytes, out);
        return PROTEUS_STATUS_OK;
    });
}

PROTEUS_API proteus_status proteus_flux_time(proteus_context context, const proteus_flux_tensors* tensors,
                                             const proteus_flux_params* params, const proteus_launch_config* launch,
                                             const proteus_flux_timing* timing, float* milliseconds,
                                             proteus_flux_run_info* run_info)
{
    return guarded(__func__, [&] {
        Output<proteus_flux_run_info> out(run_info, PROTEUS_FLUX_RUN_INFO_SIZE_V0_2, "run_info", Presence::Optional);
        proteus_flux_timing options;
        FluxCall call;
        FluxPlan plan;
        proteus_status status = out.status();
        if (status == PROTEUS_STATUS_OK) status = check_timing(timing, milliseconds, options);
        if (status == PROTEUS_STATUS_OK) status = check_flux(context, tensors, params, launch, call);
        if (status == PROTEUS_STATUS_OK) status = call.context->backend().plan_flux(call.problem, plan);
        if (status != PROTEUS_STATUS_OK) return status;

        Context& live = *call.context;
        Backend& backend = live.backend();
        std::unique_ptr<StreamClock> clock;
        status = backend.create_clock(2 * options.repeats, clock);
        if (status != PROTEUS_STATUS_OK) return status;
        FlushBuffer flush(live, (options.flags & PROTEUS_FLUX_TIMING_FLUSH_CACHE) != 0 ? backend.cache_flush_bytes() : 0);
        status = flush.status();
        uint64_t workspace_bytes = 0;
        for (int32_t run = 0; status == PROTEUS_STATUS_OK && run < options.warmup; ++run) {
            status = run_flux(call, plan, workspace_bytes);
        }
        for (int32_t run = 0; status == PROTEUS_STATUS_OK && run < options.repeats; ++run) {
            status = flush.write(run);
            if (status == PROTEUS_STATUS_OK) status = clock->record(2 * run);
            if (status == PROTEUS_STATUS_OK) status = run_flux(call, plan, workspace_bytes);
            if (status == PROTEUS_STATUS_OK) status = clock->record(2 * run + 1);
        }
        // Waited for even after a failure, so that nothing queued here outlives the flush buffer.
        const proteus_status waited = backend.synchronize();
        if (status == PROTEUS_STATUS_OK) status = waited;
        for (int32_t run = 0; status == PROTEUS_STATUS_OK && run < options.repeats; ++run) {
            status = clock->elapsed(2 * run, 2 * run + 1, milliseconds[run]);
        }
        if (status != PROTEUS_STATUS_OK) return status;
        report_run(call, plan, workspace_bytes, out);
        return PROTEUS_STATUS_OK;
    });
}

PROTEUS_API proteus_status proteus_flux_attention(proteus_context context, const proteus_flux_tensors_v0_1* tensors,
                                                  const proteus_flux_params* params,
                                                  const proteus_launch_config* launch)
{
    return guarded(__func__, [&] {
        proteus_status status = check_not_null(tensors, "tensors");
        if (status != PROTEUS_STATUS_OK) return status;
        proteus_flux_tensors current{};
        current.struct_size = sizeof current;
        current.flags = PROTEUS_FLUX_QUERY_OFFSET;
        current.query_offset = 0;
        current.q = tensors->q;
        current.k = tensors->k;
        current.v = tensors->v;
        current.o = tensors->o;
        current.active = tensors->active;
        current.salience = tensors->salience;
        current.lse = tensors->lse;
        return proteus_flux_attention_v2(context, &current, params, launch, nullptr);
    });
}

PROTEUS_API proteus_status proteus_flux_launch_candidates(proteus_context context, const proteus_flux_tensors* tensors,
                                                          const proteus_flux_params* params,
                                                          proteus_launch_config* configs, uint32_t config_size,
                                                          int32_t capacity, int32_t* count)
{
    return guarded(__func__, [&] {
        FluxCall call;
        proteus_status status = check_flux(context, tensors, params, nullptr, call);
        if (status == PROTEUS_STATUS_OK) status = check_config_array(configs, config_size, capacity, count);
        std::vector<proteus_launch_config> offered;
        if (status == PROTEUS_STATUS_OK) status = call.context->backend().flux_launch_candidates(call.problem, offered);
        if (status != PROTEUS_STATUS_OK) return status;
        const size_t written = std::min(offered.size(), static_cast<size_t>(capacity));
        for (size_t n = 0; n < written; ++n) {
            proteus_launch_config config = offered[n];
            config.struct_size = config_size;
            std::memcpy(reinterpret_cast<char*>(configs) + n * config_size, &config, config_size);
        }
        *count = static_cast<int32_t>(std::min<size_t>(offered.size(), INT32_MAX));
        return PROTEUS_STATUS_OK;
    });
}

PROTEUS_API proteus_status proteus_validate_explicit_candidates(proteus_context context,
                                                                const proteus_flux_tensors* tensors,
                                                                proteus_explicit_candidates_report* report)
{
    return guarded(__func__, [&] {
        Output<proteus_explicit_candidates_report> out(report, PROTEUS_EXPLICIT_CANDIDATES_REPORT_SIZE_V0_3, "report");
        std::shared_ptr<Context> live;
        FluxProblem problem;
        BufferLease lease;
        proteus_status status = out.status();
        if (status == PROTEUS_STATUS_OK) status = find_live(context, live);
        if (status == PROTEUS_STATUS_OK) {
            status = check_explicit_validation_call(*live, tensors, report, problem, lease);
        }
        std::vector<int32_t> lists, lengths;
        if (status == PROTEUS_STATUS_OK) status = download_span(*live, problem.candidate_lists, lists);
        if (status == PROTEUS_STATUS_OK) status = download_span(*live, problem.candidate_lengths, lengths);
        if (status != PROTEUS_STATUS_OK) return status;
        core::ExplicitLists host = explicit_lists_of(problem);
        host.indices = lists.data();
        host.lengths = lengths.empty() ? nullptr : lengths.data();
        const core::ExplicitReport found = core::inspect_explicit_lists(host);
        proteus_explicit_candidates_report& value = out.value();
        value.listed = found.listed;
        value.out_of_range = found.out_of_range;
        value.first_batch = found.first.batch;
        value.first_head = found.first.head;
        value.first_row = found.first.row;
        value.first_slot = found.first.slot;
        value.bad_lengths = found.bad_lengths;
        value.first_bad_length_batch = found.first_bad_length.batch;
        value.first_bad_length_head = found.first_bad_length.head;
        value.first_bad_length_row = found.first_bad_length.row;
        out.write();
        return PROTEUS_STATUS_OK;
    });
}

PROTEUS_API proteus_status proteus_shortlist_bound(const proteus_flux_params* params, int64_t seq_len, int64_t* bound)
{
    return guarded(__func__, [&] {
        core::CandidateSpec spec;
        proteus_status status = check_rule_budgets(params, spec);
        if (status == PROTEUS_STATUS_OK) status = check_seq_len(seq_len);
        if (status == PROTEUS_STATUS_OK) status = check_not_null(bound, "bound");
        if (status == PROTEUS_STATUS_OK) *bound = core::shortlist_bound(spec, seq_len);
        return status;
    });
}

PROTEUS_API proteus_status proteus_shortlist_gather(proteus_context context, const proteus_flux_params* params,
                                                    int64_t seq_len, const proteus_tensor* salience, int64_t batch,
                                                    const int64_t* rows, int64_t row_count, int64_t capacity,
                                                    int64_t* indices, int64_t* lengths)
{
    return guarded(__func__, [&] {
        std::shared_ptr<Context> live;
        GatherProblem problem;
        BufferLease lease;
        proteus_status status = find_live(context, live);
        if (status == PROTEUS_STATUS_OK) {
            status = check_gather_call(*live, params, seq_len, salience, batch, rows, row_count, capacity, indices,
                                       lengths, problem, lease);
        }
        if (status != PROTEUS_STATUS_OK || row_count == 0) return status;
        Workspace workspace(*live);
        return live->backend().shortlist_gather(problem, workspace);
    });
}

PROTEUS_API proteus_status proteus_shortlist_total(proteus_context context, const proteus_flux_params* params,
                                                   int64_t seq_len, const proteus_tensor* salience, int64_t batch,
                                                   int64_t first_row, int64_t row_count, int64_t* total)
{
    return guarded(__func__, [&] {
        std::shared_ptr<Context> live;
        TotalCall call;
        proteus_status status = find_live(context, live);
        if (status == PROTEUS_STATUS_OK) {
            status = check_total_call(*live, params, seq_len, salience, batch, first_row, row_count, total, call);
        }
        // Only the prefix the last row's DNA set ranks is read (Seed ranks up to the row itself).
        std::vector<float> prefix;
        if (status == PROTEUS_STATUS_OK) {
            status = download_salience_prefix(*live, call.salience, batch, first_row + row_count, prefix);
        }
        if (status != PROTEUS_STATUS_OK) return status;
        *total = core::shortlist_total(call.candidates, seq_len, prefix.empty() ? nullptr : prefix.data(), first_row,
                                       row_count);
        return PROTEUS_STATUS_OK;
    });
}

// ---- Layer operations ------------------------------------------------------------------------------

PROTEUS_API proteus_status proteus_linear(proteus_context context, const proteus_tensor* x, const proteus_tensor* weight,
                                          const proteus_tensor* bias, const proteus_tensor* y,
                                          const proteus_linear_params* params)
{
    return guarded(__func__, [&] {
        const auto check = [&](const Context& live, LinearProblem& problem, BufferLease& lease) {
            return check_linear_call(live, x, weight, bias, y, params, problem, lease);
        };
        return run_layer<LinearProblem>(context, &Backend::linear, check);
    });
}

PROTEUS_API proteus_status proteus_convert(proteus_context context, const proteus_tensor* x, const proteus_tensor* y)
{
    return guarded(__func__, [&] {
        const auto check = [&](const Context& live, ConvertProblem& problem, BufferLease& lease) {
            return check_convert_call(live, x, y, problem, lease);
        };
        return run_layer<ConvertProblem>(context, &Backend::convert, check);
    });
}

PROTEUS_API proteus_status proteus_norm(proteus_context context, const proteus_tensor* x, const proteus_tensor* weight,
                                        const proteus_tensor* bias, const proteus_tensor* y,
                                        const proteus_norm_params* params)
{
    return guarded(__func__, [&] {
        const auto check = [&](const Context& live, NormProblem& problem, BufferLease& lease) {
            return check_norm_call(live, x, weight, bias, y, params, problem, lease);
        };
        return run_layer<NormProblem>(context, &Backend::norm, check);
    });
}

PROTEUS_API proteus_status proteus_gelu(proteus_context context, const proteus_tensor* x, const proteus_tensor* y)
{
    return guarded(__func__, [&] {
        const auto check = [&](const Context& live, GeluProblem& problem, BufferLease& lease) {
            return check_gelu_call(live, x, y, problem, lease);
        };
        return run_layer<GeluProblem>(context, &Backend::gelu, check);
    });
}

PROTEUS_API proteus_status proteus_rope(proteus_context context, const proteus_tensor* x,
                                        const proteus_rope_params* params)
{
    return guarded(__func__, [&] {
        const auto check = [&](const Context& live, RopeProblem& problem, BufferLease& lease) {
            return check_rope_call(live, x, params, problem, lease);
        };
        return run_layer<RopeProblem>(context, &Backend::rope, check);
    });
}

PROTEUS_API proteus_status proteus_router(proteus_context context, const proteus_router_tensors* tensors,
                                          const proteus_router_params* params)
{
    return guarded(__func__, [&] {
        const auto check = [&](const Context& live, RouterProblem& problem, BufferLease& lease) {
            return check_router_call(live, tensors, params, problem, lease);
        };
        return run_layer<RouterProblem>(context, &Backend::router, check);
    });
}

PROTEUS_API proteus_status proteus_select_rows(proteus_context context, const proteus_tensor* head_probs,
                                               const proteus_tensor* importance, const proteus_tensor* active,
                                               const proteus_select_params* params)
{
    return guarded(__func__, [&] {
        const auto check = [&](const Context& live, SelectProblem& problem, BufferLease& lease) {
            return check_select_call(live, head_probs, importance, active, params, problem, lease);
        };
        return run_layer<SelectProblem>(context, &Backend::select_rows, check);
    });
}

PROTEUS_API proteus_status proteus_dna_update(proteus_context context, const proteus_tensor* x,
                                              const proteus_tensor* probs, const proteus_tensor* prototypes,
                                              const proteus_tensor* usage, const proteus_tensor* confidence,
                                              const proteus_dna_update_params* params)
{
    return guarded(__func__, [&] {
        const auto check = [&](const Context& live, DnaUpdateProblem& problem, BufferLease& lease) {
            return check_dna_update_call(live, x, probs, prototypes, usage, confidence, params, problem, lease);
        };
        return run_layer<DnaUpdateProblem>(context, &Backend::dna_update, check);
    });
}

// ---- Host threads --------------------------------------------------------------------------------

PROTEUS_API proteus_status proteus_context_set_threads(proteus_context context, int32_t threads)
{
    return guarded(__func__, [&] {
        std::shared_ptr<Context> live;
        const proteus_status status = find_live(context, live);
        return status != PROTEUS_STATUS_OK ? status : live->backend().set_threads(threads);
    });
}

PROTEUS_API proteus_status proteus_context_get_threads(proteus_context context, int32_t* threads)
{
    return guarded(__func__, [&] {
        std::shared_ptr<Context> live;
        proteus_status status = find_live(context, live);
        if (status == PROTEUS_STATUS_OK) status = check_not_null(threads, "threads");
        if (status == PROTEUS_STATUS_OK) *threads = live->backend().threads();
        return status;
    });
}

}  // extern "C"
