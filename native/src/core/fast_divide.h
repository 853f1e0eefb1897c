// Division of non-negative 32-bit integers below 2^31 by a divisor fixed before a kernel runs, as a multiply-high, an
// add and a shift (the round-up method of Granlund and Montgomery, "Division by invariant integers using
// multiplication", 1994). A kernel that decodes its work item from an index divides by run-time values (pairs, heads,
// the anchor stride); the hardware has no integer divider, and the compiler's sequence for one is ~20 instructions
// with a reciprocal on the special-function unit. Host and device compute the same quotients.
#pragma once

#include <cstdint>

#include "hd.h"

namespace proteus {

struct FastDivide {
    uint32_t divisor = 1;
    uint32_t multiplier = 1;  // ⌊2^32 · (2^shift − divisor) / divisor⌋ + 1
    uint32_t shift = 0;       // ⌈log2 divisor⌉

    FastDivide() = default;

    /** divisor ≥ 1 (below 2^31). */
    explicit FastDivide(uint32_t d) : divisor(d)
    {
        while (shift < 31 && (uint32_t{1} << shift) < d) ++shift;
        const uint64_t p = uint64_t{1} << shift;
        multiplier = static_cast<uint32_t>(((p - d) << 32) / d + 1);
    }

    /** n / divisor, for 0 ≤ n < 2^31. */
    PROTEUS_HD uint32_t quotient(uint32_t n) const
    {
#if defined(__CUDA_ARCH__) || defined(__HIP_DEVICE_COMPILE__)
        const uint32_t high = __umulhi(n, multiplier);
#else
        const uint32_t high = static_cast<uint32_t>((uint64_t{n} * multiplier) >> 32);
#endif
        return (high + n) >> shift;
    }

    /** n % divisor, for 0 ≤ n < 2^31. */
    PROTEUS_HD uint32_t remainder(uint32_t n) const { return n - quotient(n) * divisor; }
};

}  // namespace proteus
