"""An independent float64 AIS estimate of log Z for a Bernoulli RBM saved by rbmjs (safetensors).

Written apart from @rbmjs/core's estimator, to check it: NumPy in float64 throughout, NumPy's own random
numbers (PCG64), and by default a different schedule: K intermediate distributions spaced evenly in
beta^(1/4) (dense near beta = 1, where the distributions change fastest), not Salakhutdinov & Murray's
three linear pieces. The base model is the same kind: visible biases from the smoothed means of the data
(p = (sum + 1) / (N + 2)), no weights, so log Z_0 = sum softplus(a_A) + n_h log 2.

A forward run draws v ~ p_0 and, for k = 1..K, adds log p*_k(v) - log p*_{k-1}(v) with

    log p*_beta(v) = (1 - beta) a_A.v + beta a.v + sum_j softplus(beta (b_j + (v W)_j)),

then moves v by one Gibbs sweep at beta_k (Neal 2001; Salakhutdinov & Murray 2008). log Z = log Z_0 +
log mean(w); the interval is log(mean(w) -+ 3 standard errors); ESS = (sum w)^2 / sum w^2.

    /usr/bin/python3 ais_float64.py --model m.safetensors --data rows.u8 --rows 60000 --cols 784 \
        --runs 100 --steps 100000 --seed 0

--data: raw rows, one byte (0 or 1) per visible unit (`reproduce` writes them). Prints one JSON object.
"""
import argparse, json, sys, time

import numpy as np

sys.path.insert(0, __file__.rsplit('/', 1)[0])
from rbmfile import ais_inputs, ais_parser, sm_betas  # noqa: E402

p = ais_parser(runs=100)
p.add_argument('--steps', type=int, default=100000)
p.add_argument('--schedule', choices=['quartic', 'sm'], default='quartic')
a = p.parse_args()

W, av, bh, aA, log_z0 = ais_inputs(a)
nv, nh = W.shape

if a.schedule == 'sm':
    betas = sm_betas()
else:
    betas = 1 - (1 - np.linspace(0, 1, a.steps + 1)) ** 4
    betas[-1] = 1.0
K = len(betas) - 1

rng = np.random.default_rng(a.seed)
sigmoid = lambda x: 0.5 * (1 + np.tanh(0.5 * x))
v = (rng.random((a.runs, nv)) < sigmoid(aA)).astype(np.float64)
logw = np.zeros(a.runs)
da = av - aA
t0 = time.time()
for k in range(1, K + 1):
    f, t = betas[k - 1], betas[k]
    X = v @ W + bh
    logw += (np.logaddexp(0, t * X) - np.logaddexp(0, f * X)).sum(1) + (t - f) * (v @ da)
    if k < K:
        h = (rng.random((a.runs, nh)) < sigmoid(t * X)).astype(np.float64)
        v = (rng.random((a.runs, nv)) < sigmoid(t * (h @ W.T + av) + (1 - t) * aA)).astype(np.float64)

mx = logw.max()
w = np.exp(logw - mx)
mean = w.mean()
se = w.std(ddof=1) / np.sqrt(a.runs)
log_z = log_z0 + mx + np.log(mean)
low = log_z + np.log(1 - 3 * se / mean) if 3 * se < mean else float('-inf')
print(json.dumps({
    'logZ': log_z,
    'logZLow': low,
    'logZHigh': log_z + np.log(1 + 3 * se / mean),
    'effectiveSampleSize': w.sum() ** 2 / (w ** 2).sum(),
    'runs': a.runs,
    'steps': K,
    'schedule': a.schedule,
    'seconds': time.time() - t0,
    'numpy': np.__version__,
}))
