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


def ais_parser(runs):
    """The AIS peers' shared flags: the model, the u8 data rows for the base rates, runs and seed."""
    import argparse
    p = argparse.ArgumentParser()
    p.add_argument('--model', required=True)
    p.add_argument('--data', required=True, help='raw u8 rows (0/1), e.g. written by bench/ais.mjs')
    p.add_argument('--rows', type=int, required=True)
    p.add_argument('--cols', type=int, required=True)
    p.add_argument('--runs', type=int, default=runs)
    p.add_argument('--seed', type=int, default=0)
    return p


def ais_inputs(a):
    """(W, a, b as float64, the base rates a_A, log Z_0) from the parsed flags: S&M's base model, visible
    biases from the smoothed data means p = (sum + 1) / (N + 2), log Z_0 = sum softplus(a_A) + nh log 2."""
    m = {k: v.astype(np.float64) for k, v in read_safetensors(a.model).items()}
    W, av, bh = m['weights'], m['visible_bias'].reshape(-1), m['hidden_bias'].reshape(-1)
    nv, nh = W.shape
    if a.cols != nv:
        sys.exit(f'--cols {a.cols}, the model has {nv} visible units')
    data = np.fromfile(a.data, dtype=np.uint8, count=a.rows * a.cols)
    if data.size != a.rows * a.cols:
        sys.exit(f'{a.data}: {data.size} bytes, --rows {a.rows} x --cols {a.cols} need {a.rows * a.cols}')
    pm = (data.reshape(a.rows, a.cols).sum(0, dtype=np.float64) + 1) / (a.rows + 2)
    aA = np.log(pm / (1 - pm))
    return W, av, bh, aA, float(np.logaddexp(0, aA).sum() + nh * np.log(2))


def sm_betas():
    """Salakhutdinov & Murray's 14,500 steps: 0-0.5 by 1e-3, 0.5-0.9 by 1e-4, 0.9-1 by 1e-5."""
    return np.concatenate([np.linspace(0, 0.5, 500, endpoint=False), np.linspace(0.5, 0.9, 4000, endpoint=False),
                           np.linspace(0.9, 1, 10000, endpoint=False), [1.0]])
