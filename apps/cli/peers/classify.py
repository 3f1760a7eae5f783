#!/usr/bin/env python3
"""The classifier behind `rbm transform`'s figure: scikit-learn's logistic regression on RBM features
(written by `rbm transform --labels --out X.npy`, read here with numpy.load) against the same classifier on
the raw pixels of the same rows (read from the IDX files, binarised at the same threshold).

    python3 classify.py --train tr.npy --test te.npy [--raw-train IDX --raw-test IDX --threshold 0.5] [--C 1]

Labels come from the files beside the features (tr.labels.npy). Prints one JSON object: test accuracy of
each classifier, rows and features.
"""
import argparse
import json
import time

import numpy as np
from sklearn.linear_model import LogisticRegression


def idx_images(path, rows, threshold):
    with open(path, "rb") as f:
        magic = int.from_bytes(f.read(4), "big")
        if magic != 0x00000803:
            raise SystemExit(f"{path}: not an IDX file of unsigned-byte images (magic {magic:#010x})")
        n, h, w = (int.from_bytes(f.read(4), "big") for _ in range(3))
        if rows > n:
            raise SystemExit(f"{path}: {n} images, {rows} asked for")
        x = np.frombuffer(f.read(rows * h * w), dtype=np.uint8).reshape(rows, h * w)
    return (x / 255.0 > threshold).astype(np.float32)


def labels_beside(path):
    return np.load(path[: -len(".npy")] + ".labels.npy")


def fit_score(xtr, ytr, xte, yte, C):
    t = time.perf_counter()
    clf = LogisticRegression(C=C, max_iter=1000)
    clf.fit(xtr, ytr)
    return float(clf.score(xte, yte)), time.perf_counter() - t


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--train", required=True)
    p.add_argument("--test", required=True)
    p.add_argument("--raw-train")
    p.add_argument("--raw-test")
    p.add_argument("--threshold", type=float, default=0.5)
    p.add_argument("--C", type=float, default=1.0)
    a = p.parse_args()
    xtr, xte = np.load(a.train), np.load(a.test)
    ytr, yte = labels_beside(a.train), labels_beside(a.test)
    out = {"train_rows": len(ytr), "test_rows": len(yte), "features": int(xtr.shape[1]), "C": a.C}
    out["features_accuracy"], out["features_seconds"] = fit_score(xtr, ytr, xte, yte, a.C)
    if a.raw_train and a.raw_test:
        rtr = idx_images(a.raw_train, len(ytr), a.threshold)
        rte = idx_images(a.raw_test, len(yte), a.threshold)
        out["raw_accuracy"], out["raw_seconds"] = fit_score(rtr, ytr, rte, yte, a.C)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
