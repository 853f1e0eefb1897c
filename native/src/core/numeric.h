// Storage formats: float16 and bfloat16 as raw 16-bit patterns, converted with round-to-nearest-even.
// Written by hand (no vendor types) so one definition serves the CPU backend, CUDA and HIP.
#pragma once

#include <cstdint>
#include <cstring>

#include "hd.h"

namespace proteus {

PROTEUS_HD float bits_to_float(uint32_t bits)
{
    float value;
    memcpy(&value, &bits, sizeof value);
    return value;
}

PROTEUS_HD uint32_t float_to_bits(float value)
{
    uint32_t bits;
    memcpy(&bits, &value, sizeof bits);
    return bits;
}

PROTEUS_HD float half_to_float(uint16_t h)
{
    const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
    const uint32_t exponent = (h >> 10) & 0x1fu;
    uint32_t mantissa = h & 0x3ffu;
    if (exponent == 0) {
        if (mantissa == 0) return bits_to_float(sign);
        int shift = -1;  // normalise the subnormal: value = 1.f · 2^(−14 − shifts)
        do {
            ++shift;
            mantissa <<= 1;
        } while ((mantissa & 0x400u) == 0);
        return bits_to_float(sign | (static_cast<uint32_t>(112 - shift) << 23) | ((mantissa & 0x3ffu) << 13));
    }
    if (exponent == 31) return bits_to_float(sign | 0x7f800000u | (mantissa << 13));
    return bits_to_float(sign | ((exponent + 112u) << 23) | (mantissa << 13));
}

PROTEUS_HD uint16_t float_to_half(float value)
{
    const uint32_t x = float_to_bits(value);
    const uint32_t sign = (x >> 16) & 0x8000u;
    const uint32_t magnitude = x & 0x7fffffffu;
    if (magnitude >= 0x7f800000u) return static_cast<uint16_t>(sign | 0x7c00u | (magnitude > 0x7f800000u ? 0x200u : 0u));
    if (magnitude >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // ≥ 65520 rounds to inf
    if (magnitude < 0x38800000u) {                                                // below 2^-14: subnormal
        if (magnitude < 0x33000000u) return static_cast<uint16_t>(sign);            // below 2^-25: zero
        const uint32_t exponent = magnitude >> 23;
        const uint32_t mantissa = (magnitude & 0x7fffffu) | 0x800000u;
        const uint32_t shift = 126u - exponent;
        uint32_t rounded = mantissa >> shift;
        const uint32_t rest = mantissa & ((1u << shift) - 1u);
        const uint32_t halfway = 1u << (shift - 1u);
        if (rest > halfway || (rest == halfway && (rounded & 1u))) ++rounded;
        return static_cast<uint16_t>(sign | rounded);
    }
    uint32_t rounded = (magnitude >> 13) - (112u << 10);
    const uint32_t rest = magnitude & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (rounded & 1u))) ++rounded;
    return static_cast<uint16_t>(sign | rounded);
}

PROTEUS_HD float bfloat16_to_float(uint16_t b) { return bits_to_float(static_cast<uint32_t>(b) << 16); }

PROTEUS_HD uint16_t float_to_bfloat16(float value)
{
    const uint32_t x = float_to_bits(value);
    if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);  // quiet NaN
    return static_cast<uint16_t>((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

}  // namespace proteus
