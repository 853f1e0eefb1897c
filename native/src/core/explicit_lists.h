// Explicit candidate lists (PROTEUS_POLICY_EXPLICIT, docs/explicit-candidates.md): the addressing and
// the rules of one listed slot, shared by the CPU reference, the GPU kernel and the debug validator.
// A row (b, h, r) of the query slice reads list (b, h) of a per-head tensor [B, H, Tq, L] or list b of a
// shared one [B, Tq, L]; its first length(b, h, r) slots are in use (all L without lengths, a length
// clamped to [0, L]); a slot's index j counts, once per occurrence, when 0 ≤ j ≤ i = p0 + r.
#pragma once

#include <cstdint>

#include "hd.h"

namespace proteus::core {

struct ExplicitLists {
    const int32_t* indices = nullptr;  // element [0, 0, 0(, 0)]
    const int32_t* lengths = nullptr;  // null: every list uses all L slots
    bool per_head = false;                              // [B, H, Tq, L]; else [B, Tq, L] shared by the heads
    int64_t batch = 0, heads = 1, rows = 0, slots = 0;  // heads: H for per-head lists, 1 for shared ones
    int64_t query_offset = 0;                           // p0: row r is position p0 + r
    int64_t batch_stride = 0, head_stride = 0, row_stride = 0;  // elements; the slot axis is contiguous
    int64_t length_batch_stride = 0, length_head_stride = 0, length_row_stride = 0;

    /** The list of query head h: h itself for per-head lists, 0 for shared ones. */
    PROTEUS_HD int64_t list_head(int64_t h) const { return per_head ? h : 0; }

    /** The length as given (may lie outside [0, L]); L without lengths. `h` is a list head. */
    PROTEUS_HD int64_t given_length(int64_t b, int64_t h, int64_t r) const
    {
        return lengths == nullptr
                   ? slots
                   : lengths[b * length_batch_stride + h * length_head_stride + r * length_row_stride];
    }

    /** The slots in use: the given length clamped to [0, L]. */
    PROTEUS_HD int64_t length(int64_t b, int64_t h, int64_t r) const
    {
        const int64_t n = given_length(b, h, r);
        return n < 0 ? 0 : (n > slots ? slots : n);
    }

    PROTEUS_HD const int32_t* list(int64_t b, int64_t h, int64_t r) const
    {
        return indices + b * batch_stride + h * head_stride + r * row_stride;
    }

    /** Whether index j counts for row r: 0 ≤ j ≤ p0 + r. */
    PROTEUS_HD bool counts(int64_t j, int64_t r) const { return j >= 0 && j <= query_offset + r; }
};

/** One listed position: (batch, head, row, slot); −1 in every field when there is none. */
struct ExplicitPosition {
    int64_t batch = -1, head = -1, row = -1, slot = -1;
};

/** What inspect_explicit_lists found (proteus_explicit_candidates_report). */
struct ExplicitReport {
    int64_t listed = 0;
    int64_t out_of_range = 0;
    ExplicitPosition first;  // head −1 for shared lists
    int64_t bad_lengths = 0;
    ExplicitPosition first_bad_length;  // slot −1
};

/** Counts the out-of-range indices and bad lengths of host-resident lists, in (b, h, row, slot) order. */
ExplicitReport inspect_explicit_lists(const ExplicitLists& lists);

}  // namespace proteus::core
