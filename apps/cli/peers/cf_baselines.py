#!/usr/bin/env python3
"""The baselines beside the collaborative-filtering RBM's RMSE (docs/recommend.md), as a user would write
them in NumPy, on the same train/test files that `rbm train --ratings TRAIN --test TEST` reads:

  - global mean: every prediction is the training mean;
  - item mean: each item's training mean (the global mean for items with no rating);
  - biases: r = mu + b_u + c_i, ridge-regularised, fitted by alternating least squares;
  - matrix factorisation: r = mu + b_u + c_i + p_u . q_i, biased ALS (each side's ridge problem solved
    exactly in turn), rank and regularisation tuned on a 10% split of the *training* ratings (seeded),
    then refitted on all training ratings with the chosen settings; the test set is touched once.

    /usr/bin/python3 cf_baselines.py TRAIN TEST [--seed 1] [--levels 1:5]

Files: MovieLens u.data (tabs), ratings.csv (header, commas), ratings.dat ('::'), or user,item,rating CSV;
a header line (third field not a number) is skipped; columns past the third are ignored. Every test pair
is predicted: a user or item with no training rating has no bias or factors (zero), so it falls back on
what the model has (an unseen item's prediction is mu + b_u). Predictions are clipped to the rating
scale. Prints one JSON object, with how many test pairs had an item unseen in training.
"""
import argparse
import json
import time

import numpy as np


def read(path):
    users, items, values = [], [], []
    sep = None
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            if sep is None:
                sep = next((s for s in ("::", "\t", ",", ";") if s in line), None)
                if sep is None:
                    raise SystemExit(f"{path}: line {n}: no separator")
                cells = line.split(sep)
                try:
                    float(cells[2])
                except ValueError:
                    continue  # header
            cells = line.split(sep)
            users.append(cells[0].strip())
            items.append(cells[1].strip())
            values.append(float(cells[2]))
    return users, items, np.array(values)


def ridge_side(rows, cols, resid, n_rows, other, lam):
    """For each row index r: argmin_x sum (resid - [1, other_c] . x)^2 + lam |x|^2 (x = [bias, factors])."""
    k = other.shape[1]
    feats = np.hstack([np.ones((other.shape[0], 1)), other])
    out = np.zeros((n_rows, k + 1))
    order = np.argsort(rows, kind="stable")
    rows_s, cols_s, res_s = rows[order], cols[order], resid[order]
    bounds = np.searchsorted(rows_s, np.arange(n_rows + 1))
    eye = lam * np.eye(k + 1)
    for r in range(n_rows):
        s, e = bounds[r], bounds[r + 1]
        if s == e:
            continue
        a = feats[cols_s[s:e]]
        out[r] = np.linalg.solve(a.T @ a + eye, a.T @ res_s[s:e])
    return out


def fit_mf(u, i, r, n_users, n_items, rank, lam, iters=15, seed=0):
    rng = np.random.default_rng(seed)
    mu = r.mean()
    p = rng.normal(0, 0.1, (n_users, rank))
    q = rng.normal(0, 0.1, (n_items, rank))
    bu = np.zeros(n_users)
    ci = np.zeros(n_items)
    for _ in range(iters):
        x = ridge_side(u, i, r - mu - ci[i], n_users, q, lam)
        bu, p = x[:, 0], x[:, 1:]
        x = ridge_side(i, u, r - mu - bu[u], n_items, p, lam)
        ci, q = x[:, 0], x[:, 1:]
    return lambda uu, ii: mu + bu[uu] + ci[ii] + np.sum(p[uu] * q[ii], axis=1)


def fit_biases(u, i, r, n_users, n_items, lam, iters=15):
    mu = r.mean()
    bu = np.zeros(n_users)
    ci = np.zeros(n_items)
    for _ in range(iters):
        bu = np.bincount(u, r - mu - ci[i], n_users) / (np.bincount(u, minlength=n_users) + lam)
        ci = np.bincount(i, r - mu - bu[u], n_items) / (np.bincount(i, minlength=n_items) + lam)
    return lambda uu, ii: mu + bu[uu] + ci[ii]


def rmse_mae(pred, truth, lo, hi):
    d = np.clip(pred, lo, hi) - truth
    return float(np.sqrt(np.mean(d * d))), float(np.mean(np.abs(d)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("train")
    ap.add_argument("test")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    tu, ti, tr = read(args.train)
    su, si, sr = read(args.test)
    uid = {x: k for k, x in enumerate(dict.fromkeys(tu + su))}
    seen = set(ti)
    iid = {x: k for k, x in enumerate(dict.fromkeys(ti + si))}
    unseen = sum(1 for x in si if x not in seen)
    u = np.array([uid[x] for x in tu])
    i = np.array([iid[x] for x in ti])
    su_ = np.array([uid[x] for x in su])
    si_ = np.array([iid[x] for x in si])
    nu, ni = len(uid), len(iid)
    lo, hi = tr.min(), tr.max()
    out = {"train": int(len(tr)), "test": int(len(sr)), "test_items_unseen": unseen, "baselines": {}}

    t = time.perf_counter()
    out["baselines"]["global mean"] = rmse_mae(np.full(len(sr), tr.mean()), sr, lo, hi)
    sums = np.bincount(i, tr, ni)
    counts = np.bincount(i, minlength=ni)
    item_mean = np.where(counts > 0, sums / np.maximum(counts, 1), tr.mean())
    out["baselines"]["item mean"] = rmse_mae(item_mean[si_], sr, lo, hi)

    # Tuning split of the training ratings.
    rng = np.random.default_rng(args.seed)
    val = rng.random(len(tr)) < 0.1
    fit, ho = ~val, val

    def tune(make, grid):
        best = None
        for params in grid:
            model = make(u[fit], i[fit], tr[fit], *params)
            score = rmse_mae(model(u[ho], i[ho]), tr[ho], lo, hi)[0]
            if best is None or score < best[0]:
                best = (score, params)
        return best

    score, (lam,) = tune(lambda a, b, c, lam: fit_biases(a, b, c, nu, ni, lam), [(x,) for x in (1, 3, 5, 10, 25)])
    model = fit_biases(u, i, tr, nu, ni, lam)
    out["baselines"]["biases"] = rmse_mae(model(su_, si_), sr, lo, hi)
    out["biases_settings"] = {"lambda": lam, "tuning_rmse": score}

    grid = [(k, lam) for k in (2, 5, 10, 20) for lam in (1, 5, 10, 20, 40)]
    score, (k, lam) = tune(lambda a, b, c, k, lam: fit_mf(a, b, c, nu, ni, k, lam, seed=args.seed), grid)
    model = fit_mf(u, i, tr, nu, ni, k, lam, seed=args.seed)
    out["baselines"]["matrix factorisation (biased ALS)"] = rmse_mae(model(su_, si_), sr, lo, hi)
    out["mf_settings"] = {"rank": k, "lambda": lam, "tuning_rmse": score}
    out["seconds"] = time.perf_counter() - t
    print(json.dumps(out))


if __name__ == "__main__":
    main()
