// The DNA candidates of the tile kernel and the row mode (gpu/flux_dna.h): a causal prefix top K of
// each batch row's salience in three parallel passes, O(T·K) work in all.
//
// Every prefix up to the last row's is walked (the top K of [0, p] depends on all of [0, p]), cut into
// chunks: the lead-in [0, first_prefix) before the slice's first row with DNA keys (query slices:
// row r is position p0 + r; first_prefix = max(p0, W) − W) in chunks of kChunkPrefixes, walked only
// for their top K; then the prefixes the rows use (p = i − W for the slice's rows i ≥ W) in chunks
// that begin where a query tile begins (about kChunkPrefixes prefixes, whole tiles of block_q rows;
// a tile's first row need not sit at a multiple of block_q). A walker is one
// group of 32 lanes holding a sorted top-K list, E ≤ 8 rank keys per lane (lane l holds ranks E·l …
// E·l + E − 1, best first, 0 where empty). It reads 32 salience values at a time; one ballot finds the
// keys that beat the current K-th best, and only those (K/p of them on random salience) are inserted:
// the count of better keys (a ballot over the lanes whose keys all beat it, plus one shuffle) gives the
// rank, and one shuffle shifts the tail down.
//   1. dna_chunk_best: each walker, starting empty, walks its chunk: the top K of the chunk alone.
//   2. dna_chunk_scan: an inclusive scan of those lists over the chunks, ⌈log2 chunks⌉ Hillis–Steele
//      steps, each merging pairs of lists in parallel (rank of a key in the union =
//      its rank in its own list + the number of keys above it in the other, by binary search): entry
//      m − 1 is the top K of everything before chunk m.
//   3. dna_walk (the slice's chunks only): each walker walks its chunk again from that start, writing
//      every prefix's K-th best key (the threshold), and for every query tile the list of its DNA
//      keys: the top K of its first prefix (written when the walk reaches it), then each later prefix
//      of the tile that enters.
// Everything a group does is uniform across its lanes (the ballots, the inserted key, the rank), so
// the groups never diverge; the scan's blocks are one group each, and its barrier is outside any branch
// that depends on the lane.
#include "gpu/flux_dna.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include "gpu/device_call.h"
#include "core/error.h"

namespace proteus::gpu {
namespace {

constexpr int kGroup = 32;             // lanes of one walker
constexpr int kWalkersPerBlock = 4;
// Prefixes per walker, about (whole query tiles). A walker's work is about one insertion per prefix
// wherever it starts, so shorter chunks only add walkers (at T = 256K, 1024 of them rather than 256,
// which left most of the device idle) and steps of the scan (O(log chunks)).
constexpr int64_t kChunkPrefixes = 256;

struct DnaArgs {
    const float* salience = nullptr;
    int64_t salience_batch = 0, salience_token = 0;  // strides in elements
    int64_t batch = 0;
    int64_t window = 0;
    int64_t query_offset = 0;  // p0: query row r is position p0 + r
    int64_t first_prefix = 0;  // max(p0, W) − W: the first prefix a row uses
    int64_t prefix_end = 0;    // p0 + Tq − W: prefixes [0, prefix_end) are walked
    int32_t keys = 0;          // K, at most prefix_end
    int32_t block_q = 0;
    int32_t first_tile = 0;    // the first query tile with a row at a position ≥ W
    int32_t query_tiles = 0;   // ⌈Tq / block_q⌉
    int32_t chunk_tiles = 0;   // query tiles per chunk of the slice
    int32_t lead_chunks = 0;   // chunks of [0, first_prefix), kChunkPrefixes each
    int32_t chunks = 0;        // per batch row, lead_chunks included
    int32_t capacity = 0;      // of a tile's list
};

/** The order-preserving rank key of key j (see gpu/flux_dna.h): NaN as −inf, −0 as +0 (they tie). */
__device__ __forceinline__ uint64_t rank_key(float value, int64_t j)
{
    if (value != value) value = -INFINITY;
    if (value == 0.0f) value = 0.0f;
    uint32_t bits = __float_as_uint(value);
    bits = (bits & 0x80000000u) != 0 ? ~bits : bits | 0x80000000u;
    return (uint64_t{bits} << 32) | static_cast<uint32_t>(j);
}

__device__ __forceinline__ uint64_t shuffle64(uint64_t value, int source)
{
    const uint32_t low = group_shuffle(static_cast<uint32_t>(value), source, kGroup);
    const uint32_t high = group_shuffle(static_cast<uint32_t>(value >> 32), source, kGroup);
    return (uint64_t{high} << 32) | low;
}

/**
 * The prefixes [begin, end) of chunk m: a lead-in chunk (m < lead_chunks) of [0, first_prefix), else
 * the prefixes of the rows of query tiles first_tile + (m − lead_chunks)·chunk_tiles …, whose rows
 * are at positions p0 + tile·block_q … (the first tile's first prefix is first_prefix).
 */
struct PrefixRange {
    int64_t begin, end;
};

__device__ PrefixRange chunk_prefixes(const DnaArgs& args, int64_t m)
{
    if (m < args.lead_chunks) {
        const int64_t begin = m * kChunkPrefixes;
        return {begin, begin + kChunkPrefixes < args.first_prefix ? begin + kChunkPrefixes : args.first_prefix};
    }
    const int64_t first = args.first_tile + (m - args.lead_chunks) * args.chunk_tiles;
    const int64_t last = first + args.chunk_tiles < args.query_tiles ? first + args.chunk_tiles : args.query_tiles;
    const int64_t begin = args.query_offset + first * args.block_q - args.window;
    const int64_t end = args.query_offset + last * args.block_q - args.window;
    return {begin > args.first_prefix ? begin : args.first_prefix, end < args.prefix_end ? end : args.prefix_end};
}

/** A sorted top-K list held by one group, E rank keys per lane. */
template <int E>
struct TopKeys {
    uint64_t entry[E];  // ranks E·lane + e
    uint64_t kth;       // the key of rank K − 1 (0 while fewer than K): what a new key must beat
    int lane;
    int32_t keys;       // K

    __device__ TopKeys(int lane_, int32_t keys_) : kth(0), lane(lane_), keys(keys_)
    {
        for (auto& key : entry) key = 0;
    }

    /** The key of rank r (uniform r), to every lane. */
    __device__ uint64_t rank(int r) const
    {
        uint64_t mine = 0;
        for (int e = 0; e < E; ++e) {
            if (e == r % E) mine = entry[e];
        }
        return shuffle64(mine, r / E);
    }

    __device__ void load(const uint64_t* list)
    {
        for (int e = 0; e < E; ++e) {
            const int r = E * lane + e;
            entry[e] = r < keys ? list[r] : 0;
        }
        kth = rank(keys - 1);
    }

    /** Writes ranks 0 … count − 1. */
    __device__ void store(uint64_t* list, int32_t count) const
    {
        for (int e = 0; e < E; ++e) {
            const int r = E * lane + e;
            if (r < count) list[r] = entry[e];
        }
    }

    /** Inserts x, which beats kth (so it enters); the key of rank K − 1 drops out. Uniform x. */
    __device__ void insert(uint64_t x)
    {
        int better = 0;  // this lane's keys above x: the lanes whose keys all are form a prefix
        for (const uint64_t key : entry) better += key > x;
        const int boundary = __popc(group_ballot(better == E));  // < 32: rank K − 1 is below x
        const int at = E * boundary + static_cast<int>(group_shuffle(static_cast<uint32_t>(better), boundary, kGroup));
        const uint64_t carry = shuffle64(entry[E - 1], (lane + kGroup - 1) % kGroup);  // rank E·lane − 1
        for (int e = E - 1; e >= 0; --e) {
            const int r = E * lane + e;
            const uint64_t moved = e > 0 ? entry[e - 1] : carry;
            entry[e] = r >= keys ? 0 : r < at ? entry[e] : r == at ? x : moved;
        }
        kth = rank(keys - 1);
    }
};

__device__ __forceinline__ uint64_t salience_key(const DnaArgs& args, int64_t b, int64_t p, int64_t end)
{
    return p < end ? rank_key(args.salience[b * args.salience_batch + p * args.salience_token], p) : 0;
}

template <int E>
__global__ void __launch_bounds__(kWalkersPerBlock* kGroup) dna_chunk_best(const DnaArgs args, uint64_t* summaries)
{
    const int lane = static_cast<int>(threadIdx.x) % kGroup;
    const int64_t walker = static_cast<int64_t>(blockIdx.x) * kWalkersPerBlock + threadIdx.x / kGroup;
    if (walker >= args.batch * args.chunks) return;  // the whole group
    const int64_t b = walker / args.chunks;
    const PrefixRange range = chunk_prefixes(args, walker % args.chunks);
    TopKeys<E> best(lane, args.keys);
    for (int64_t p0 = range.begin; p0 < range.end; p0 += kGroup) {
        const uint64_t key = salience_key(args, b, p0 + lane, range.end);
        for (uint32_t candidates = group_ballot(key > best.kth); candidates != 0; candidates &= candidates - 1) {
            const uint64_t x = shuffle64(key, __ffs(candidates) - 1);
            if (x > best.kth) best.insert(x);
        }
    }
    best.store(summaries + walker * args.keys, args.keys);
}

/** Keys of `list` (descending, 0-padded, `count` long) above x > 0. */
__device__ int count_above(const uint64_t* list, int count, uint64_t x)
{
    int low = 0, high = count;
    while (low < high) {
        const int middle = (low + high) / 2;
        if (list[middle] > x) {
            low = middle + 1;
        } else {
            high = middle;
        }
    }
    return low;
}

/**
 * One Hillis–Steele step over each batch row's chunk lists: out[m] = the top K of in[m] ∪ in[m − offset]
 * for m ≥ offset, else in[m]. Before the step of offset 2^d, entry m covers chunks (m − 2^d, m], so the
 * two merged lists cover disjoint chunks and hold distinct keys; after ⌈log2 chunks⌉ steps entry m is
 * the top K of chunks 0 … m. One block of kGroup threads per (batch row, chunk).
 */
__global__ void __launch_bounds__(kGroup) dna_chunk_scan(const DnaArgs args, const uint64_t* in, uint64_t* out, int64_t offset)
{
    __shared__ uint64_t mine[kMaxTileDnaKeys];
    __shared__ uint64_t other[kMaxTileDnaKeys];
    const int lane = static_cast<int>(threadIdx.x);
    const int64_t list = blockIdx.x;  // b · chunks + m
    const int K = args.keys;
    uint64_t* const result = out + list * K;
    if (list % args.chunks < offset) {
        for (int r = lane; r < K; r += kGroup) result[r] = in[list * K + r];
        return;
    }
    for (int r = lane; r < K; r += kGroup) {
        mine[r] = in[list * K + r];
        other[r] = in[(list - offset) * K + r];
    }
    __syncthreads();
    // A key's rank in the union = its rank in its own list + the keys above it in the other.
    for (int r = lane; r < K; r += kGroup) {
        const uint64_t x = mine[r];
        const int x_at = x != 0 ? r + count_above(other, K, x) : K;
        if (x_at < K) result[x_at] = x;
        const uint64_t y = other[r];
        const int y_at = y != 0 ? r + count_above(mine, K, y) : K;
        if (y_at < K) result[y_at] = y;
    }
    // The union holds fewer than K keys only early on: the ranks past it are empty.
    const int held = count_above(mine, K, 0) + count_above(other, K, 0);
    for (int r = held + lane; r < K; r += kGroup) result[r] = 0;
}

/** Walks the slice's chunks: one walker per (batch row, chunk m ≥ lead_chunks). */
template <int E>
__global__ void __launch_bounds__(kWalkersPerBlock* kGroup)
    dna_walk(const DnaArgs args, const uint64_t* covered, uint64_t* thresholds, uint64_t* lists, int32_t* counts)
{
    const int lane = static_cast<int>(threadIdx.x) % kGroup;
    const int64_t walker = static_cast<int64_t>(blockIdx.x) * kWalkersPerBlock + threadIdx.x / kGroup;
    const int64_t slice_chunks = args.chunks - args.lead_chunks;
    if (walker >= args.batch * slice_chunks) return;  // the whole group
    const int64_t b = walker / slice_chunks;
    const int64_t chunk = b * args.chunks + args.lead_chunks + walker % slice_chunks;
    const PrefixRange range = chunk_prefixes(args, chunk % args.chunks);
    TopKeys<E> best(lane, args.keys);  // empty: the start of a batch row's first chunk
    if (chunk % args.chunks != 0) best.load(covered + (chunk - 1) * args.keys);  // the top K of the chunks before

    // The chunk begins where a query tile does, so its first prefix opens a list. Prefix p's threshold
    // is entry p − first_prefix of the batch row's (gpu/flux_dna.h).
    uint64_t* const batch_thresholds = thresholds + b * (args.prefix_end - args.first_prefix);
    uint64_t* list = nullptr;
    int32_t* count = nullptr;
    int32_t fill = 0;
    for (int64_t base = range.begin; base < range.end; base += kGroup) {
        const int64_t p = base + lane;
        const uint64_t key = salience_key(args, b, p, range.end);
        // A query tile's first prefix: row position p + W begins a tile (p + W − p0 a multiple of
        // block_q), or p = first_prefix (the first tile with a row ≥ W, which may begin below W).
        const bool opens =
            p < range.end && (p == args.first_prefix || (p + args.window - args.query_offset) % args.block_q == 0);
        const uint32_t openings = group_ballot(opens);
        uint64_t threshold = best.kth;  // after this lane's prefix
        for (uint32_t events = group_ballot(key > best.kth) | openings; events != 0; events &= events - 1) {
            const int source = __ffs(events) - 1;
            const uint64_t x = shuffle64(key, source);
            const bool enters = x > best.kth;
            if (enters) best.insert(x);
            if ((openings >> source & 1) != 0) {
                const int64_t prefix = base + source;
                const int64_t tile = (prefix + args.window - args.query_offset) / args.block_q;
                list = lists + (b * args.query_tiles + tile) * args.capacity;
                count = counts + b * args.query_tiles + tile;
                fill = static_cast<int32_t>(prefix + 1 < args.keys ? prefix + 1 : args.keys);
                best.store(list, fill);
            } else if (enters) {
                if (lane == 0) list[fill] = x;
                ++fill;
            }
            if (lane == 0) *count = fill;
            if (lane >= source) threshold = best.kth;
        }
        if (p < range.end) batch_thresholds[p - args.first_prefix] = threshold;
    }
}

template <int E>
proteus_status launch_walks(const DnaArgs& args, uint64_t* summaries, uint64_t* starts, TileDna& dna, uint64_t* thresholds,
                            uint64_t* lists, int32_t* counts, cudaStream_t stream)
{
    const auto blocks_for = [](int64_t walkers) {
        return static_cast<unsigned>((walkers + kWalkersPerBlock - 1) / kWalkersPerBlock);
    };
    dna_chunk_best<E><<<blocks_for(args.batch * args.chunks), kWalkersPerBlock * kGroup, 0, stream>>>(args, summaries);
    proteus_status status = check_launch("dna_chunk_best");
    if (status != PROTEUS_STATUS_OK) return status;
    // The chunk lists' inclusive scan, ping-ponging between summaries and starts.
    uint64_t* covered = summaries;
    uint64_t* spare = starts;
    const auto lists_count = static_cast<unsigned>(args.batch * args.chunks);
    for (int64_t offset = 1; offset < args.chunks; offset *= 2) {
        dna_chunk_scan<<<lists_count, kGroup, 0, stream>>>(args, covered, spare, offset);
        if ((status = check_launch("dna_chunk_scan")) != PROTEUS_STATUS_OK) return status;
        std::swap(covered, spare);
    }
    const int64_t slice_walkers = args.batch * (args.chunks - args.lead_chunks);
    dna_walk<E><<<blocks_for(slice_walkers), kWalkersPerBlock * kGroup, 0, stream>>>(args, covered, thresholds, lists,
                                                                                      counts);
    if ((status = check_launch("dna_walk")) != PROTEUS_STATUS_OK) return status;
    dna.thresholds = thresholds;
    dna.lists = lists;
    dna.counts = counts;
    return PROTEUS_STATUS_OK;
}

}  // namespace

proteus_status build_tile_dna(const FluxProblem& problem, int block_q, StreamWorkspace& workspace, cudaStream_t stream,
                              TileDna& dna)
{
    dna = TileDna{};
    if (!has_dna_keys(problem)) return PROTEUS_STATUS_OK;
    DnaArgs args;
    args.salience = static_cast<const float*>(problem.salience.data);
    args.salience_batch = problem.salience.strides[0];
    args.salience_token = problem.salience.strides[1];
    args.batch = problem.batch;
    // Query row r is position p0 + r; rows at positions i ≥ W take prefix i − W.
    const int64_t W = problem.candidates.window;
    const int64_t p0 = problem.query_offset;
    const int64_t first_dna_position = std::max(p0, W);
    args.window = W;
    args.query_offset = p0;
    args.first_prefix = first_dna_position - W;
    args.prefix_end = last_query_position(problem) + 1 - W;
    args.keys = static_cast<int32_t>(std::min(problem.candidates.dna_count, args.prefix_end));
    args.block_q = block_q;
    args.first_tile = static_cast<int32_t>((first_dna_position - p0) / block_q);
    args.query_tiles = static_cast<int32_t>((problem.query_len + block_q - 1) / block_q);
    args.chunk_tiles = static_cast<int32_t>(std::max<int64_t>(1, kChunkPrefixes / block_q));
    args.lead_chunks = static_cast<int32_t>((args.first_prefix + kChunkPrefixes - 1) / kChunkPrefixes);
    args.chunks = args.lead_chunks + (args.query_tiles - args.first_tile + args.chunk_tiles - 1) / args.chunk_tiles;
    args.capacity = args.keys + block_q;
    dna.first_prefix = args.first_prefix;
    dna.prefixes = args.prefix_end - args.first_prefix;
    dna.keys = args.keys;
    dna.capacity = args.capacity;
    dna.block_q = block_q;
    dna.query_tiles = args.query_tiles;
    if (dna.prefixes <= 0 || args.keys <= 0 || args.keys > kMaxTileDnaKeys) {
        return set_error(PROTEUS_STATUS_INTERNAL_ERROR,
                         "tile DNA candidates for K = " + std::to_string(problem.candidates.dna_count) + " over " +
                             std::to_string(dna.prefixes) + " prefixes of query rows");
    }

    const auto batch = static_cast<uint64_t>(args.batch);
    const uint64_t chunk_lists = batch * static_cast<uint64_t>(args.chunks) * static_cast<uint64_t>(args.keys);
    const uint64_t tiles = batch * static_cast<uint64_t>(args.query_tiles);
    uint64_t* summaries = nullptr;
    uint64_t* starts = nullptr;
    uint64_t* thresholds = nullptr;
    uint64_t* lists = nullptr;
    int32_t* counts = nullptr;
    proteus_status status = workspace.allocate(chunk_lists, &summaries);
    if (status == PROTEUS_STATUS_OK) status = workspace.allocate(chunk_lists, &starts);
    if (status == PROTEUS_STATUS_OK) status = workspace.allocate(batch * static_cast<uint64_t>(dna.prefixes), &thresholds);
    if (status == PROTEUS_STATUS_OK) status = workspace.allocate(tiles * static_cast<uint64_t>(args.capacity), &lists);
    if (status == PROTEUS_STATUS_OK) status = workspace.allocate(tiles, &counts);
    if (status != PROTEUS_STATUS_OK) return status;

    if (args.keys <= 32) return launch_walks<1>(args, summaries, starts, dna, thresholds, lists, counts, stream);
    if (args.keys <= 64) return launch_walks<2>(args, summaries, starts, dna, thresholds, lists, counts, stream);
    if (args.keys <= 128) return launch_walks<4>(args, summaries, starts, dna, thresholds, lists, counts, stream);
    return launch_walks<8>(args, summaries, starts, dna, thresholds, lists, counts, stream);
}

}  // namespace proteus::gpu
