// Index arithmetic of the candidate sets C(i) (SPEC §3), shared by the CPU reference and the kernels.
// Only the data-independent pieces live here (window, anchors); DNA needs the salience vector.
// Set semantics: a key counts once. Enumerate the window first, then anchors outside the window,
// then DNA keys that are neither in the window nor anchors.
#pragma once

#include <cstdint>

#include "hd.h"

namespace proteus {

/** First key of the local window of row i: Local(i) = [window_start, i]. */
PROTEUS_HD int64_t window_start(int64_t i, int64_t window) { return i - window + 1 > 0 ? i - window + 1 : 0; }

/** Aligned anchors of row i: `count` keys first, first + stride, …, the A largest multiples of S ≤ i − W. */
struct AlignedAnchors {
    int64_t first;
    int64_t count;
};

PROTEUS_HD AlignedAnchors aligned_anchors(int64_t i, int64_t window, int64_t stride, int64_t anchor_count)
{
    const int64_t limit = i - window;
    if (anchor_count <= 0 || limit < 0) return {0, 0};
    const int64_t available = limit / stride + 1;  // multiples 0, S, …, ≤ limit
    const int64_t count = available < anchor_count ? available : anchor_count;
    return {(limit / stride - (count - 1)) * stride, count};
}

PROTEUS_HD bool is_aligned_anchor(int64_t j, int64_t i, int64_t window, int64_t stride, int64_t anchor_count)
{
    const AlignedAnchors a = aligned_anchors(i, window, stride, anchor_count);
    return a.count > 0 && j >= a.first && j <= a.first + (a.count - 1) * stride && j % stride == 0;
}

/**
 * Relative anchors of row i are max(0, i − s·S) for s = 1..A. The distinct ones are s = 1..n with
 * n = relative_anchor_count(): every s with i − s·S > 0, plus one 0 when some s ≤ A reaches it.
 * Some may fall inside the window (S < W); they count once there.
 */
PROTEUS_HD int64_t relative_anchor_count(int64_t i, int64_t stride, int64_t anchor_count)
{
    if (anchor_count <= 0) return 0;
    const int64_t positive = i >= 1 ? (i - 1) / stride : 0;  // s with s·S < i
    return positive < anchor_count ? positive + 1 : anchor_count;
}

PROTEUS_HD int64_t relative_anchor(int64_t i, int64_t s, int64_t stride)
{
    const int64_t key = i - s * stride;
    return key > 0 ? key : 0;
}

PROTEUS_HD bool is_relative_anchor(int64_t j, int64_t i, int64_t stride, int64_t anchor_count)
{
    if (anchor_count <= 0 || j > i) return false;
    if (j == 0) return anchor_count * stride >= i;
    const int64_t distance = i - j;
    return distance > 0 && distance % stride == 0 && distance / stride <= anchor_count;
}

}  // namespace proteus
