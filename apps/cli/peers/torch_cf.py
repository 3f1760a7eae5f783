"""Peer: the collaborative-filtering RBM (Salakhutdinov, Mnih & Hinton 2007), written as a PyTorch user would,
the same job as rbmjs's CollaborativeTrainer: dense batches of users (their ratings one-hot [B, M, K] and a mask
of the rated items), CD-1: p(h | V), h ~ p(h | V), each rated item's softmax over the K levels given h sampled
(unrated items masked out), p(h | V~), and momentum SGD with weight decay on W:

    vel_W <- m vel_W + e (V^T p(h | V) - V~^T p(h | V~)) - lr decay W,   W <- W + vel_W   (e = lr / B)

Reads the ratings bench/peers.ts wrote: int32 triples (user, item, level) in a raw file.

    /usr/bin/python3 torch_cf.py --data ratings.i32 --users 943 --items 1682 --levels 5 [--hidden 100] [--serve]

Prints {"seconds": s} for one epoch over every user; with --serve it stays up for bench/peers.ts's protocol
({"ready": true, ...} once warm, then one epoch per `run` line, the model carrying on).
"""
import json, os, sys, time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve import arguments, mnist, serve  # noqa: E402

a = arguments(
    data=str, users=int, items=int, levels=5, hidden=100, batch=100, lr=0.03, momentum=0.5, decay=0.001, threads=1,
    serve=False,
)
torch.set_num_threads(a.threads)

U, M, K, H = a.users, a.items, a.levels, a.hidden
t = np.fromfile(a.data, dtype=np.int32).reshape(-1, 3)
R = torch.zeros(U, M, K)  # every user's one-hot ratings (dense, as the batches are)
R[torch.from_numpy(t[:, 0]).long(), torch.from_numpy(t[:, 1]).long(), torch.from_numpy(t[:, 2]).long()] = 1

g = torch.Generator().manual_seed(0)
W = 0.01 * torch.randn(M * K, H, generator=g)
counts = R.sum(0)
vb = torch.log((counts + 1) / (counts.sum(1, keepdim=True) + K)).reshape(M * K)
hb = torch.zeros(H)
vel = [torch.zeros_like(W), torch.zeros_like(vb), torch.zeros_like(hb)]


def step(V):
    B = V.shape[0]
    mask = V.sum(2, keepdim=True)                       # [B, M, 1]: 1 where rated
    v0 = V.reshape(B, M * K)
    ph0 = torch.sigmoid(v0 @ W + hb)
    h = (torch.rand(ph0.shape, generator=g) < ph0).float()
    P = torch.softmax((h @ W.T + vb).reshape(B, M, K), 2)
    Vn = torch.nn.functional.one_hot(torch.multinomial(P.reshape(-1, K), 1, generator=g)[:, 0], K)
    vn = (Vn.reshape(B, M, K).float() * mask).reshape(B, M * K)
    ph = torch.sigmoid(vn @ W + hb)
    e = a.lr / B
    vel[0].mul_(a.momentum).add_(v0.T @ ph0 - vn.T @ ph, alpha=e).add_(W, alpha=-a.lr * a.decay)
    vel[1].mul_(a.momentum).add_((v0 - vn).sum(0), alpha=e)
    vel[2].mul_(a.momentum).add_((ph0 - ph).sum(0), alpha=e)
    W.add_(vel[0])
    vb.add_(vel[1])
    hb.add_(vel[2])


def epoch():
    perm = torch.randperm(U, generator=g)
    t0 = time.perf_counter()
    for i in range(0, U, a.batch):
        step(R[perm[i:i + a.batch]])
    return time.perf_counter() - t0


if a.serve:
    for i in range(0, min(U, 5 * a.batch), a.batch):  # warm-up
        step(R[i:i + a.batch])
    serve(lambda: {'seconds': epoch()}, torch.__version__)
else:
    print(json.dumps({'seconds': epoch(), 'users': U, 'items': M, 'torch': torch.__version__}))
