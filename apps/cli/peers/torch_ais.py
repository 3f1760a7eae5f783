"""Peer: forward AIS of log Z for an rbmjs Bernoulli RBM, written as a PyTorch user would (float32).

The speed yardstick for `rbm bench --ais` (docs/benchmarks.md): the same estimator as @rbmjs/core's
(Salakhutdinov & Murray 2008; runs as the rows of one matrix product per step), in plain PyTorch on the CPU:

    log p*_beta(v) = (1 - beta) a_A.v + beta a.v + sum_j softplus(beta (b_j + (v W)_j))

with the base model a_A from the smoothed data means, S&M's 14,500-step schedule (0-0.5 by 1e-3, 0.5-0.9 by
1e-4, 0.9-1 by 1e-5) and one Gibbs sweep at each beta. Float32 throughout, as a user would write it, except
that the log-weights are summed in float64 (a float32 running sum of 14,500 increments loses nats).

    /usr/bin/python3 torch_ais.py --model m.safetensors --data rows.u8 --rows 10000 --cols 784 \
        --runs 1000 [--steps K] [--threads 1] [--seed 0]

--steps K runs only the first K steps of the schedule (for timing); --data: raw rows, one byte (0 or 1) per
visible unit. Prints one JSON object: logZ (when the whole schedule ran), seconds, steps, threads. With
--serve it answers each `run` line of standard input with one (bench/peers.ts's protocol).
"""
import argparse, json, sys, time

import numpy as np

sys.path.insert(0, __file__.rsplit('/', 1)[0])
from rbmfile import ais_inputs, ais_parser, sm_betas  # noqa: E402
from serve import serve  # noqa: E402
import torch

p = ais_parser(runs=1000)
p.add_argument('--steps', type=int, default=0, help='run only the first STEPS steps (0: all 14,500)')
p.add_argument('--threads', type=int, default=1)
p.add_argument('--serve', action='store_true', help="answer `run` lines (bench/peers.ts's protocol)")
a = p.parse_args()
torch.set_num_threads(a.threads)

W, av, bh, aA, log_z0 = (torch.from_numpy(x.astype(np.float32)) if isinstance(x, np.ndarray) else x
                         for x in ais_inputs(a))
nv, nh = W.shape
betas = sm_betas()
K = len(betas) - 1 if a.steps <= 0 else min(a.steps, len(betas) - 1)

g = torch.Generator().manual_seed(a.seed)
softplus = torch.nn.functional.softplus


def run():
    with torch.no_grad():
        v = torch.bernoulli(torch.sigmoid(aA).expand(a.runs, nv), generator=g)
        logw = torch.zeros(a.runs, dtype=torch.float64)
        da = av - aA
        t0 = time.perf_counter()
        for k in range(1, K + 1):
            f, t = float(betas[k - 1]), float(betas[k])
            X = torch.addmm(bh, v, W)
            inc = (softplus(t * X) - softplus(f * X)).sum(1) + (t - f) * (v @ da)
            logw += inc.double()
            if k < len(betas) - 1:
                h = torch.bernoulli(torch.sigmoid(t * X), generator=g)
                v = torch.bernoulli(torch.sigmoid(torch.addmm(t * av + (1 - t) * aA, h, W.T, alpha=t)), generator=g)
        seconds = time.perf_counter() - t0
    out = {'steps': K, 'runs': a.runs, 'seconds': seconds, 'threads': torch.get_num_threads(), 'torch': torch.__version__}
    if K == len(betas) - 1:
        mx = logw.max()
        w = torch.exp(logw - mx)
        mean = float(w.mean())
        se = float(w.std()) / np.sqrt(a.runs)
        out['logZ'] = log_z0 + float(mx) + np.log(mean)
        out['effectiveSampleSize'] = float(w.sum() ** 2 / (w ** 2).sum())
        out['relativeError'] = se / mean
    return out


if a.serve:
    steps, K = K, 10  # warm-up: a short run
    run()
    K = steps
    serve(run, torch.__version__)
else:
    print(json.dumps(run()))
