"""Weight matrices written independently of bluefog, for checking its results.

W[i, j] is the weight of edge i -> j (self loops included); rank j combines
with column j.
"""

import networkx as nx
import numpy as np


def graph_from_matrix(W):
    return nx.from_numpy_array(np.asarray(W, dtype=float), create_using=nx.DiGraph)


def circulant(n, offsets):
    """Rank i sends to i + k for every offset k (0 included), uniform weights."""
    offs = sorted({k % n for k in offsets} | {0})
    W = np.zeros((n, n))
    for i in range(n):
        for k in offs:
            W[i, (i + k) % n] = 1.0 / len(offs)
    return W


def exp2_matrix(n):
    offsets, k = [0], 1
    while k < n:
        offsets.append(k)
        k *= 2
    return circulant(n, offsets)


def star_matrix(n, center=0):
    W = np.eye(n) * (1.0 - 1.0 / n)
    W[center, :] = W[:, center] = 1.0 / n
    return W


def mesh_matrix(n):
    """2-D grid, rows <= cols the closest factors, Metropolis-Hastings weights."""
    rows = max(r for r in range(1, int(n ** 0.5) + 1) if n % r == 0)
    cols = n // rows
    nbrs = {i: [] for i in range(n)}
    for i in range(n):
        r, c = divmod(i, cols)
        for dr, dc in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            if 0 <= r + dr < rows and 0 <= c + dc < cols:
                nbrs[i].append((r + dr) * cols + c + dc)
    W = np.zeros((n, n))
    for i in range(n):
        for j in nbrs[i]:
            W[i, j] = 1.0 / max(len(nbrs[i]) + 1, len(nbrs[j]) + 1)
        W[i, i] = 1.0 - W[i].sum()
    return W


def random_matrix(n, seed):
    """A random directed graph with random weights (the same on every rank for
    one seed); the last node has no self loop, so its weighted self weight is 0."""
    rng = np.random.RandomState(seed)
    A = (rng.rand(n, n) < 0.45).astype(float) * rng.randint(1, 8, size=(n, n))
    np.fill_diagonal(A, rng.randint(1, 8, size=n))
    if n > 1:
        A[n - 1, n - 1] = 0.0
    sums = A.sum(axis=0)
    sums[sums == 0] = 1.0
    return A / sums


def in_ranks(W, j):
    """Sources of rank j other than itself, ascending."""
    return [i for i in range(len(W)) if i != j and W[i, j] != 0]
