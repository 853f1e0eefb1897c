// core::FastDivide against the / and % operators: every divisor up to 4 096 with dividends at both ends of the
// range and at the multiples of the divisor (and their neighbours), and random divisor and dividend pairs up to 2^31.
#include <cstdint>
#include <cstdio>
#include <random>

#include "core/fast_divide.h"

namespace {
int failures = 0;

void check(uint32_t n, uint32_t d, const proteus::FastDivide& f)
{
    if (f.quotient(n) != n / d || f.remainder(n) != n % d) {
        if (++failures <= 10) {
            std::printf("FAIL %u / %u: %u rem %u, expected %u rem %u\n", n, d, f.quotient(n), f.remainder(n), n / d, n % d);
        }
    }
}
}  // namespace

int main()
{
    constexpr uint32_t kLast = (uint32_t{1} << 31) - 1;
    for (uint32_t d = 1; d <= 4096; ++d) {
        const proteus::FastDivide f(d);
        for (uint32_t n = 0; n < 3 * d + 3; ++n) check(n, d, f);
        for (uint32_t n = kLast; n > kLast - 3 * d - 3; --n) check(n, d, f);
        for (uint32_t k = 1; k <= 64; ++k) {
            const uint64_t m = uint64_t{kLast} / 64 / d * k * d;  // multiples of d across the range
            for (int64_t e = -1; e <= 1; ++e) check(static_cast<uint32_t>(static_cast<int64_t>(m) + e), d, f);
        }
    }
    std::mt19937_64 random(20261203);
    for (int i = 0; i < 4000000; ++i) {
        const uint32_t d = 1 + static_cast<uint32_t>(random() % kLast);
        const uint32_t small = 1 + static_cast<uint32_t>(random() % 100000);
        const uint32_t n = static_cast<uint32_t>(random() % (uint64_t{kLast} + 1));
        check(n, d, proteus::FastDivide(d));
        check(n, small, proteus::FastDivide(small));
    }
    std::printf("fast_divide_check: %d failures\n", failures);
    return failures == 0 ? 0 : 1;
}
