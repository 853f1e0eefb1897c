#!/usr/bin/env python3
"""Writes a safetensors file with PyTorch's safetensors (safetensors.torch.save_file), for the managed reader's
cross-check: tests/Proteus.Tests/Weights/TorchWrittenFileTests.cs reads it, compares every value with the same
arange-based formulas computed in C#, and checks that SafeTensorsFile.Write, given the same tensors, writes the
same bytes.

    python3 tests/gpu/write_safetensors.py [PATH]    (default: $OUT/torch_written.safetensors, else ./torch_written.safetensors)

Needs torch and safetensors (the GPU machine has both; no GPU is used). Bring the file to
tests/Proteus.Tests/Weights/torch_written.safetensors, or point PROTEUS_TORCH_SAFETENSORS at it; without it the
test is skipped and says so.

Keep the tensors in step with TorchWrittenFileTests.Expected.
"""
import json
import os
import struct
import sys

import safetensors
import torch
from safetensors.torch import load_file, save_file


def tensors():
    f32 = torch.float32
    return {
        "f32.arange": (torch.arange(24, dtype=f32) * 0.5 - 3).reshape(2, 3, 4),
        "f16.arange": ((torch.arange(20, dtype=f32) - 10) / 4).reshape(4, 5).to(torch.float16),
        "bf16.arange": ((torch.arange(21, dtype=f32) - 10) * 0.25).reshape(3, 7).to(torch.bfloat16),
        # i / 3 is not exact in any of the three: checks F16 and BF16 rounding against the C# conversions.
        "f16.thirds": (torch.arange(1, 7, dtype=f32) / 3).to(torch.float16),
        "bf16.thirds": (torch.arange(1, 7, dtype=f32) / 3).to(torch.bfloat16),
        "f64.eighths": torch.arange(5, dtype=torch.float64) / 8,
        "f32.scalar": torch.tensor(2.5, dtype=f32),
        "f32.empty": torch.zeros(0, 4, dtype=f32),
        "i64.arange": torch.arange(-3, 3, dtype=torch.int64),
        "bool.mask": torch.tensor([True, False, True, True]),
    }


def main():
    default = os.path.join(os.environ.get("OUT", "."), "torch_written.safetensors")
    path = sys.argv[1] if len(sys.argv) > 1 else default
    written = tensors()
    # One metadata key: the reference serialises __metadata__ from a hash map, so several keys come in no fixed order.
    save_file(written, path, metadata={"format": "pt"})

    loaded = load_file(path)
    for name, tensor in written.items():
        assert torch.equal(loaded[name], tensor), name
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = f.read(n).decode("utf-8")
    print(f"safetensors {safetensors.__version__}, torch {torch.__version__}: wrote {path} "
          f"({os.path.getsize(path)} bytes, header {n} bytes)")
    print(json.dumps(json.loads(header), indent=1))


if __name__ == "__main__":
    main()
