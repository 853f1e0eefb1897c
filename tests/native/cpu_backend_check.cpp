// Checks of the CPU backend through the backend interface (native/src/backend.h), compiled with the CPU
// sources themselves: query slices equal the same rows of the full-length call bit for bit, launch
// validation, the workspace arena, host allocation limits, buffer wraps, and the shortlist gather
// (against SPEC §3 enumerated literally, and bounded by the rows asked for when there is no DNA).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "backend.h"
#include "backend_check.h"
#include "core/error.h"
#include "core/numeric.h"
#include "core/shortlist.h"
#include "cpu/parallel.h"

namespace {

using proteus::Backend;
using proteus::FluxPlan;
using proteus::FluxProblem;
using proteus::GatherProblem;
using proteus::TensorRef;
using proteus::core::CandidateSpec;

proteus_error_info last_error()
{
    proteus_error_info info{};
    info.struct_size = sizeof info;
    proteus::last_error_info(info);
    return info;
}

/** The status, and for a failure the argument it names, as the C ABI would report them. */
void expect_error(proteus_status status, proteus_status expected, const char* argument, const char* what)
{
    CHECK(status == expected, "%s: status %d, expected %d", what, status, expected);
    if (status != PROTEUS_STATUS_OK) {
        const proteus_error_info info = last_error();
        CHECK(std::strcmp(info.argument, argument) == 0, "%s: names '%s', expected '%s' (%s)", what, info.argument,
              argument, proteus::last_error_message());
    }
}

std::unique_ptr<Backend> make_backend()
{
    std::unique_ptr<Backend> backend;
    const proteus_status status = proteus::create_cpu_backend(0, nullptr, true, backend);
    if (status != PROTEUS_STATUS_OK) {
        std::fprintf(stderr, "create_cpu_backend: %s\n", proteus::last_error_message());
        std::exit(1);
    }
    return backend;
}

TensorRef tensor(void* data, proteus_dtype dtype, std::vector<int64_t> shape, std::vector<int64_t> strides)
{
    TensorRef ref;
    ref.data = data;
    ref.dtype = dtype;
    ref.rank = static_cast<int>(shape.size());
    for (size_t a = 0; a < shape.size(); ++a) {
        ref.shape[a] = shape[a];
        ref.strides[a] = strides[a];
    }
    return ref;
}

size_t element_bytes(proteus_dtype dtype) { return dtype == PROTEUS_DTYPE_FLOAT32 ? 4 : 2; }

uint16_t encode_16(proteus_dtype dtype, float value)
{
    return dtype == PROTEUS_DTYPE_FLOAT16 ? proteus::float_to_half(value) : proteus::float_to_bfloat16(value);
}

/** Random elements of `dtype` in [-1, 1]. */
std::vector<unsigned char> random_elements(std::mt19937_64& random, proteus_dtype dtype, size_t count)
{
    std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
    std::vector<unsigned char> bytes(count * element_bytes(dtype));
    for (size_t e = 0; e < count; ++e) {
        const float value = uniform(random);
        if (dtype == PROTEUS_DTYPE_FLOAT32) {
            std::memcpy(bytes.data() + 4 * e, &value, 4);
        } else {
            const uint16_t bits = encode_16(dtype, value);
            std::memcpy(bytes.data() + 2 * e, &bits, 2);
        }
    }
    return bytes;
}

/** Salience with ties (a few distinct values) and the odd NaN, so that the tie and NaN rules are exercised. */
std::vector<float> random_salience(std::mt19937_64& random, size_t count)
{
    std::vector<float> salience(count);
    for (float& s : salience) {
        const uint64_t draw = random() % 16;
        s = draw == 0 ? std::numeric_limits<float>::quiet_NaN() : static_cast<float>(draw % 5) * 0.25f - 0.5f;
    }
    return salience;
}

const char* policy_name(proteus_candidate_policy policy)
{
    switch (policy) {
    case PROTEUS_POLICY_ALIGNED: return "Aligned";
    case PROTEUS_POLICY_RELATIVE: return "Relative";
    default: return "Seed";
    }
}

int64_t draw(std::mt19937_64& random, int64_t low, int64_t high)  // inclusive
{
    return std::uniform_int_distribution<int64_t>(low, high)(random);
}

/** A random candidate spec of `policy` for T keys; `dna` chooses whether it takes DNA, `dense` W ≥ T. */
CandidateSpec random_spec(std::mt19937_64& random, proteus_candidate_policy policy, int64_t seq_len, bool dna,
                          bool dense)
{
    CandidateSpec spec;
    spec.policy = policy;
    spec.window = dense ? seq_len + draw(random, 0, 3) : draw(random, 1, std::max<int64_t>(1, seq_len / 2));
    spec.anchor_stride = dense ? 0 : draw(random, policy == PROTEUS_POLICY_SEED ? 0 : 1, 9);
    spec.anchor_count = spec.anchor_stride > 0 ? draw(random, 0, 5) : 0;
    spec.dna_count = dna ? draw(random, 1, 7) : 0;
    if (policy == PROTEUS_POLICY_SEED) {
        spec.seed_cap = draw(random, 1, seq_len + 2);
        spec.seed_local_cap = draw(random, 1, seq_len + 2);
    }
    return spec;
}

// ---- Query slices --------------------------------------------------------------------------------

struct SliceCase {
    proteus_dtype dtype;
    proteus_candidate_policy policy;
    bool dna;
    bool dense;
    int32_t mode = PROTEUS_LAUNCH_AUTO;  // AUTO (the tile kernel but for Seed) or REFERENCE
};

/**
 * One random problem computed full length (q in [B, T, H, D] order, every row) and as a random slice
 * (q [B, H, Tq, D] holding rows p0 … p0 + Tq − 1): every output row of the slice must have the same bits
 * as that position's row of the full call, inactive rows included.
 */
void check_slice_case(Backend& backend, std::mt19937_64& random, const SliceCase& c)
{
    const int64_t B = draw(random, 1, 2), Hkv = draw(random, 1, 2), H = Hkv * draw(random, 1, 2);
    const int64_t D = 16 * draw(random, 1, 2), T = draw(random, 1, 70);
    const int64_t p0 = draw(random, 0, T - 1), Tq = draw(random, 1, T - p0);
    const proteus_dtype dtype = c.dtype;
    const size_t bytes = element_bytes(dtype);

    std::vector<unsigned char> q = random_elements(random, dtype, static_cast<size_t>(B * T * H * D));
    std::vector<unsigned char> k = random_elements(random, dtype, static_cast<size_t>(B * Hkv * T * D));
    std::vector<unsigned char> v = random_elements(random, dtype, static_cast<size_t>(B * Hkv * T * D));
    std::vector<uint8_t> active(static_cast<size_t>(B * H * T));
    for (uint8_t& a : active) a = random() % 4 != 0;
    const int64_t salience_stride = T + 3;
    std::vector<float> salience = random_salience(random, static_cast<size_t>(B * salience_stride));

    FluxProblem full;
    full.q = tensor(q.data(), dtype, {B, H, T, D}, {T * H * D, D, H * D, 1});
    full.k = tensor(k.data(), dtype, {B, Hkv, T, D}, {Hkv * T * D, T * D, D, 1});
    full.v = tensor(v.data(), dtype, {B, Hkv, T, D}, {Hkv * T * D, T * D, D, 1});
    std::vector<unsigned char> o_full(static_cast<size_t>(B * H * T * D) * bytes);
    std::vector<float> lse_full(static_cast<size_t>(B * H * T));
    full.o = tensor(o_full.data(), dtype, {B, H, T, D}, {H * T * D, T * D, D, 1});
    full.active = tensor(active.data(), PROTEUS_DTYPE_UINT8, {B, H, T}, {H * T, T, 1});
    full.lse = tensor(lse_full.data(), PROTEUS_DTYPE_FLOAT32, {B, H, T}, {H * T, T, 1});
    full.batch = B;
    full.heads = H;
    full.kv_heads = Hkv;
    full.head_dim = D;
    full.seq_len = T;
    full.query_len = T;
    full.query_offset = 0;
    full.candidates = random_spec(random, c.policy, T, c.dna, c.dense);
    if (full.candidates.dna_count > 0) {
        full.salience = tensor(salience.data(), PROTEUS_DTYPE_FLOAT32, {B, T}, {salience_stride, 1});
    }
    full.scale = 1.0f / std::sqrt(static_cast<float>(D));
    full.launch.struct_size = sizeof full.launch;
    full.launch.mode = c.mode;

    // The slice: its own q and active holding the rows p0 …, its own outputs.
    std::vector<unsigned char> q_slice(static_cast<size_t>(B * H * Tq * D) * bytes);
    std::vector<uint8_t> active_slice(static_cast<size_t>(B * H * Tq));
    for (int64_t b = 0; b < B; ++b) {
        for (int64_t h = 0; h < H; ++h) {
            for (int64_t r = 0; r < Tq; ++r) {
                const int64_t i = p0 + r;
                std::memcpy(q_slice.data() + ((b * H + h) * Tq + r) * D * bytes,
                            q.data() + ((b * T + i) * H + h) * D * bytes, static_cast<size_t>(D) * bytes);
                active_slice[(b * H + h) * Tq + r] = active[(b * H + h) * T + i];
            }
        }
    }
    std::vector<unsigned char> o_slice(static_cast<size_t>(B * H * Tq * D) * bytes);
    std::vector<float> lse_slice(static_cast<size_t>(B * H * Tq));
    FluxProblem slice = full;
    slice.q = tensor(q_slice.data(), dtype, {B, H, Tq, D}, {H * Tq * D, Tq * D, D, 1});
    slice.o = tensor(o_slice.data(), dtype, {B, H, Tq, D}, {H * Tq * D, Tq * D, D, 1});
    slice.active = tensor(active_slice.data(), PROTEUS_DTYPE_UINT8, {B, H, Tq}, {H * Tq, Tq, 1});
    slice.lse = tensor(lse_slice.data(), PROTEUS_DTYPE_FLOAT32, {B, H, Tq}, {H * Tq, Tq, 1});
    slice.query_len = Tq;
    slice.query_offset = p0;

    BackendWorkspace workspace(backend);
    for (FluxProblem* problem : {&full, &slice}) {
        FluxPlan plan;
        proteus_status status = backend.plan_flux(*problem, plan);
        if (status == PROTEUS_STATUS_OK) status = backend.flux_attention(*problem, plan, workspace);
        CHECK(status == PROTEUS_STATUS_OK, "flux_attention: %s", proteus::last_error_message());
    }

    int64_t differing = 0;
    for (int64_t b = 0; b < B; ++b) {
        for (int64_t h = 0; h < H; ++h) {
            for (int64_t r = 0; r < Tq; ++r) {
                const int64_t i = p0 + r;
                const bool same_o = std::memcmp(o_slice.data() + ((b * H + h) * Tq + r) * D * bytes,
                                                o_full.data() + ((b * H + h) * T + i) * D * bytes,
                                                static_cast<size_t>(D) * bytes) == 0;
                const bool same_lse =
                    std::memcmp(&lse_slice[(b * H + h) * Tq + r], &lse_full[(b * H + h) * T + i], sizeof(float)) == 0;
                differing += !(same_o && same_lse);
            }
        }
    }
    CHECK(differing == 0,
          "mode=%d %s dna=%d dense=%d dtype=%d B=%lld H=%lld Hkv=%lld D=%lld T=%lld p0=%lld Tq=%lld: %lld rows differ",
          c.mode, policy_name(c.policy), c.dna, c.dense, dtype, static_cast<long long>(B),
          static_cast<long long>(H), static_cast<long long>(Hkv), static_cast<long long>(D), static_cast<long long>(T),
          static_cast<long long>(p0), static_cast<long long>(Tq), static_cast<long long>(differing));
}

void check_slices(Backend& backend)
{
    std::mt19937_64 random(8);
    const proteus_dtype dtypes[] = {PROTEUS_DTYPE_FLOAT32, PROTEUS_DTYPE_FLOAT16, PROTEUS_DTYPE_BFLOAT16};
    const SliceCase shapes[] = {
        {PROTEUS_DTYPE_FLOAT32, PROTEUS_POLICY_ALIGNED, true, false},
        {PROTEUS_DTYPE_FLOAT32, PROTEUS_POLICY_ALIGNED, false, false},
        {PROTEUS_DTYPE_FLOAT32, PROTEUS_POLICY_RELATIVE, true, false},
        {PROTEUS_DTYPE_FLOAT32, PROTEUS_POLICY_RELATIVE, false, false},
        {PROTEUS_DTYPE_FLOAT32, PROTEUS_POLICY_SEED, true, false},
        {PROTEUS_DTYPE_FLOAT32, PROTEUS_POLICY_SEED, false, false},
        {PROTEUS_DTYPE_FLOAT32, PROTEUS_POLICY_ALIGNED, false, true},
    };
    for (int round = 0; round < 6; ++round) {
        for (const proteus_dtype dtype : dtypes) {
            for (SliceCase c : shapes) {
                c.dtype = dtype;
                for (const int32_t mode : {PROTEUS_LAUNCH_AUTO, PROTEUS_LAUNCH_REFERENCE}) {
                    c.mode = mode;
                    check_slice_case(backend, random, c);
                }
            }
        }
    }
}

// ---- Launch validation and wraps -----------------------------------------------------------------

void check_launch_validation(Backend& backend)
{
    FluxProblem problem;
    problem.launch.struct_size = sizeof problem.launch;
    FluxPlan plan;
    expect_error(backend.plan_flux(problem, plan), PROTEUS_STATUS_OK, "", "AUTO launch");
    CHECK(plan.kernel == PROTEUS_KERNEL_CPU_TILE, "kernel %d", plan.kernel);
    proteus_launch_config expected{};
    expected.struct_size = sizeof expected;
    CHECK(std::memcmp(&plan.launch, &expected, sizeof expected) == 0, "the resolved launch is not all default");

    // The reference when asked for, and for the Seed policy under AUTO (the tile kernel does not take it).
    FluxProblem reference = problem;
    reference.launch.mode = PROTEUS_LAUNCH_REFERENCE;
    expect_error(backend.plan_flux(reference, plan), PROTEUS_STATUS_OK, "", "REFERENCE launch");
    CHECK(plan.kernel == PROTEUS_KERNEL_CPU_REFERENCE && plan.launch.mode == PROTEUS_LAUNCH_REFERENCE,
          "kernel %d mode %d", plan.kernel, plan.launch.mode);
    FluxProblem seed = problem;
    seed.candidates.policy = PROTEUS_POLICY_SEED;
    expect_error(backend.plan_flux(seed, plan), PROTEUS_STATUS_OK, "", "Seed under AUTO");
    CHECK(plan.kernel == PROTEUS_KERNEL_CPU_REFERENCE && plan.launch.mode == PROTEUS_LAUNCH_AUTO, "kernel %d mode %d",
          plan.kernel, plan.launch.mode);

    for (const int32_t mode : {int32_t{PROTEUS_LAUNCH_TILE}, int32_t{PROTEUS_LAUNCH_ROW}, int32_t{7}}) {
        FluxProblem explicit_mode = problem;
        explicit_mode.launch.mode = mode;
        expect_error(backend.plan_flux(explicit_mode, plan), PROTEUS_STATUS_INVALID_ARGUMENT, "launch.mode", "mode");
        CHECK(std::strstr(proteus::last_error_message(), "PROTEUS_LAUNCH_REFERENCE") != nullptr, "message: %s",
              proteus::last_error_message());
    }
    const struct {
        int32_t proteus_launch_config::*field;
        const char* name;
    } fields[] = {{&proteus_launch_config::block_q, "launch.block_q"},
                  {&proteus_launch_config::block_k, "launch.block_k"},
                  {&proteus_launch_config::rows_per_warp, "launch.rows_per_warp"},
                  {&proteus_launch_config::stages, "launch.stages"}};
    for (const auto& field : fields) {
        FluxProblem with_field = problem;
        with_field.launch.*field.field = 32;
        expect_error(backend.plan_flux(with_field, plan), PROTEUS_STATUS_INVALID_ARGUMENT, field.name, field.name);
    }

    std::vector<proteus_launch_config> configs;
    CHECK(backend.flux_launch_candidates(problem, configs) == PROTEUS_STATUS_OK, "candidates");
    CHECK(configs.size() == 1 && std::memcmp(&configs[0], &expected, sizeof expected) == 0,
          "expected the one default configuration, got %zu", configs.size());
}

void check_wraps(Backend& backend)
{
    std::vector<char> memory(100);
    expect_error(backend.check_wrap(memory.data(), memory.size()), PROTEUS_STATUS_OK, "", "host memory");
    expect_error(backend.check_wrap(nullptr, 16), PROTEUS_STATUS_INVALID_ARGUMENT, "pointer", "null");
    expect_error(backend.check_wrap(memory.data(), 0), PROTEUS_STATUS_INVALID_ARGUMENT, "bytes", "empty");
    expect_error(backend.check_wrap(memory.data(), std::numeric_limits<uint64_t>::max()),
                 PROTEUS_STATUS_INVALID_ARGUMENT, "bytes", "past the address space");
}

// ---- Memory --------------------------------------------------------------------------------------

void expect_out_of_memory(proteus_status status, uint64_t bytes, const char* what)
{
    CHECK(status == PROTEUS_STATUS_OUT_OF_MEMORY, "%s: status %d", what, status);
    const proteus_error_info info = last_error();
    CHECK(info.requested_bytes == bytes, "%s: reported %llu bytes asked", what,
          static_cast<unsigned long long>(info.requested_bytes));
}

void check_allocation_limits(Backend& backend)
{
    uint64_t free_bytes = 0, total_bytes = 0;
    backend.memory(free_bytes, total_bytes);
    const uint64_t max = std::numeric_limits<uint64_t>::max();
    for (const uint64_t bytes : {max, max - 1, max - 63, max - 64, uint64_t{1} << 63, total_bytes + 1}) {
        void* pointer = reinterpret_cast<void*>(1);
        expect_out_of_memory(backend.allocate(bytes, &pointer), bytes, "allocate");
        CHECK(pointer == nullptr, "a refused allocation returned a pointer");
        expect_out_of_memory(backend.allocate_workspace(bytes, &pointer), bytes, "allocate_workspace");
    }
    void* pointer = nullptr;
    CHECK(backend.allocate(4096, &pointer) == PROTEUS_STATUS_OK && pointer != nullptr, "a small allocation failed");
    CHECK(reinterpret_cast<uintptr_t>(pointer) % 64 == 0, "not 64-byte aligned");
    std::memset(pointer, 0x5a, 4096);  // the whole size is usable (ASan checks)
    backend.release(pointer);
}

void check_arena_reuse()
{
    std::unique_ptr<Backend> backend = make_backend();
    CHECK(backend->workspace_reserved_bytes() == 0, "a new pool holds memory");
    void *first = nullptr, *second = nullptr, *third = nullptr;
    CHECK(backend->allocate_workspace(1000, &first) == PROTEUS_STATUS_OK, "allocate 1000");
    std::memset(first, 1, 1000);
    backend->release_workspace(first);
    CHECK(backend->workspace_reserved_bytes() == 1000, "reserved %llu after a release",
          static_cast<unsigned long long>(backend->workspace_reserved_bytes()));
    CHECK(backend->allocate_workspace(600, &second) == PROTEUS_STATUS_OK && second == first,
          "a request the kept block fits did not reuse it");
    CHECK(backend->workspace_reserved_bytes() == 0, "a reused block still counted as reserved");
    CHECK(backend->allocate_workspace(100, &third) == PROTEUS_STATUS_OK && third != first,
          "a request under half a block's size must not pin it");
    std::memset(third, 2, 100);
    backend->release_workspace(second);
    backend->release_workspace(third);
    backend->release_workspace(nullptr);  // what a failed allocation leaves to release: nothing
    CHECK(backend->workspace_reserved_bytes() == 1100, "reserved %llu",
          static_cast<unsigned long long>(backend->workspace_reserved_bytes()));

    // At most eight blocks are kept.
    std::vector<void*> blocks(12);
    for (size_t n = 0; n < blocks.size(); ++n) {
        CHECK(backend->allocate_workspace(1 << 20, &blocks[n]) == PROTEUS_STATUS_OK, "allocate 1 MiB");
    }
    for (void* block : blocks) backend->release_workspace(block);
    const uint64_t reserved = backend->workspace_reserved_bytes();
    CHECK(reserved <= 8u << 20, "the pool kept %llu bytes", static_cast<unsigned long long>(reserved));

    // Concurrent calls get distinct blocks and release them all (ASan / TSan see the rest).
    std::atomic<int> clashes{0};
    const auto worker = [&](int id) {
        std::mt19937_64 random(static_cast<uint64_t>(id));
        for (int round = 0; round < 500; ++round) {
            const uint64_t bytes = 64 + random() % 5000;
            void* block = nullptr;
            if (backend->allocate_workspace(bytes, &block) != PROTEUS_STATUS_OK) {
                ++clashes;
                continue;
            }
            std::memset(block, id, bytes);
            std::this_thread::yield();
            for (uint64_t n = 0; n < bytes; ++n) {
                if (static_cast<unsigned char*>(block)[n] != id) {
                    ++clashes;
                    break;
                }
            }
            backend->release_workspace(block);
        }
    };
    std::vector<std::thread> threads;
    for (int id = 1; id <= 4; ++id) threads.emplace_back(worker, id);
    for (std::thread& thread : threads) thread.join();
    CHECK(clashes == 0, "%d blocks were shared between threads or failed", clashes.load());
    CHECK(backend->workspace_reserved_bytes() <= (8u << 20) + 8 * 5064, "the pool grew past eight blocks");
    // Destroying the backend frees what the pool keeps (valgrind / LeakSanitizer check).
}

// ---- Gather --------------------------------------------------------------------------------------

/** SPEC §3 for Aligned and Relative, enumerated literally. */
std::vector<int64_t> literal_candidates(const CandidateSpec& spec, const float* salience, int64_t i)
{
    std::vector<int64_t> c;
    for (int64_t j = std::max<int64_t>(0, i - spec.window + 1); j <= i; ++j) c.push_back(j);
    if (spec.policy == PROTEUS_POLICY_ALIGNED) {
        std::vector<int64_t> multiples;
        for (int64_t j = 0; spec.anchor_stride > 0 && j <= i - spec.window; j += spec.anchor_stride) {
            multiples.push_back(j);
        }
        const size_t keep = std::min<size_t>(multiples.size(), static_cast<size_t>(spec.anchor_count));
        c.insert(c.end(), multiples.end() - static_cast<std::ptrdiff_t>(keep), multiples.end());
    } else {
        for (int64_t s = 1; s <= spec.anchor_count; ++s) c.push_back(std::max<int64_t>(0, i - s * spec.anchor_stride));
    }
    std::vector<int64_t> before_window;
    for (int64_t j = 0; j <= i - spec.window; ++j) before_window.push_back(j);
    const auto rank = [salience](int64_t j) {
        return std::isnan(salience[j]) ? -std::numeric_limits<float>::infinity() : salience[j];
    };
    std::sort(before_window.begin(), before_window.end(),
              [&](int64_t a, int64_t b) { return rank(a) > rank(b) || (rank(a) == rank(b) && a > b); });
    const size_t dna = std::min<size_t>(before_window.size(), static_cast<size_t>(spec.dna_count));
    c.insert(c.end(), before_window.begin(), before_window.begin() + static_cast<std::ptrdiff_t>(dna));
    std::sort(c.begin(), c.end());
    c.erase(std::unique(c.begin(), c.end()), c.end());
    return c;
}

struct GatherOutput {
    std::vector<int64_t> indices, lengths;
};

GatherOutput gather(Backend& backend, const CandidateSpec& spec, int64_t seq_len, float* salience, int64_t batch,
                    int64_t salience_stride, const std::vector<int64_t>& rows)
{
    GatherProblem problem;
    problem.candidates = spec;
    problem.seq_len = seq_len;
    if (salience != nullptr) {
        problem.salience = tensor(salience, PROTEUS_DTYPE_FLOAT32, {batch + 1, seq_len}, {salience_stride, 1});
    }
    problem.batch = batch;
    problem.rows = rows.data();
    problem.row_count = static_cast<int64_t>(rows.size());
    problem.capacity = proteus::core::shortlist_bound(spec, seq_len);
    GatherOutput out;
    out.indices.assign(rows.size() * static_cast<size_t>(problem.capacity), -1);
    out.lengths.assign(rows.size(), -1);
    problem.indices = out.indices.data();
    problem.lengths = out.lengths.data();
    BackendWorkspace workspace(backend);
    CHECK(backend.shortlist_gather(problem, workspace) == PROTEUS_STATUS_OK, "gather: %s",
          proteus::last_error_message());
    return out;
}

/**
 * Random rows (unsorted, repeated) of random specs, against §3 enumerated literally (Aligned, Relative)
 * or a fresh builder per row (Seed).
 */
void check_gather_rows(Backend& backend)
{
    std::mt19937_64 random(3);
    for (int round = 0; round < 60; ++round) {
        const auto policy = static_cast<proteus_candidate_policy>(round % 3);
        const int64_t T = draw(random, 1, 300), batch = draw(random, 0, 1), stride = T + 5;
        const CandidateSpec spec = random_spec(random, policy, T, round % 2 == 0, round % 7 == 0);
        std::vector<float> salience = random_salience(random, static_cast<size_t>(2 * stride));
        std::vector<int64_t> rows(static_cast<size_t>(draw(random, 1, 12)));
        for (int64_t& row : rows) row = draw(random, 0, T - 1);
        const GatherOutput out = gather(backend, spec, T, salience.data(), batch, stride, rows);
        const int64_t capacity = proteus::core::shortlist_bound(spec, T);
        const float* row_salience = salience.data() + batch * stride;
        for (size_t r = 0; r < rows.size(); ++r) {
            std::vector<int64_t> expected;
            if (policy == PROTEUS_POLICY_SEED) {
                proteus::core::ShortlistBuilder fresh(spec, T, row_salience);
                expected = fresh.candidates(rows[r]);
            } else {
                expected = literal_candidates(spec, row_salience, rows[r]);
            }
            const auto first = out.indices.begin() + static_cast<std::ptrdiff_t>(r) * capacity;
            const bool same = out.lengths[r] == static_cast<int64_t>(expected.size()) &&
                              std::equal(expected.begin(), expected.end(), first);
            CHECK(same, "%s round %d row %lld of T %lld: length %lld, expected %zu", policy_name(policy), round,
                  static_cast<long long>(rows[r]), static_cast<long long>(T), static_cast<long long>(out.lengths[r]),
                  expected.size());
        }
    }
}

/** Without DNA a row costs O(|C(i)|): one row at T = 2^40 is answered at once (the walk would take ~20 min). */
void check_gather_without_dna_is_bounded(Backend& backend)
{
    const int64_t T = int64_t{1} << 40, i = T - 1, S = int64_t{1} << 20;
    const proteus_candidate_policy policies[] = {PROTEUS_POLICY_ALIGNED, PROTEUS_POLICY_RELATIVE, PROTEUS_POLICY_SEED};
    for (const proteus_candidate_policy policy : policies) {
        CandidateSpec spec;
        spec.policy = policy;
        spec.window = 4;
        spec.anchor_stride = S;
        spec.anchor_count = 3;
        spec.seed_cap = 16;
        spec.seed_local_cap = 16;
        const auto start = std::chrono::steady_clock::now();
        const GatherOutput out = gather(backend, spec, T, nullptr, 0, 0, {i, 5});
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        CHECK(seconds < 2.0, "%s: gather of two rows at T = 2^40 took %.2f s", policy_name(policy), seconds);
        std::vector<int64_t> expected = policy == PROTEUS_POLICY_ALIGNED
                                            ? std::vector<int64_t>{T - 3 * S, T - 2 * S, T - S}
                                            : std::vector<int64_t>{i - 3 * S, i - 2 * S, i - S};
        for (int64_t j = i - 3; j <= i; ++j) expected.push_back(j);
        const int64_t capacity = proteus::core::shortlist_bound(spec, T);
        CHECK(out.lengths[0] == 7 && std::equal(expected.begin(), expected.end(), out.indices.begin()),
              "%s: wrong C(2^40 - 1) (length %lld)", policy_name(policy), static_cast<long long>(out.lengths[0]));
        // Row 5 (given second, smaller): its window [2, 5] and the anchor 0.
        const int64_t* row5 = out.indices.data() + capacity;
        CHECK(out.lengths[1] == 5 && row5[0] == 0 && row5[1] == 2 && row5[4] == 5, "%s: wrong C(5)",
              policy_name(policy));
    }
}

// ---- The tile kernel against the reference ---------------------------------------------------------

float decode(proteus_dtype dtype, const unsigned char* bytes, size_t index)
{
    if (dtype == PROTEUS_DTYPE_FLOAT32) {
        float value;
        std::memcpy(&value, bytes + 4 * index, 4);
        return value;
    }
    uint16_t bits;
    std::memcpy(&bits, bytes + 2 * index, 2);
    return dtype == PROTEUS_DTYPE_FLOAT16 ? proteus::half_to_float(bits) : proteus::bfloat16_to_float(bits);
}

/** SPEC §9's relative L2 tolerance of a storage type. */
double tolerance(proteus_dtype dtype)
{
    return dtype == PROTEUS_DTYPE_FLOAT32 ? 1e-5 : dtype == PROTEUS_DTYPE_FLOAT16 ? 2e-3 : 1e-2;
}

/** Runs `problem` under `mode` with the backend's current threads; false (and a failed check) on an error. */
bool run_mode(Backend& backend, FluxProblem problem, int32_t mode, proteus_flux_kernel expected_kernel)
{
    problem.launch.mode = mode;
    BackendWorkspace workspace(backend);
    FluxPlan plan;
    proteus_status status = backend.plan_flux(problem, plan);
    if (status == PROTEUS_STATUS_OK) status = backend.flux_attention(problem, plan, workspace);
    CHECK(status == PROTEUS_STATUS_OK, "flux_attention: %s", proteus::last_error_message());
    CHECK(plan.kernel == expected_kernel, "kernel %d, expected %d", plan.kernel, expected_kernel);
    return status == PROTEUS_STATUS_OK;
}

/**
 * One random problem (awkward T across tile edges, a random query slice, [B,T,H,D] or [B,H,T,D] q and o,
 * GQA, a mask or none, lse) by the tile kernel and by the reference: o within §9, lse within 1e-5
 * relative, inactive rows identical; then the tile kernel again on 3 threads must give the same bits.
 */
void check_tiles_case(Backend& backend, std::mt19937_64& random, proteus_dtype dtype,
                      proteus_candidate_policy policy, bool dna, bool dense, int64_t max_len)
{
    const int64_t B = draw(random, 1, 2), Hkv = draw(random, 1, 3), H = Hkv * draw(random, 1, 3);
    const int64_t D = int64_t{16} << draw(random, 0, 3), T = draw(random, 1, max_len);
    const int64_t p0 = draw(random, 0, T - 1), Tq = draw(random, 1, T - p0);
    const bool token_major = random() % 2 == 0;
    const size_t bytes = element_bytes(dtype);

    std::vector<unsigned char> q = random_elements(random, dtype, static_cast<size_t>(B * H * Tq * D));
    std::vector<unsigned char> k = random_elements(random, dtype, static_cast<size_t>(B * Hkv * T * D));
    std::vector<unsigned char> v = random_elements(random, dtype, static_cast<size_t>(B * Hkv * T * D));
    std::vector<uint8_t> active(static_cast<size_t>(B * H * Tq));
    for (uint8_t& a : active) a = random() % 3 != 0;
    std::vector<float> salience = random_salience(random, static_cast<size_t>(B * T));
    const std::vector<int64_t> q_strides =
        token_major ? std::vector<int64_t>{Tq * H * D, D, H * D, 1} : std::vector<int64_t>{H * Tq * D, Tq * D, D, 1};

    FluxProblem problem;
    problem.q = tensor(q.data(), dtype, {B, H, Tq, D}, q_strides);
    problem.k = tensor(k.data(), dtype, {B, Hkv, T, D}, {Hkv * T * D, T * D, D, 1});
    problem.v = tensor(v.data(), dtype, {B, Hkv, T, D}, {Hkv * T * D, T * D, D, 1});
    if (random() % 4 != 0) problem.active = tensor(active.data(), PROTEUS_DTYPE_UINT8, {B, H, Tq}, {H * Tq, Tq, 1});
    problem.batch = B;
    problem.heads = H;
    problem.kv_heads = Hkv;
    problem.head_dim = D;
    problem.seq_len = T;
    problem.query_len = Tq;
    problem.query_offset = p0;
    problem.candidates = random_spec(random, policy, T, dna, dense);
    if (problem.candidates.dna_count > 0) {
        problem.salience = tensor(salience.data(), PROTEUS_DTYPE_FLOAT32, {B, T}, {T, 1});
    }
    problem.scale = 1.0f / std::sqrt(static_cast<float>(D));
    problem.launch.struct_size = sizeof problem.launch;

    struct Result {
        std::vector<unsigned char> o;
        std::vector<float> lse;
    };
    const auto compute = [&](int32_t mode, proteus_flux_kernel kernel, Result& result) {
        result.o.assign(static_cast<size_t>(B * H * Tq * D) * bytes, 0xA5);
        result.lse.assign(static_cast<size_t>(B * H * Tq), 12345.0f);
        FluxProblem call = problem;
        call.o = tensor(result.o.data(), dtype, {B, H, Tq, D}, q_strides);
        call.lse = tensor(result.lse.data(), PROTEUS_DTYPE_FLOAT32, {B, H, Tq}, {H * Tq, Tq, 1});
        return run_mode(backend, call, mode, kernel);
    };
    Result tiles, reference, tiles_again;
    if (!compute(PROTEUS_LAUNCH_AUTO, PROTEUS_KERNEL_CPU_TILE, tiles) ||
        !compute(PROTEUS_LAUNCH_REFERENCE, PROTEUS_KERNEL_CPU_REFERENCE, reference)) {
        return;
    }
    double error = 0.0, norm = 0.0;
    for (size_t e = 0; e < tiles.o.size() / bytes; ++e) {
        const double ours = decode(dtype, tiles.o.data(), e), theirs = decode(dtype, reference.o.data(), e);
        CHECK(std::isfinite(ours), "element %zu is %g", e, ours);
        error += (ours - theirs) * (ours - theirs);
        norm += theirs * theirs;
    }
    const double relative = norm > 0.0 ? std::sqrt(error / norm) : std::sqrt(error);
    int64_t lse_differing = 0;
    for (size_t r = 0; r < tiles.lse.size(); ++r) {
        const float a = tiles.lse[r], b = reference.lse[r];
        const bool same = std::isinf(b) ? a == b : std::fabs(a - b) <= 1e-5f * (1.0f + std::fabs(b));
        lse_differing += !same;
    }
    CHECK(relative <= tolerance(dtype) && lse_differing == 0,
          "%s dna=%d dense=%d dtype=%d B=%lld H=%lld Hkv=%lld D=%lld T=%lld p0=%lld Tq=%lld W=%lld S=%lld A=%lld "
          "K=%lld: relative L2 %.3g, %lld lse differ",
          policy_name(policy), dna, dense, dtype, static_cast<long long>(B), static_cast<long long>(H),
          static_cast<long long>(Hkv), static_cast<long long>(D), static_cast<long long>(T),
          static_cast<long long>(p0), static_cast<long long>(Tq), static_cast<long long>(problem.candidates.window),
          static_cast<long long>(problem.candidates.anchor_stride),
          static_cast<long long>(problem.candidates.anchor_count),
          static_cast<long long>(problem.candidates.dna_count), relative, static_cast<long long>(lse_differing));

    const int32_t threads = backend.threads();
    CHECK(backend.set_threads(3) == PROTEUS_STATUS_OK, "set_threads(3)");
    compute(PROTEUS_LAUNCH_AUTO, PROTEUS_KERNEL_CPU_TILE, tiles_again);
    CHECK(backend.set_threads(threads) == PROTEUS_STATUS_OK, "set_threads back");
    CHECK(tiles_again.o == tiles.o && std::memcmp(tiles_again.lse.data(), tiles.lse.data(), tiles.lse.size() * 4) == 0,
          "the tile kernel's bits depend on the thread count (T=%lld)", static_cast<long long>(T));
}

void check_tiles_against_reference(Backend& backend)
{
    std::mt19937_64 random(11);
    const proteus_dtype dtypes[] = {PROTEUS_DTYPE_FLOAT32, PROTEUS_DTYPE_FLOAT16, PROTEUS_DTYPE_BFLOAT16};
    const proteus_candidate_policy policies[] = {PROTEUS_POLICY_ALIGNED, PROTEUS_POLICY_RELATIVE};
    for (int round = 0; round < 4; ++round) {
        for (const proteus_dtype dtype : dtypes) {
            for (const proteus_candidate_policy policy : policies) {
                for (const bool dna : {false, true}) {
                    check_tiles_case(backend, random, dtype, policy, dna, false, 300);
                }
            }
            check_tiles_case(backend, random, dtype, PROTEUS_POLICY_ALIGNED, false, true, 300);
        }
    }
    // Longer rows: several key chunks per tile and tiles of every kind of overlap.
    for (const proteus_dtype dtype : dtypes) {
        check_tiles_case(backend, random, dtype, PROTEUS_POLICY_ALIGNED, false, true, 700);
        check_tiles_case(backend, random, dtype, PROTEUS_POLICY_RELATIVE, true, false, 700);
    }
}

// ---- The worker pool -------------------------------------------------------------------------------

/** A pool runs every task once, on the same threads call after call (no thread is made per call). */
void check_worker_pool()
{
    proteus::cpu::WorkerPool pool;
    CHECK(pool.start(3) == PROTEUS_STATUS_OK, "start(3)");
    CHECK(pool.threads() == 3, "threads %d", pool.threads());
    std::vector<std::thread::id> first, second;
    std::vector<std::atomic<int>> runs(200);
    for (std::vector<std::thread::id>* seen : {&first, &second}) {
        std::mutex mutex;
        pool.run(200, [&](int worker, int64_t index) {
            CHECK(worker >= 0 && worker < 3, "worker %d", worker);
            ++runs[static_cast<size_t>(index)];
            std::this_thread::sleep_for(std::chrono::microseconds(200));  // let every worker take some
            std::lock_guard<std::mutex> lock(mutex);
            if (std::find(seen->begin(), seen->end(), std::this_thread::get_id()) == seen->end()) {
                seen->push_back(std::this_thread::get_id());
            }
        });
    }
    CHECK(std::all_of(runs.begin(), runs.end(), [](const std::atomic<int>& n) { return n == 2; }),
          "a task ran other than once per call");
    std::sort(first.begin(), first.end());
    std::sort(second.begin(), second.end());
    CHECK(first.size() == 3 && first == second, "threads: %zu then %zu, or different ones", first.size(),
          second.size());

    bool thrown = false;
    try {
        pool.run(50, [](int, int64_t index) {
            if (index == 7) throw std::runtime_error("task 7");
        });
    } catch (const std::runtime_error& error) {
        thrown = std::strcmp(error.what(), "task 7") == 0;
    }
    CHECK(thrown, "a task's exception did not reach the caller");
}

void check_threads_setting(Backend& backend)
{
    const int32_t threads = backend.threads();
    CHECK(threads >= 1, "threads %d", threads);
    CHECK(backend.set_threads(2) == PROTEUS_STATUS_OK && backend.threads() == 2, "set_threads(2): %d",
          backend.threads());
    for (const int32_t bad : {0, -1, 4097}) {
        expect_error(backend.set_threads(bad), PROTEUS_STATUS_INVALID_ARGUMENT, "threads", "set_threads");
        CHECK(backend.threads() == 2, "a refused count changed the threads to %d", backend.threads());
    }
    CHECK(backend.set_threads(threads) == PROTEUS_STATUS_OK, "set_threads back");
}

}  // namespace

int main()
{
    std::unique_ptr<Backend> backend = make_backend();
    check_launch_validation(*backend);
    check_wraps(*backend);
    check_allocation_limits(*backend);
    check_arena_reuse();
    check_gather_without_dna_is_bounded(*backend);
    check_gather_rows(*backend);
    check_slices(*backend);
    check_worker_pool();
    check_threads_setting(*backend);
    check_tiles_against_reference(*backend);
    backend.reset();
    if (failures != 0) {
        std::fprintf(stderr, "cpu_backend_check: %d failures\n", failures);
        return 1;
    }
    std::printf("cpu_backend_check: all passed\n");
    return 0;
}
