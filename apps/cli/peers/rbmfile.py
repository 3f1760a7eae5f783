"""Reads an rbmjs model file (safetensors, F32 tensors) into NumPy arrays, for the peers beside it."""
import json, struct, sys

import numpy as np


def read_safetensors(path):
    """{name: float32 array of its shape}; exits with a message on a file that is not an F32 safetensors."""
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        if n > 1 << 24:
            sys.exit(f'{path}: header of {n} bytes, not a model file')
        header = json.loads(f.read(n))
        body = f.read()
    out = {}
    for name, t in header.items():
        if name == '__metadata__':
            continue
        if t['dtype'] != 'F32':
            sys.exit(f'{path}: {name} is {t["dtype"]}, expected F32')
        lo, hi = t['data_offsets']
        out[name] = np.frombuffer(body[lo:hi], dtype='<f4').copy().reshape(t['shape'])
    return out
