"""The PyTorch peer of `rbm bench`: the same training job as rbmjs's trainer, written as a PyTorch user would.

Bernoulli RBM, CD-k or PCD-k (persistent chains, as many as the batch), batch gradient with
p(h = 1 | v) statistics, plain SGD, the rows reshuffled every epoch. Reads the rows that `rbm bench` wrote
(raw float32, row-major), trains `--epochs` epochs `--repeats` times from a fresh model, and prints one JSON
object: {"seconds": [per repeat], "threads": n, "torch": version}. Only the training loop is timed.

    python3 torch_rbm.py --data rows.f32 --rows 60000 --cols 784 --hidden 500 --threads 1

With --serve it stays up for `rbm bench`'s protocol (warm repeats in one process, alternating with rbmjs): it
prints {"ready": true, "torch": version, "threads": n, "blasThreads": n} once the rows are loaded, then answers
each line of standard input: `run` trains once from a fresh model and prints {"seconds": s}; `gemm N` times
an N x N x N float32 product (one untimed, best of 3) and prints {"gflops": g}. It exits at the end of input.
OpenBLAS keeps its own threads whatever torch.set_num_threads says: OPENBLAS_NUM_THREADS sets them.
"""
import json, os, sys, time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve import arguments  # noqa: E402

a = arguments(
    data=str, rows=int, cols=int, hidden=500, batch=100, epochs=1, k=1, method='cd', lr=0.05, threads=0, repeats=1, serve=False
)
if a.method not in ('cd', 'pcd'):
    sys.exit('--method: cd or pcd')

if a.threads > 0:
    torch.set_num_threads(a.threads)
X = torch.from_numpy(np.fromfile(a.data, dtype=np.float32, count=a.rows * a.cols).reshape(a.rows, a.cols))
g = torch.Generator().manual_seed(0)


def train():
    W = 0.01 * torch.randn(a.cols, a.hidden, generator=g)
    vb = torch.zeros(a.cols)
    hb = torch.zeros(a.hidden)
    chains = X[: a.batch].clone()
    for _ in range(a.epochs):
        perm = torch.randperm(a.rows, generator=g)
        for i in range(0, a.rows, a.batch):
            v0 = X[perm[i:i + a.batch]]
            ph0 = torch.sigmoid(v0 @ W + hb)
            vk = chains if a.method == 'pcd' else None
            h = (torch.rand(ph0.shape, generator=g) < ph0).float() if a.method == 'cd' else None
            for step in range(a.k):
                if vk is not None:
                    h = (torch.rand(vk.shape[0], a.hidden, generator=g) < torch.sigmoid(vk @ W + hb)).float()
                pv = torch.sigmoid(h @ W.T + vb)
                vk = (torch.rand(pv.shape, generator=g) < pv).float()
            phk = torch.sigmoid(vk @ W + hb)
            if a.method == 'pcd':
                chains = vk
            W += a.lr * (v0.T @ ph0 / v0.shape[0] - vk.T @ phk / vk.shape[0])
            vb += a.lr * (v0.mean(0) - vk.mean(0))
            hb += a.lr * (ph0.mean(0) - phk.mean(0))


def timed_train():
    t = time.perf_counter()
    train()
    return time.perf_counter() - t


def gemm_gflops(n):
    A = torch.rand(n, n, generator=g)
    B = torch.rand(n, n, generator=g)
    A @ B
    best = float('inf')
    for _ in range(3):
        t = time.perf_counter()
        A @ B
        best = min(best, time.perf_counter() - t)
    return 2 * n ** 3 / best / 1e9


def say(obj):
    print(json.dumps(obj))
    sys.stdout.flush()


if a.serve:
    import os
    blas = os.environ.get('OPENBLAS_NUM_THREADS', '')
    say({'ready': True, 'torch': torch.__version__, 'threads': torch.get_num_threads(),
         'blasThreads': int(blas) if blas.isdigit() else None})
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] == 'run':
            say({'seconds': timed_train()})
        elif words[0] == 'gemm' and len(words) == 2 and words[1].isdigit():
            say({'gflops': gemm_gflops(int(words[1]))})
        else:
            say({'error': 'unknown request %r (run, gemm N)' % line.strip()})
else:
    seconds = [timed_train() for _ in range(a.repeats)]
    say({'seconds': seconds, 'threads': torch.get_num_threads(), 'torch': torch.__version__})
