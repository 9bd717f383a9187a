"""Action evaluation of frozen features: kNN retrieval (k = 1, cosine) and linear evaluation.

The linear classifier is a multinomial logistic regression on standardised features, trained on
the protocol's training split with fixed settings (nothing is chosen on the test split).
Accuracies are in percent of the test split.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler


@torch.no_grad()
def features(fn: Callable[[torch.Tensor], torch.Tensor], x: np.ndarray, device, batch: int = 256) -> np.ndarray:
    return np.concatenate([fn(torch.from_numpy(x[s:s + batch]).to(device)).float().cpu().numpy()
                           for s in range(0, len(x), batch)])


def knn_accuracy(train_f: np.ndarray, train_y: np.ndarray, test_f: np.ndarray, test_y: np.ndarray) -> float:
    a = train_f / np.linalg.norm(train_f, axis=1, keepdims=True).clip(1e-12)
    b = test_f / np.linalg.norm(test_f, axis=1, keepdims=True).clip(1e-12)
    return float((train_y[(b @ a.T).argmax(1)] == test_y).mean() * 100)


def linear_accuracy(train_f: np.ndarray, train_y: np.ndarray, test_f: np.ndarray, test_y: np.ndarray) -> float:
    scaler = StandardScaler().fit(train_f)
    clf = LogisticRegression(max_iter=3000, C=1.0).fit(scaler.transform(train_f), train_y)
    return float((clf.predict(scaler.transform(test_f)) == test_y).mean() * 100)


def evaluate_features(fn, train_set, test_set, device) -> dict:
    tr = features(fn, train_set.x, device)
    te = features(fn, test_set.x, device)
    return {"knn": knn_accuracy(tr, train_set.label, te, test_set.label),
            "linear": linear_accuracy(tr, train_set.label, te, test_set.label),
            "dim": int(tr.shape[1]), "train": len(tr), "test": len(te)}
