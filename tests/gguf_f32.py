"""A GGUF file with every tensor dequantized to float32 (a test tool).

llama.cpp multiplies quantized weights (SmolLM2's Q4_1) with activations it quantizes too,
while transformers dequantizes the weights to float32: the same file gives next-token
log-probabilities some 0.05-0.3 nats apart. Re-encoded in float32 (the values transformers
reads), llama.cpp computes what transformers computes, up to float rounding, so a
comparison of the two measures the client's reading of the server, not the engines.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np


def _value(field, index, kind):
    from gguf import GGUFValueType

    part = field.parts[index]
    return bytes(part).decode("utf-8") if kind == GGUFValueType.STRING else part.tolist()[0]


def dequantized_gguf(src: str | Path, dst: str | Path) -> Path:
    """Write ``src`` to ``dst`` with the same metadata and float32 tensors; return ``dst``."""
    from gguf import GGMLQuantizationType, GGUFReader, GGUFValueType, GGUFWriter
    from gguf.quants import dequantize

    reader = GGUFReader(src)
    arch = reader.fields["general.architecture"]
    writer = GGUFWriter(str(dst), _value(arch, arch.data[0], GGUFValueType.STRING))
    for name, field in reader.fields.items():
        if name.startswith("GGUF.") or name == "general.architecture":
            continue
        kind = field.types[0]
        if kind == GGUFValueType.ARRAY:
            sub = field.types[-1]
            writer.add_key_value(name, [_value(field, i, sub) for i in field.data], kind,
                                 sub_type=sub)
        else:
            writer.add_key_value(name, _value(field, field.data[0], kind), kind)
    for tensor in reader.tensors:
        data = dequantize(tensor.data, tensor.tensor_type).astype(np.float32)
        shape = [int(x) for x in reversed(tensor.shape.tolist())]
        writer.add_tensor(tensor.name, data.reshape(shape), raw_dtype=GGMLQuantizationType.F32)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return Path(dst)
