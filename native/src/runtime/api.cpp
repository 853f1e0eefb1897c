// The C ABI. Each exported function is a shell: it resolves handles through the registry, validates
// what the caller passed, hands the work to a context or backend, and turns every exception into a
// status so that none crosses the ABI.
#include <algorithm>
#include <exception>
#include <new>
#include <numeric>
#include <string>
#include <vector>

#include "core/shortlist.h"
#include "proteus/proteus.h"
#include "runtime/context.h"
#include "runtime/devices.h"
#include "core/error.h"
#include "runtime/registry.h"
#include "runtime/validation.h"

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

/** An output struct: checks its declared size, then clears everything else before it is filled. */
template <typename Struct>
proteus_status prepare_output(Struct* output, const char* argument)
{
    proteus_status status = check_not_null(output, argument);
    if (status == PROTEUS_STATUS_OK) {
        status =
            check_struct_size(output->struct_size, sizeof *output, (std::string(argument) + ".struct_size").c_str());
    }
    if (status != PROTEUS_STATUS_OK) return status;
    const uint32_t struct_size = output->struct_size;
    *output = Struct{};
    output->struct_size = struct_size;
    return PROTEUS_STATUS_OK;
}

char* address(const Buffer& buffer, uint64_t offset) { return static_cast<char*>(buffer.data()) + offset; }

/** The T salience values of the gathered batch row, copied to the host (empty when the budgets take no DNA). */
proteus_status download_salience_row(Context& context, const GatherCall& call, int64_t batch, int64_t seq_len,
                                     std::vector<float>& row)
{
    if (!call.salience.present()) return PROTEUS_STATUS_OK;
    row.resize(static_cast<size_t>(seq_len));
    const float* device_row = static_cast<const float*>(call.salience.ref.data) + batch * call.salience.ref.strides[0];
    return context.backend().download(row.data(), device_row, static_cast<uint64_t>(seq_len) * sizeof(float));
}

/** Builds C(i) of every requested row, visiting them in increasing order so the DNA set only grows. */
void write_shortlists(const GatherCall& call, int64_t seq_len, const std::vector<float>& salience, const int64_t* rows,
                      int64_t row_count, int64_t capacity, int64_t* indices, int64_t* lengths)
{
    std::vector<int64_t> order(static_cast<size_t>(row_count));
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [rows](int64_t a, int64_t b) { return rows[a] < rows[b]; });
    core::ShortlistBuilder builder(call.spec, seq_len, salience.empty() ? nullptr : salience.data());
    for (const int64_t r : order) {
        const std::vector<int64_t>& candidates = builder.candidates(rows[r]);
        std::copy(candidates.begin(), candidates.end(), indices + r * capacity);
        lengths[r] = static_cast<int64_t>(candidates.size());
    }
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

PROTEUS_API proteus_status proteus_last_error_info(proteus_error_info* info)
{
    return guarded(__func__, [&] {
        proteus_status status = check_not_null(info, "info");
        if (status == PROTEUS_STATUS_OK) {
            status = check_struct_size(info->struct_size, sizeof *info, "info.struct_size");
        }
        if (status == PROTEUS_STATUS_OK) last_error_info(*info);
        return status;
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

PROTEUS_API proteus_status proteus_device_get_info(int32_t backend, int32_t ordinal, proteus_device_info* info)
{
    return guarded(__func__, [&] {
        const proteus_status status = prepare_output(info, "info");
        return status != PROTEUS_STATUS_OK ? status : device_info(backend, ordinal, *info);
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
        if (status == PROTEUS_STATUS_OK) status = prepare_output(info, "info");
        return status != PROTEUS_STATUS_OK ? status : live->backend().describe(*info);
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
        if (status == PROTEUS_STATUS_OK) status = prepare_output(stats, "stats");
        return status != PROTEUS_STATUS_OK ? status : live->memory(*stats);
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
        if (status == PROTEUS_STATUS_OK) *buffer = register_buffer(std::move(created));
        return status;
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
    (void)run_info;  // TODO(issue 8): the dispatch plan
    return guarded(__func__, [&] {
        std::shared_ptr<Context> live;
        FluxProblem problem;
        BufferLease lease;
        proteus_status status = find_live(context, live);
        if (status == PROTEUS_STATUS_OK) status = check_flux_call(*live, tensors, params, launch, problem, lease);
        if (status != PROTEUS_STATUS_OK) return status;
        FluxPlan plan;
        status = live->backend().plan_flux(problem, plan);
        if (status != PROTEUS_STATUS_OK) return status;
        Workspace workspace(*live);
        return live->backend().flux_attention(problem, plan, workspace);
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

PROTEUS_API proteus_status proteus_shortlist_bound(const proteus_flux_params* params, int64_t seq_len, int64_t* bound)
{
    return guarded(__func__, [&] {
        core::CandidateSpec spec;
        proteus_status status = check_budgets(params, spec);
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
        GatherCall call;
        proteus_status status = find_live(context, live);
        if (status == PROTEUS_STATUS_OK) {
            status = check_gather_call(*live, params, seq_len, salience, batch, rows, row_count, capacity, indices,
                                       lengths, call);
        }
        std::vector<float> salience_row;
        if (status == PROTEUS_STATUS_OK) status = download_salience_row(*live, call, batch, seq_len, salience_row);
        if (status != PROTEUS_STATUS_OK) return status;
        write_shortlists(call, seq_len, salience_row, rows, row_count, capacity, indices, lengths);
        return PROTEUS_STATUS_OK;
    });
}

}  // extern "C"
