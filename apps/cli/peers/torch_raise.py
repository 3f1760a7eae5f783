"""Peer: RAISE (Burda, Grosse & Salakhutdinov 2015) for an rbmjs Bernoulli RBM, written as a PyTorch user would
(float32, log-weights summed in float64), the same estimator as @rbmjs/core's: from each test digit, --sweeps
Gibbs sweeps at beta = 1, then the annealing chain run backwards (beta from 1 to 0), one chain per digit, the
digits as the rows of one matrix product per step:

    x_{k-1} ~ T_k(. | x_k),   log w += log p*_{k-1}(x_{k-1}) - log p*_k(x_{k-1}),
    log p*_beta(v) = (1 - beta) a_A.v + beta a.v + sum_j softplus(beta (b_j + (v W)_j))

    /usr/bin/python3 torch_raise.py --model m.safetensors --data rows.u8 --rows 10000 --cols 784 \
        --test test.u8 --examples 100 --betas betas.f64 [--sweeps 5000] [--serve]

--data: the base-rate rows (raw u8, 0/1); --test: the digits to bound (raw u8); --betas: the schedule, raw
float64 from 0 to 1 (as rbm's aisBetas gives it). Prints {"seconds": s, "mean": mean log p-hat(v)}; with --serve
it answers each `run` line of standard input with one such object (bench/peers.ts's protocol).
"""
import json, sys, time

import numpy as np

sys.path.insert(0, __file__.rsplit('/', 1)[0])
from rbmfile import ais_inputs, ais_parser  # noqa: E402
from serve import serve  # noqa: E402
import torch

p = ais_parser(runs=1)
p.add_argument('--test', required=True)
p.add_argument('--examples', type=int, default=100)
p.add_argument('--betas', required=True)
p.add_argument('--sweeps', type=int, default=5000)
p.add_argument('--threads', type=int, default=1)
p.add_argument('--serve', action='store_true')
a = p.parse_args()
torch.set_num_threads(a.threads)

W, av, bh, aA, log_z0 = (torch.from_numpy(x.astype(np.float32)) if isinstance(x, np.ndarray) else x
                         for x in ais_inputs(a))
nv, nh = W.shape
V = torch.from_numpy(np.fromfile(a.test, dtype=np.uint8, count=a.examples * nv).astype(np.float32).reshape(-1, nv))
betas = np.fromfile(a.betas, dtype=np.float64)
K = len(betas) - 1
g = torch.Generator().manual_seed(a.seed)
softplus = torch.nn.functional.softplus
da = av - aA


def raise_():
    with torch.no_grad():
        v = V.clone()
        for _ in range(a.sweeps):  # beta = 1: the RBM's own chain
            h = torch.bernoulli(torch.sigmoid(torch.addmm(bh, v, W)), generator=g)
            v = torch.bernoulli(torch.sigmoid(torch.addmm(av, h, W.T)), generator=g)
        logw = torch.zeros(v.shape[0], dtype=torch.float64)
        X = torch.addmm(bh, v, W)
        for k in range(K, 0, -1):
            t, f = float(betas[k]), float(betas[k - 1])
            h = torch.bernoulli(torch.sigmoid(t * X), generator=g)
            v = torch.bernoulli(torch.sigmoid(torch.addmm(t * av + (1 - t) * aA, h, W.T, alpha=t)), generator=g)
            X = torch.addmm(bh, v, W)
            logw += ((softplus(f * X) - softplus(t * X)).sum(1) + (f - t) * (v @ da)).double()
        free = -(V @ av) - softplus(torch.addmm(bh, V, W)).sum(1)
        return float((-free.double() + logw - log_z0).mean())


def timed():
    t0 = time.perf_counter()
    mean = raise_()
    return {'seconds': time.perf_counter() - t0, 'mean': mean}


if a.serve:
    sweeps, a.sweeps = a.sweeps, 10  # warm-up: a short run
    raise_()
    a.sweeps = sweeps
    serve(timed, torch.__version__)
else:
    print(json.dumps({**timed(), 'examples': V.shape[0], 'steps': K, 'sweeps': a.sweeps, 'torch': torch.__version__}))
