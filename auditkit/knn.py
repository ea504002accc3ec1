"""Cosine k-nearest-neighbour retrieval with a majority vote.

Embeddings are L2-normalised, so the dot product is the cosine similarity and
a matrix product gives every query's similarity to every database item. The
product is taken a block of queries at a time so that memory stays bounded
whatever the database size.

Vote
    Each query takes the label held by most of its ``k`` nearest database
    items. A tie between labels goes to the label whose tied neighbours have
    the larger summed similarity (the closer group wins); a tie on that too
    goes to the label that sorts first. Neighbours with exactly equal
    similarity at the k-th place are chosen by numpy's introselect:
    deterministic for a given input, but not by database position.

Composed databases
    The retrieval-shift audit gives each database image a processing that
    depends on whether it shares the query's class. :func:`compose` picks,
    per query and database image, the similarity under that processing from
    a stack of similarity layers (one per processing), so the database is
    recomposed per query without embedding anything again.

Nothing is excluded by id: callers pass disjoint queries and database.

Device
    :func:`knn_predict` takes the similarities and the top ``k`` in torch on
    the measurement's accelerator (:func:`auditkit.device.tensor_device`, or
    its ``device``), so that only each block's ``k`` neighbours come to the
    host for the vote; on the CPU the numpy path above is the reference.
    Neighbours with equal similarity at the k-th place may differ between
    the two (``torch.topk`` against introselect).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import cast

import numpy as np
import torch

from auditkit.device import tensor_device

#: A similarity block: a host array, or a tensor on the device it was computed on.
Similarities = np.ndarray | torch.Tensor

#: Default number of neighbours (Ramos et al. use k = 10).
K = 10

#: Values held at once per block of queries, temporaries included (128 MB as float32).
MAX_BLOCK_CELLS = 32 * 1024 * 1024
#: A similarity block costs itself plus argpartition's int64 indices: 3 float32 layers.
_KNN_LAYERS = 3


def l2_normalise(X: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length; all-zero rows stay zero.

    Examples
    --------
    >>> print(l2_normalise(np.array([[3.0, 4.0], [0.0, 0.0]])))
    [[0.6 0.8]
     [0.  0. ]]
    """
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 2:
        raise ValueError(f"got an array of shape {X.shape}, expected (n, dim)")
    return X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)


def nearest(sim: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and similarities of each row's ``k`` largest entries, best first.

    ``k`` larger than the number of columns takes every column.

    Examples
    --------
    >>> idx, s = nearest(np.array([[0.1, 0.9, 0.5]]), 2)
    >>> idx.tolist(), s.tolist()
    ([[1, 2]], [[0.9, 0.5]])
    """
    n = sim.shape[1]
    k = _neighbours(k, n)
    if k < n:
        # Partition for the k largest directly: negating would copy the block.
        idx = np.argpartition(sim, n - k, axis=1)[:, n - k:]
    else:
        idx = np.tile(np.arange(n), (len(sim), 1))
    top = np.take_along_axis(sim, idx, axis=1)
    order = np.argsort(-top, axis=1, kind="stable")
    return np.take_along_axis(idx, order, axis=1), np.take_along_axis(top, order, axis=1)


def _neighbours(k: int, n: int) -> int:
    """``k`` capped at the database size ``n``; a usable one, or a ValueError."""
    if k < 1:
        raise ValueError(f"got k={k!r}, expected k >= 1")
    if n == 0:
        raise ValueError("got an empty database, expected at least one item")
    return min(k, n)


def majority_vote(labels: np.ndarray, sims: np.ndarray, n_classes: int) -> np.ndarray:
    """The most frequent label code per row; ties by summed similarity, then lowest code.

    Parameters
    ----------
    labels : (m, k) int array
        Label codes ``0 <= code < n_classes`` of each query's neighbours.
    sims : (m, k) float array
        Their similarities to the query.
    n_classes : int
        Number of label codes.

    Examples
    --------
    >>> majority_vote(np.array([[1, 0, 0], [1, 0, 2]]),
    ...               np.array([[0.9, 0.2, 0.1], [0.5, 0.9, 0.4]]), 3).tolist()
    [0, 0]
    """
    m = labels.shape[0]
    counts = np.zeros((m, n_classes), dtype=np.int64)
    summed = np.zeros((m, n_classes), dtype=np.float64)
    rows = np.repeat(np.arange(m), labels.shape[1])
    np.add.at(counts, (rows, labels.ravel()), 1)
    np.add.at(summed, (rows, labels.ravel()), sims.ravel())
    tied = counts == counts.max(axis=1, keepdims=True)
    # argmax returns the first maximum: equal sums go to the lowest code.
    return np.argmax(np.where(tied, summed, -np.inf), axis=1)


def top_k(sim: Similarities, k: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`nearest` of a similarity block on the host, or by ``torch.topk`` where it lies.

    Only the ``k`` indices and similarities per row come back to the host.
    """
    if isinstance(sim, torch.Tensor):
        top, idx = torch.topk(sim, _neighbours(k, sim.shape[1]), dim=1)
        return idx.cpu().numpy(), top.cpu().numpy()
    return nearest(sim, k)


def vote_from_similarity(sim: Similarities, db_codes: np.ndarray, n_classes: int, k: int = K
                         ) -> np.ndarray:
    """Predicted label codes from a (queries x database) similarity block.

    Examples
    --------
    >>> vote_from_similarity(np.array([[0.9, 0.8, 0.1]]), np.array([1, 1, 0]), 2, k=3).tolist()
    [1]
    """
    idx, top = top_k(sim, k)
    return majority_vote(np.asarray(db_codes)[idx], top, n_classes)


def compose(S: Similarities, same: Similarities, pos: int | np.ndarray, neg: int | np.ndarray
            ) -> Similarities:
    """Similarities of queries to a database whose processing depends on the class.

    Parameters
    ----------
    S : (P, m, n) array
        Similarity of each query to each database image under each processing.
    same : (m, n) bool array
        Whether database image ``j`` has query ``i``'s class (a positive).
    pos, neg : int or (n,) int array
        Processing of positives and of negatives: one for all, or one per image.

    Examples
    --------
    >>> S = np.stack([np.zeros((1, 2)), np.ones((1, 2))])
    >>> compose(S, np.array([[True, False]]), pos=1, neg=0).tolist()
    [[1.0, 0.0]]
    """
    if isinstance(S, torch.Tensor):
        return torch.where(torch.as_tensor(same, device=S.device),
                           cast(torch.Tensor, _layer(S, pos)), cast(torch.Tensor, _layer(S, neg)))
    return np.where(same, _layer(S, pos), _layer(S, neg))


def _layer(S: Similarities, p: int | np.ndarray) -> Similarities:
    if np.ndim(p) == 0:
        return S[int(p)]
    # Advanced indices around a slice put the indexed axis first: (n, m).
    if isinstance(S, torch.Tensor):
        return S[torch.as_tensor(p, device=S.device), :,
                 torch.arange(S.shape[2], device=S.device)].T
    return S[np.asarray(p), :, np.arange(S.shape[2])].T


def vote_composed(S: Similarities, same: Similarities, db_codes: np.ndarray, n_classes: int, k: int,
                  pos: int | np.ndarray, neg: int | np.ndarray) -> np.ndarray:
    """Predicted label codes over the database :func:`compose` builds from ``pos`` and ``neg``.

    Examples
    --------
    >>> S = np.stack([np.array([[0.9, 0.2]]), np.array([[0.1, 0.8]])])
    >>> vote_composed(S, np.array([[True, False]]), np.array([0, 1]), 2, 1, pos=1, neg=0).tolist()
    [1]
    """
    return vote_from_similarity(compose(S, same, pos, neg), db_codes, n_classes, k)


def block_rows(n_database: int, layers: int = 1, max_cells: int = MAX_BLOCK_CELLS) -> int:
    """Queries per block so that ``layers`` similarity blocks fit in ``max_cells`` values.

    Examples
    --------
    >>> block_rows(1000, layers=4, max_cells=40_000)
    10
    """
    return max(1, max_cells // max(1, n_database * layers))


@dataclass
class KNNResult:
    """Predictions of a k-NN retrieval, and their correctness when labels were given."""

    predictions: np.ndarray
    neighbours: np.ndarray
    correct: np.ndarray | None
    k: int


def _unit_on(X: np.ndarray | torch.Tensor, device: str) -> torch.Tensor:
    """:func:`l2_normalise` in torch on ``device`` (a tensor already there is not copied)."""
    X = torch.as_tensor(X, device=device).to(torch.float32)
    if X.ndim != 2:
        raise ValueError(f"got an array of shape {tuple(X.shape)}, expected (n, dim)")
    return X / torch.linalg.vector_norm(X, dim=1, keepdim=True).clamp_min(1e-12)


def _nearest_blocks(Q: np.ndarray | torch.Tensor, D: np.ndarray | torch.Tensor, k: int, step: int
                    ) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """``(first row, neighbour indices, similarities)`` per block of ``step`` queries."""
    for start in range(0, len(Q), step):
        if isinstance(Q, torch.Tensor) and isinstance(D, torch.Tensor):
            sim: Similarities = Q[start:start + step] @ D.T
        else:
            sim = np.asarray(Q[start:start + step]) @ np.asarray(D).T
        yield start, *top_k(sim, k)


def knn_predict(
    queries: np.ndarray | torch.Tensor,
    database: np.ndarray | torch.Tensor,
    db_labels: np.ndarray,
    query_labels: np.ndarray | None = None,
    k: int = K,
    max_cells: int = MAX_BLOCK_CELLS,
    device: str | None = None,
) -> KNNResult:
    """Cosine k-NN: label each query by the vote of its ``k`` nearest database items.

    Parameters
    ----------
    queries : (m, dim) array
    database : (n, dim) array
        Disjoint from the queries; nothing is excluded by id.
    db_labels : (n,) array
        Labels of the database items (any sortable type).
    query_labels : (m,) array or None
        True labels; when given, ``correct`` says which predictions match.
    k : int
        Neighbours per query; more than ``n`` takes the whole database.
    max_cells : int
        Similarity values computed at once (bounds memory).
    device : str or None
        Torch device of the similarities and the top ``k``; None: the
        measurement's device when it is an accelerator, else numpy on the host.

    Returns
    -------
    KNNResult
        ``predictions`` (labels), ``neighbours`` (database indices, best first),
        ``correct`` (bool or ``None``) and the ``k`` used.

    Examples
    --------
    >>> db = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    >>> r = knn_predict(np.array([[1.0, 0.05]]), db, np.array(["a", "a", "b"]), k=3)
    >>> r.predictions.tolist()
    ['a']
    """
    on = device if device is not None else tensor_device()
    Q: np.ndarray | torch.Tensor
    D: np.ndarray | torch.Tensor
    if on is None:
        Q, D = l2_normalise(np.asarray(queries)), l2_normalise(np.asarray(database))
    else:
        Q, D = _unit_on(queries, on), _unit_on(database, on)
    db_labels = np.asarray(db_labels)
    if Q.shape[1] != D.shape[1]:
        raise ValueError(f"got queries of dim {Q.shape[1]} and a database of dim {D.shape[1]}, "
                         "expected the same")
    if len(db_labels) != len(D):
        raise ValueError(
            f"got {len(db_labels)} database labels for {len(D)} items, expected one each"
        )
    classes, codes = np.unique(db_labels, return_inverse=True)
    k_used = min(k, len(D))
    pred = np.empty(len(Q), dtype=np.int64)
    neighbours = np.empty((len(Q), k_used), dtype=np.int64)
    step = block_rows(len(D), layers=_KNN_LAYERS, max_cells=max_cells)
    for start, idx, top in _nearest_blocks(Q, D, k, step):
        neighbours[start:start + step] = idx
        pred[start:start + step] = majority_vote(codes[idx], top, len(classes))
    predictions = classes[pred]
    correct = None if query_labels is None else predictions == np.asarray(query_labels)
    return KNNResult(predictions=predictions, neighbours=neighbours, correct=correct, k=k_used)
