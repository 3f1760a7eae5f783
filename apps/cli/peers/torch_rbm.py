"""The PyTorch peer of `rbm bench`: the same training job as rbmjs's trainer, written as a PyTorch user would.

Bernoulli RBM, CD-k or PCD-k (persistent chains, as many as the batch), batch gradient with
p(h = 1 | v) statistics, plain SGD, the rows reshuffled every epoch. Reads the rows that `rbm bench` wrote
(raw float32, row-major), trains `--epochs` epochs `--repeats` times from a fresh model, and prints one JSON
object: {"seconds": [per repeat], "threads": n, "torch": version}. Only the training loop is timed.

    python3 torch_rbm.py --data rows.f32 --rows 60000 --cols 784 --hidden 500 --threads 1
"""
import argparse, json, sys, time

import numpy as np
import torch

p = argparse.ArgumentParser()
p.add_argument('--data', required=True)
p.add_argument('--rows', type=int, required=True)
p.add_argument('--cols', type=int, required=True)
p.add_argument('--hidden', type=int, default=500)
p.add_argument('--batch', type=int, default=100)
p.add_argument('--epochs', type=int, default=1)
p.add_argument('--k', type=int, default=1)
p.add_argument('--method', choices=['cd', 'pcd'], default='cd')
p.add_argument('--lr', type=float, default=0.05)
p.add_argument('--threads', type=int, default=0, help='0: the number PyTorch picks')
p.add_argument('--repeats', type=int, default=1)
a = p.parse_args()

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


seconds = []
for _ in range(a.repeats):
    t = time.perf_counter()
    train()
    seconds.append(time.perf_counter() - t)
print(json.dumps({'seconds': seconds, 'threads': torch.get_num_threads(), 'torch': torch.__version__}))
sys.stdout.flush()
