// Issue 8's graph-capture acceptance: every GPU path of proteus_flux_attention_v2 is captured into a CUDA
// graph with cudaStreamCaptureModeGlobal (which fails on any synchronous allocation, synchronisation or
// read-back inside the call), replayed, and equals the eager result bit for bit (same kernel, same inputs).
//
// Per case, on one context made with proteus_context_create_on_stream over a stream of our own:
//   1. random inputs (never zeros), outputs poisoned with NaN, one eager call: every output element written
//      (o finite, lse finite on active rows and -inf on inactive ones, o = 0 there), the kernel the case
//      exists for ran (proteus_flux_run_info), the query offset is the one asked for;
//   2. capture the same call; any CUDA error ends the case as FAIL with the runtime's text;
//   3. poison, replay, compare with the eager result; twice;
//   4. new random inputs (the masked cases flip their density across the row mode's 25 % threshold, so the
//      device must decide again), eager call, poison, replay: equal again, and different from step 1.
// Prints one PASS/FAIL line per case; exit status 1 on any FAIL.
// Build (from the repository root, after building build-cuda; nvcc links the CUDA runtime):
//   nvcc -O2 -std=c++17 -Inative/include tests/gpu/graph_check.cpp -Lbuild-cuda/lib -lproteus
//        -Xlinker -rpath,$PWD/build-cuda/lib -o build-cuda/graph_check
// Run:  build-cuda/graph_check [T] [SEED]     (T ≥ 300 keeps every case's DNA keys; default 2048)
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "proteus/proteus.h"

namespace {

constexpr int64_t kBatch = 2, kHeads = 8, kKvHeads = 2, kHeadDim = 64;
constexpr int64_t kDense = INT64_MAX / 4;
/** Any kernel: the slice cases accept whatever the dispatcher picks for one row or a chunk. */
constexpr int32_t kAnyKernel = -1;

const char* kernel_name(int32_t kernel)
{
    switch (kernel) {
    case PROTEUS_KERNEL_NONE: return "NONE";
    case PROTEUS_KERNEL_CPU_REFERENCE: return "CPU_REFERENCE";
    case PROTEUS_KERNEL_GPU_TILE: return "GPU_TILE";
    case PROTEUS_KERNEL_GPU_ROW_MODE: return "GPU_ROW_MODE";
    case PROTEUS_KERNEL_GPU_ROW: return "GPU_ROW";
    case PROTEUS_KERNEL_GPU_TILE_OR_ROW_MODE: return "GPU_TILE_OR_ROW_MODE";
    case PROTEUS_KERNEL_GPU_EXPLICIT: return "GPU_EXPLICIT";
    case PROTEUS_KERNEL_GPU_TILE_WGMMA: return "GPU_TILE_WGMMA";
    default: return "?";
    }
}

std::string cuda_text(cudaError_t error)
{
    return std::string(cudaGetErrorName(error)) + " (" + cudaGetErrorString(error) + ")";
}

std::string proteus_text(proteus_status status)
{
    return "status " + std::to_string(status) + ": " + proteus_last_error_message();
}

/** A failed step of a case: what failed, with the library's or the runtime's words. */
struct Failure {
    std::string what;
};

void require(proteus_status status, const char* what)
{
    if (status != PROTEUS_STATUS_OK) throw Failure{std::string(what) + " failed: " + proteus_text(status)};
}

void require(cudaError_t error, const char* what)
{
    if (error != cudaSuccess) throw Failure{std::string(what) + " failed: " + cuda_text(error)};
}

/** One library-owned device buffer; destroyed with the case. */
struct Buffer {
    proteus_buffer handle = nullptr;
    uint64_t bytes = 0;

    Buffer(proteus_context context, uint64_t n) : bytes(n) { require(proteus_buffer_create(context, n, &handle), "buffer_create"); }
    ~Buffer() { proteus_buffer_destroy(handle); }
    Buffer(const Buffer&) = delete;
    Buffer& operator=(const Buffer&) = delete;

    void upload(const void* data) { require(proteus_buffer_upload(handle, 0, data, bytes), "buffer_upload"); }
    std::vector<uint8_t> download() const
    {
        std::vector<uint8_t> data(bytes);
        require(proteus_buffer_download(handle, 0, data.data(), bytes), "buffer_download");
        return data;
    }
    /** 0xFF in every byte: NaN in float32, float16 and bfloat16 alike. */
    void poison() { const uint8_t nan_bytes = 0xFF; require(proteus_buffer_fill(handle, 0, bytes, &nan_bytes, 1), "buffer_fill"); }
};

/** A contiguous view of `buffer` with the given shape. */
proteus_tensor contiguous(const Buffer& buffer, proteus_dtype dtype, std::initializer_list<int64_t> shape)
{
    proteus_tensor t{};
    t.buffer = buffer.handle;
    t.dtype = dtype;
    t.rank = static_cast<int32_t>(shape.size());
    int64_t stride = 1;
    for (int a = PROTEUS_MAX_RANK - 1; a >= 0; --a) {
        t.shape[a] = a < t.rank ? *(shape.begin() + a) : 1;
        t.strides[a] = a < t.rank ? stride : 0;
        if (a < t.rank) stride *= t.shape[a];
    }
    return t;
}

struct CaseSpec {
    const char* name;
    proteus_dtype dtype;
    proteus_candidate_policy policy;
    int64_t window, anchor_stride, anchor_count, dna_count, seed_cap, seed_local_cap;
    int active_percent;  // 0: no active tensor (every row); else the density of the first input set
    proteus_launch_mode mode;
    int64_t query_len;   // 0: Tq = T
    int64_t query_offset;  // -1: default p0 (T − Tq, no flag); else explicit with PROTEUS_FLUX_QUERY_OFFSET
    int32_t expected_kernel;
};

/** Random values of a storage type, never zero: a normal sample, bfloat16 by truncation of its bits. */
void fill_values(std::vector<uint8_t>& bytes, proteus_dtype dtype, std::mt19937_64& rng)
{
    std::normal_distribution<float> normal(0.0f, 1.0f);
    auto sample = [&] {
        float x = 0.0f;
        while (x == 0.0f) x = normal(rng);
        return x;
    };
    if (dtype == PROTEUS_DTYPE_FLOAT32) {
        for (size_t e = 0; e + 4 <= bytes.size(); e += 4) { const float x = sample(); std::memcpy(&bytes[e], &x, 4); }
    } else {
        for (size_t e = 0; e + 2 <= bytes.size(); e += 2) {
            uint16_t bits = 0;
            while ((bits & 0x7fff) == 0) {  // a tiny sample can truncate to ±0
                const float x = sample();
                uint32_t wide;
                std::memcpy(&wide, &x, 4);
                bits = static_cast<uint16_t>(wide >> 16);
            }
            std::memcpy(&bytes[e], &bits, 2);
        }
    }
}

bool finite_element(const uint8_t* p, proteus_dtype dtype)
{
    if (dtype == PROTEUS_DTYPE_FLOAT32) { float x; std::memcpy(&x, p, 4); return std::isfinite(x); }
    uint16_t bits;
    std::memcpy(&bits, p, 2);
    return (bits & 0x7f80) != 0x7f80;  // bfloat16: exponent all ones is Inf or NaN
}

bool zero_element(const uint8_t* p, proteus_dtype dtype)
{
    if (dtype == PROTEUS_DTYPE_FLOAT32) { float x; std::memcpy(&x, p, 4); return x == 0.0f; }
    uint16_t bits;
    std::memcpy(&bits, p, 2);
    return (bits & 0x7fff) == 0;
}

/** Elements (of `element` bytes) where two results differ, and the first of them. */
std::string compare(const std::vector<uint8_t>& expected, const std::vector<uint8_t>& actual, size_t element, const char* what)
{
    size_t differing = 0, first = 0;
    for (size_t e = 0; e < expected.size(); e += element) {
        if (std::memcmp(&expected[e], &actual[e], element) != 0 && differing++ == 0) first = e / element;
    }
    if (differing == 0) return "";
    return std::string(what) + ": " + std::to_string(differing) + " of " + std::to_string(expected.size() / element) +
           " elements differ from the eager result (first at " + std::to_string(first) + ")";
}

class GraphCase {
public:
    GraphCase(proteus_context context, cudaStream_t stream, const CaseSpec& spec, int64_t seq_len)
        : context_(context), stream_(stream), spec_(spec), T_(seq_len),
          Tq_(spec.query_len > 0 ? spec.query_len : seq_len),
          element_(spec.dtype == PROTEUS_DTYPE_FLOAT32 ? 4 : 2),
          q_(context, kBatch * kHeads * Tq_ * kHeadDim * element_), k_(context, kBatch * kKvHeads * T_ * kHeadDim * element_),
          v_(context, k_.bytes), o_(context, q_.bytes), active_(context, kBatch * kHeads * Tq_),
          salience_(context, kBatch * T_ * 4), lse_(context, kBatch * kHeads * Tq_ * 4)
    {
        tensors_.struct_size = sizeof tensors_;
        if (spec.query_offset >= 0) {
            tensors_.flags = PROTEUS_FLUX_QUERY_OFFSET;
            tensors_.query_offset = spec.query_offset;
        }
        tensors_.q = contiguous(q_, spec.dtype, {kBatch, kHeads, Tq_, kHeadDim});
        tensors_.k = contiguous(k_, spec.dtype, {kBatch, kKvHeads, T_, kHeadDim});
        tensors_.v = contiguous(v_, spec.dtype, {kBatch, kKvHeads, T_, kHeadDim});
        tensors_.o = contiguous(o_, spec.dtype, {kBatch, kHeads, Tq_, kHeadDim});
        if (spec.active_percent > 0) tensors_.active = contiguous(active_, PROTEUS_DTYPE_UINT8, {kBatch, kHeads, Tq_});
        if (spec.dna_count > 0) tensors_.salience = contiguous(salience_, PROTEUS_DTYPE_FLOAT32, {kBatch, T_});
        tensors_.lse = contiguous(lse_, PROTEUS_DTYPE_FLOAT32, {kBatch, kHeads, Tq_});
        params_.struct_size = sizeof params_;
        params_.policy = spec.policy;
        params_.window = spec.window;
        params_.anchor_stride = spec.anchor_stride;
        params_.anchor_count = spec.anchor_count;
        params_.dna_count = spec.dna_count;
        params_.seed_cap = spec.seed_cap;
        params_.seed_local_cap = spec.seed_local_cap;
        params_.use_default_scale = 1;
        launch_.struct_size = sizeof launch_;
        launch_.mode = spec.mode;
    }

    ~GraphCase()
    {
        if (exec_) cudaGraphExecDestroy(exec_);
        if (graph_) cudaGraphDestroy(graph_);
    }
    GraphCase(const GraphCase&) = delete;
    GraphCase& operator=(const GraphCase&) = delete;

    /** The whole check; returns the PASS line's details, throws Failure otherwise. */
    std::string run(std::mt19937_64& rng)
    {
        // 1. Eager on the first input set.
        new_inputs(rng, spec_.active_percent);
        const Result first = eager("eager call");
        // 2. Capture.
        capture();
        if (std::memcmp(&captured_info_, &first.info, sizeof first.info) != 0) {
            throw Failure{std::string("the captured call reports another run than the eager one: kernel ") +
                          kernel_name(captured_info_.kernel) + ", workspace " + std::to_string(captured_info_.workspace_bytes) + " B"};
        }
        size_t nodes = 0;
        require(cudaGraphGetNodes(graph_, nullptr, &nodes), "cudaGraphGetNodes");
        require(cudaGraphInstantiateWithFlags(&exec_, graph_, 0), "cudaGraphInstantiateWithFlags");
        // 3. Two replays over the same inputs.
        for (int replay = 1; replay <= 2; ++replay) expect_equal(first, this->replay(), replay);
        // 4. New inputs (masked cases cross the row mode's density threshold), eager, replay.
        new_inputs(rng, spec_.active_percent > 0 && spec_.active_percent < 25 ? 60 : 10);
        const Result second = eager("eager call on new inputs");
        if (second.o == first.o) throw Failure{"o did not change with new inputs"};
        expect_equal(second, replay(), 3);
        char details[256];
        std::snprintf(details, sizeof details,
                      "kernel %s (block_q %d block_k %d rows/warp %d stages %d), p0 %lld, workspace %llu B, %zu graph nodes",
                      kernel_name(first.info.kernel), first.info.launch.block_q, first.info.launch.block_k,
                      first.info.launch.rows_per_warp, first.info.launch.stages, static_cast<long long>(first.info.query_offset),
                      static_cast<unsigned long long>(first.info.workspace_bytes), nodes);
        return details;
    }

private:
    struct Result {
        std::vector<uint8_t> o, lse;
        proteus_flux_run_info info{};
    };

    int64_t expected_offset() const { return spec_.query_offset >= 0 ? spec_.query_offset : T_ - Tq_; }

    void new_inputs(std::mt19937_64& rng, int active_percent)
    {
        for (Buffer* b : {&q_, &k_, &v_}) {
            std::vector<uint8_t> bytes(b->bytes);
            fill_values(bytes, spec_.dtype, rng);
            b->upload(bytes.data());
        }
        active_rows_.assign(active_.bytes, 1);
        if (spec_.active_percent > 0) {
            std::uniform_int_distribution<int> percent(0, 99);
            for (auto& a : active_rows_) a = percent(rng) < active_percent;
            active_.upload(active_rows_.data());
        }
        // Salience with ties (a few levels) so that the ties-to-larger-j rule is exercised too.
        std::vector<float> salience(kBatch * T_);
        std::uniform_int_distribution<int> level(0, 15);
        for (auto& s : salience) s = static_cast<float>(level(rng)) * 0.25f - 1.0f;
        salience_.upload(salience.data());
    }

    Result eager(const char* what)
    {
        o_.poison();
        lse_.poison();
        Result r;
        r.info.struct_size = sizeof r.info;
        const proteus_status status = proteus_flux_attention_v2(context_, &tensors_, &params_, &launch_, &r.info);
        if (status != PROTEUS_STATUS_OK) throw Failure{std::string(what) + ": " + proteus_text(status)};
        r.o = o_.download();
        r.lse = lse_.download();
        if (spec_.expected_kernel != kAnyKernel && r.info.kernel != spec_.expected_kernel) {
            throw Failure{std::string(what) + " ran " + kernel_name(r.info.kernel) + "; this case exists to capture " +
                          kernel_name(spec_.expected_kernel)};
        }
        if (r.info.kernel == PROTEUS_KERNEL_NONE || r.info.kernel == PROTEUS_KERNEL_CPU_REFERENCE) {
            throw Failure{std::string(what) + " ran " + kernel_name(r.info.kernel) + ", not a GPU kernel"};
        }
        if (r.info.query_offset != expected_offset()) {
            throw Failure{std::string(what) + " reports p0 " + std::to_string(r.info.query_offset) + ", expected " +
                          std::to_string(expected_offset())};
        }
        check_written(r, what);
        return r;
    }

    /** Every output element written: o finite (0 on inactive rows), lse finite on active rows, -inf on inactive. */
    void check_written(const Result& r, const char* what) const
    {
        const size_t rows = static_cast<size_t>(kBatch * kHeads * Tq_);
        for (size_t row = 0; row < rows; ++row) {
            const bool active = active_rows_[row] != 0;
            float lse;
            std::memcpy(&lse, &r.lse[row * 4], 4);
            if (active ? !std::isfinite(lse) : !(std::isinf(lse) && lse < 0)) {
                throw Failure{std::string(what) + ": lse of " + (active ? "active" : "inactive") + " row " + std::to_string(row) +
                              " is " + std::to_string(lse)};
            }
            for (int64_t d = 0; d < kHeadDim; ++d) {
                const uint8_t* p = &r.o[(row * kHeadDim + d) * element_];
                if (!finite_element(p, spec_.dtype) || (!active && !zero_element(p, spec_.dtype))) {
                    throw Failure{std::string(what) + ": o of " + (active ? "active" : "inactive") + " row " + std::to_string(row) +
                                  (active ? " is not finite (unwritten or NaN)" : " is not 0")};
                }
            }
        }
    }

    /** Captures the call; a call that fails or a capture the runtime invalidates is a Failure with its text. */
    void capture()
    {
        require(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeGlobal), "cudaStreamBeginCapture(global)");
        captured_info_.struct_size = sizeof captured_info_;
        const proteus_status status = proteus_flux_attention_v2(context_, &tensors_, &params_, &launch_, &captured_info_);
        const std::string call_error = status == PROTEUS_STATUS_OK ? "" : proteus_text(status);
        cudaStreamCaptureStatus capturing = cudaStreamCaptureStatusNone;
        const cudaError_t query = cudaStreamIsCapturing(stream_, &capturing);
        const cudaError_t end = cudaStreamEndCapture(stream_, &graph_);
        const cudaError_t last = cudaGetLastError();  // clears what an invalidated capture left
        std::string text;
        if (!call_error.empty()) text += "flux call during capture: " + call_error + "; ";
        if (query != cudaSuccess) text += "cudaStreamIsCapturing: " + cuda_text(query) + "; ";
        else if (capturing != cudaStreamCaptureStatusActive) text += "capture invalidated inside the call; ";
        if (end != cudaSuccess) text += "cudaStreamEndCapture: " + cuda_text(end) + "; ";
        if (last != cudaSuccess && last != end) text += "last error: " + cuda_text(last) + "; ";
        if (!text.empty()) throw Failure{text};
    }

    Result replay()
    {
        o_.poison();
        lse_.poison();
        require(cudaGraphLaunch(exec_, stream_), "cudaGraphLaunch");
        require(cudaStreamSynchronize(stream_), "cudaStreamSynchronize after cudaGraphLaunch");
        Result r;
        r.o = o_.download();
        r.lse = lse_.download();
        return r;
    }

    void expect_equal(const Result& expected, const Result& replayed, int replay) const
    {
        const std::string o = compare(expected.o, replayed.o, element_, "o");
        const std::string lse = compare(expected.lse, replayed.lse, 4, "lse");
        if (!o.empty() || !lse.empty()) {
            throw Failure{"replay " + std::to_string(replay) + ": " + o + (o.empty() || lse.empty() ? "" : "; ") + lse};
        }
    }

    proteus_context context_;
    cudaStream_t stream_;
    CaseSpec spec_;
    int64_t T_, Tq_;
    uint64_t element_;
    Buffer q_, k_, v_, o_, active_, salience_, lse_;
    std::vector<uint8_t> active_rows_;
    proteus_flux_tensors tensors_{};
    proteus_flux_params params_{};
    proteus_launch_config launch_{};
    proteus_flux_run_info captured_info_{};
    cudaGraph_t graph_ = nullptr;
    cudaGraphExec_t exec_ = nullptr;
};

}  // namespace

int main(int argc, char** argv)
{
    const int64_t T = argc > 1 ? std::atoll(argv[1]) : 2048;
    const unsigned long long seed = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 1;
    if (T < 300) {
        std::fprintf(stderr, "usage: %s [T >= 300] [SEED]\n", argv[0]);
        return 2;
    }
    const auto BF16 = PROTEUS_DTYPE_BFLOAT16;
    const auto ALIGNED = PROTEUS_POLICY_ALIGNED;
    const auto AUTO = PROTEUS_LAUNCH_AUTO;
    // The Hopper kernel is AUTO's choice for the Aligned policy without a mask on sm_90 (and
    // TILE_WGMMA's there); elsewhere the tile kernel. TILE forces the tile kernel everywhere.
    int device = 0, major = 0;
    const bool hopper = cudaGetDevice(&device) == cudaSuccess &&
                        cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) == cudaSuccess && major == 9;
    const auto WGMMA = hopper ? PROTEUS_LAUNCH_TILE_WGMMA : PROTEUS_LAUNCH_TILE;
    const int32_t wgmma_kernel = hopper ? PROTEUS_KERNEL_GPU_TILE_WGMMA : PROTEUS_KERNEL_GPU_TILE;
    // W 256 < T keeps anchors and DNA keys in every case; K 16 stays inside the tile kernel's DNA budget.
    const CaseSpec cases[] = {
        {"dense bf16 AUTO", BF16, ALIGNED, kDense, 0, 0, 0, 0, 0, 0, AUTO, 0, -1, kAnyKernel},
        {"dense bf16 TILE", BF16, ALIGNED, kDense, 0, 0, 0, 0, 0, 0, PROTEUS_LAUNCH_TILE, 0, -1, PROTEUS_KERNEL_GPU_TILE},
        {"dense bf16 TILE_WGMMA (sm_90)", BF16, ALIGNED, kDense, 0, 0, 0, 0, 0, 0, WGMMA, 0, -1, wgmma_kernel},
        {"window W256 bf16 AUTO", BF16, ALIGNED, 256, 0, 0, 0, 0, 0, 0, AUTO, 0, -1, kAnyKernel},
        {"shortlist W256 S64 A8", BF16, ALIGNED, 256, 64, 8, 0, 0, 0, 0, AUTO, 0, -1, wgmma_kernel},
        {"DNA W256 S64 A8 K16", BF16, ALIGNED, 256, 64, 8, 16, 0, 0, 0, AUTO, 0, -1, wgmma_kernel},
        {"DNA W256 S64 A8 K16 TILE_WGMMA (sm_90)", BF16, ALIGNED, 256, 64, 8, 16, 0, 0, 0, WGMMA, 0, -1, wgmma_kernel},
        {"shortlist W256 S64 A8 TILE", BF16, ALIGNED, 256, 64, 8, 0, 0, 0, 0, PROTEUS_LAUNCH_TILE, 0, -1, PROTEUS_KERNEL_GPU_TILE},
        {"sparse rows 10% AUTO", BF16, ALIGNED, 256, 64, 8, 0, 0, 0, 10, AUTO, 0, -1, PROTEUS_KERNEL_GPU_TILE_OR_ROW_MODE},
        {"sparse rows 10% ROW", BF16, ALIGNED, 256, 64, 8, 0, 0, 0, 10, PROTEUS_LAUNCH_ROW, 0, -1, PROTEUS_KERNEL_GPU_ROW_MODE},
        // DNA in the row mode: AUTO builds one set of lists for both kernels; ROW alone; float32 (no tile kernel).
        {"DNA K16 sparse rows 10% AUTO", BF16, ALIGNED, 256, 64, 8, 16, 0, 0, 10, AUTO, 0, -1, PROTEUS_KERNEL_GPU_TILE_OR_ROW_MODE},
        {"DNA K100 sparse rows 10% ROW", BF16, ALIGNED, 256, 64, 8, 100, 0, 0, 10, PROTEUS_LAUNCH_ROW, 0, -1, PROTEUS_KERNEL_GPU_ROW_MODE},
        {"float32 DNA K16 sparse rows 10% AUTO", PROTEUS_DTYPE_FLOAT32, ALIGNED, 256, 64, 8, 16, 0, 0, 10, AUTO, 0, -1,
         PROTEUS_KERNEL_GPU_ROW_MODE},
        {"Relative W256 S64 A8 K16", BF16, PROTEUS_POLICY_RELATIVE, 256, 64, 8, 16, 0, 0, 0, AUTO, 0, -1, PROTEUS_KERNEL_GPU_ROW},
        {"Seed W256 S64 A8 K16 L200", BF16, PROTEUS_POLICY_SEED, 256, 64, 8, 16, 200, 180, 0, AUTO, 0, -1, PROTEUS_KERNEL_GPU_ROW},
        {"float32 W256 S64 A8 K16", PROTEUS_DTYPE_FLOAT32, ALIGNED, 256, 64, 8, 16, 0, 0, 0, AUTO, 0, -1, PROTEUS_KERNEL_GPU_ROW},
        {"slice Tq 1 p0 T-1, DNA", BF16, ALIGNED, 256, 64, 8, 16, 0, 0, 0, AUTO, 1, T - 1, kAnyKernel},
        {"slice Tq T/4 p0 T/2, DNA, 10% rows", BF16, ALIGNED, 256, 64, 8, 16, 0, 0, 10, AUTO, T / 4, T / 2, kAnyKernel},
        {"slice Tq T/4 default p0, dense", BF16, ALIGNED, kDense, 0, 0, 0, 0, 0, 0, AUTO, T / 4, -1, kAnyKernel},
    };

    cudaStream_t stream = nullptr;
    // A blocking stream: work the library wrongly queued on the legacy default stream would then join
    // (and invalidate) the capture instead of escaping it.
    if (const cudaError_t e = cudaStreamCreate(&stream); e != cudaSuccess) {
        std::printf("FAIL setup: cudaStreamCreate: %s\n", cuda_text(e).c_str());
        return 1;
    }
    proteus_context context = nullptr;
    if (const proteus_status s = proteus_context_create_on_stream(PROTEUS_BACKEND_CUDA, 0, stream, &context); s != PROTEUS_STATUS_OK) {
        std::printf("FAIL setup: proteus_context_create_on_stream: %s\n", proteus_text(s).c_str());
        return 1;
    }
    std::printf("graph capture (cudaStreamCaptureModeGlobal), B %lld H %lld Hkv %lld D %lld T %lld, seed %llu\n",
                static_cast<long long>(kBatch), static_cast<long long>(kHeads), static_cast<long long>(kKvHeads),
                static_cast<long long>(kHeadDim), static_cast<long long>(T), seed);
    std::mt19937_64 rng(seed);
    int failures = 0;
    for (const CaseSpec& spec : cases) {
        std::string line;
        bool ok = true;
        try {
            GraphCase c(context, stream, spec, T);
            line = c.run(rng);
        } catch (const Failure& f) {
            ok = false;
            line = f.what;
        }
        failures += !ok;
        std::printf("%s graph %-36s %s\n", ok ? "PASS" : "FAIL", spec.name, line.c_str());
        std::fflush(stdout);
    }
    if (const proteus_status s = proteus_context_destroy(context); s != PROTEUS_STATUS_OK) {
        std::printf("FAIL teardown: proteus_context_destroy: %s\n", proteus_text(s).c_str());
        ++failures;
    }
    // The caller's stream outlives the context (the library never destroys it).
    if (const cudaError_t e = cudaStreamSynchronize(stream); e != cudaSuccess) {
        std::printf("FAIL teardown: the stream after proteus_context_destroy: %s\n", cuda_text(e).c_str());
        ++failures;
    }
    cudaStreamDestroy(stream);
    std::printf("graph check: %zu cases, %d failures\n", sizeof cases / sizeof cases[0], failures);
    return failures == 0 ? 0 : 1;
}
