"""Intrinsic dimension (Li et al. 2018) and the spectrum of a fine-tuning update, on small MLPs.

A network's D parameters are one flat vector theta. Random-subspace training freezes a random
point theta0 and a random matrix E (D, d) whose columns have unit length, and trains only z (d,):

    theta = theta0 + E z          z starts at 0, so training starts from theta0

Sweeping d and recording test accuracy gives the curve of Li et al.; d90 is the smallest d whose
accuracy reaches 90% of what training all D parameters reaches (Li et al.'s d_int90).

    FlatMLP(sizes)                   a ReLU MLP over one flat parameter vector (sizes = (64, 32, 10))
    random_projection(D, d, seed)    E (D, d), Gaussian, columns normalised to length 1
    subspace_params(theta0, E, z)    theta = theta0 + E z, the map subspace training differentiates through
    train(mlp, theta0, X, y, E=None) full training (E None) or subspace training (E given)
    intrinsic_dimension_sweep(...)   accuracy against d, the full-training reference, d90
    find_d90(dims, accuracies, full) the d90 rule on its own
    class_split(X, y, classes)       the rows of some classes, relabelled 0..len(classes)-1
    pretrain_finetune(...)           pretrain on task A, fine-tune all weights on task B; returns
                                     W_pre and W_ft per layer, so Delta W = W_ft - W_pre
    truncated_update_accuracy(...)   keep only the top-r singular directions of every hidden
                                     layer's Delta W: task-B accuracy against r

Everything is PyTorch on the CPU, full-batch Adam, float32; seeds make every run reproducible.
"""
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from ..counting import parameter_count
from ..errors import ConfigError, check_int
from .common import single_thread
from .rank import LowRankApprox

__all__ = ["FlatMLP", "random_projection", "train", "TrainResult", "accuracy", "find_d90",
           "SweepResult", "intrinsic_dimension_sweep", "class_split", "pretrain_finetune",
           "TransferResult", "truncated_update_accuracy", "to_tensors"]



class FlatMLP:
    """ReLU MLP  x -> W_1 x + b_1 -> ReLU -> ... -> W_L h + b_L  as a function of ONE flat
    parameter vector theta, what random-subspace training needs (theta = theta0 + E z). Not an
    adapter model: `reference.MLP` and `nn.MLP` wrap frozen layers in adapters instead.

    sizes = (d_in, hidden..., d_out). Layer l has W_l (sizes[l+1], sizes[l]) and b_l (sizes[l+1],),
    stored in that order in theta (D,).
    """

    def __init__(self, sizes):
        self.sizes = tuple(int(n) for n in sizes)
        if len(self.sizes) < 2 or min(self.sizes) < 1:
            raise ConfigError(f"sizes must list at least an input and an output width, each >= 1, got {sizes!r}")
        self.shapes = [(o, i) for i, o in zip(self.sizes[:-1], self.sizes[1:])]
        self.num_params = sum(parameter_count(o, i, kind="full") + o for o, i in self.shapes)  # W and b

    def init(self, seed=0):
        """theta0 (D,): PyTorch's default Linear initialisation, U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
        g = torch.Generator().manual_seed(int(seed))
        parts = []
        for o, i in self.shapes:
            bound = 1.0 / np.sqrt(i)
            parts += [(torch.rand(o * i, generator=g) * 2 - 1) * bound,
                      (torch.rand(o, generator=g) * 2 - 1) * bound]
        return torch.cat(parts)

    def unflatten(self, theta):
        """[(W_l (d_out, d_in), b_l (d_out,)), ...]: views into theta."""
        if theta.shape != (self.num_params,):
            raise ConfigError(f"theta must have shape ({self.num_params},), got {tuple(theta.shape)}")
        layers, k = [], 0
        for o, i in self.shapes:
            W = theta[k:k + o * i].view(o, i)
            k += o * i
            layers.append((W, theta[k:k + o]))
            k += o
        return layers

    def weights(self, theta):
        """The weight matrices W_l as NumPy arrays (copies), biases left out."""
        return [W.detach().cpu().numpy().astype(np.float64) for W, _ in self.unflatten(theta)]

    def with_weights(self, theta, weights):
        """A copy of theta whose weight matrices are replaced by `weights` (biases kept)."""
        theta = theta.detach().clone()
        for (W, _), new in zip(self.unflatten(theta), weights):
            W.copy_(torch.as_tensor(new, dtype=theta.dtype))
        return theta

    def zero_head(self, theta):
        """A copy of theta with the last layer (the classification head) set to zero: a fresh head
        that predicts the uniform distribution, so a new task starts from loss log(n_classes)."""
        theta = theta.detach().clone()
        W, b = self.unflatten(theta)[-1]
        W.zero_()
        b.zero_()
        return theta

    def logits(self, theta, X):
        """X (n, d_in) -> logits (n, d_out)."""
        layers = self.unflatten(theta)
        h = X
        for l, (W, b) in enumerate(layers):
            h = h @ W.T + b
            if l < len(layers) - 1:
                h = torch.relu(h)
        return h


def to_tensors(X, y):
    """(X float32 tensor, y int64 tensor) from NumPy arrays."""
    return torch.as_tensor(np.asarray(X), dtype=torch.float32), torch.as_tensor(np.asarray(y),
                                                                              dtype=torch.int64)


def accuracy(mlp, theta, X, y):
    """Fraction of rows of X whose argmax logit is the label."""
    X, y = to_tensors(X, y)
    with torch.no_grad():
        return float((mlp.logits(theta.detach(), X).argmax(dim=1) == y).float().mean())


def random_projection(D, d, seed=0):
    """E (D, d): i.i.d. Gaussian entries, then every column scaled to unit Euclidean length.

    Li et al. (2018) use such a dense E (or sparse/Fastfood ones for big D); with unit columns a
    step of size 1 along z_j moves theta by exactly 1.
    """
    D, d = check_int("D", D, low=1), check_int("d", d, low=1)
    g = torch.Generator().manual_seed(int(seed))
    E = torch.randn(D, d, generator=g)
    return E / E.norm(dim=0, keepdim=True)


@dataclass
class TrainResult:
    theta: torch.Tensor          # (D,) the trained parameters (theta0 + E z in a subspace)
    losses: list                 # training loss at every step
    z: torch.Tensor = None       # (d,) in a subspace, else None

    @property
    def num_trained(self):
        return self.theta.numel() if self.z is None else self.z.numel()


def subspace_params(theta0, E, z):
    """theta = theta0 + E z: theta0 (D,), E (D, d), z (d,) -> (D,). Autograd gives dL/dz = E^T dL/dtheta."""
    return theta0 + E @ z


def train(mlp, theta0, X, y, *, E=None, steps=300, lr=1e-2, subspace=subspace_params):
    """Full-batch Adam on the cross-entropy of (X, y).

    E None: every parameter is trained, starting from theta0.
    E (D, d): only z (d,) is trained, theta = subspace(theta0, E, z) = theta0 + E z, z starting at 0
    (`subspace`: any function computing that map in torch, e.g. a learner's, notebook 02).
    """
    X, y = to_tensors(X, y)
    theta0 = theta0.detach()
    if E is None:
        param = theta0.clone().requires_grad_(True)
        make_theta = lambda: param  # noqa: E731
    else:
        if E.shape[0] != theta0.numel():
            raise ConfigError(f"E must have theta0's {theta0.numel()} rows, got {E.shape[0]}")
        param = torch.zeros(E.shape[1], requires_grad=True)
        make_theta = lambda: subspace(theta0, E, param)  # noqa: E731
    opt = torch.optim.Adam([param], lr=lr)
    losses = []
    with single_thread():
        for _ in range(int(steps)):
            opt.zero_grad()
            loss = F.cross_entropy(mlp.logits(make_theta(), X), y)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        with torch.no_grad():
            theta = make_theta().detach().clone()
    return TrainResult(theta, losses, None if E is None else param.detach().clone())


def find_d90(dims, accuracies, full_accuracy, fraction=0.9):
    """The smallest d (in increasing `dims`) whose accuracy reaches fraction * full_accuracy;
    None if no d in the sweep does. Only as fine as the sweep's grid."""
    threshold = fraction * full_accuracy
    for d, acc in sorted(zip(dims, accuracies)):
        if acc >= threshold:
            return int(d)
    return None


@dataclass
class SweepResult:
    dims: list                   # the subspace dimensions d tried, increasing
    accuracy: list               # test accuracy at each d (mean over seeds)
    full_accuracy: float         # test accuracy when all D parameters are trained
    num_params: int              # D
    fraction: float = 0.9
    per_seed: list = field(default_factory=list)  # accuracy[i][s] for every seed s

    @property
    def threshold(self):
        return self.fraction * self.full_accuracy

    @property
    def d90(self):
        return find_d90(self.dims, self.accuracy, self.full_accuracy, self.fraction)


def intrinsic_dimension_sweep(mlp, theta0, data, dims, *, steps=300, lr_full=1e-2, lr_subspace=0.1,
                              seeds=(0,), fraction=0.9, full_accuracy=None, progress=True):
    """Train in random subspaces of each dimension d in `dims` and once in full.

    data = (X_train, y_train, X_test, y_test) as NumPy arrays. Accuracy is measured on the test
    split. seeds: one random E per seed and d (the accuracy is averaged over them).
    full_accuracy: pass a known reference to skip the full-training run.
    """
    X_train, y_train, X_test, y_test = data
    dims = sorted(int(d) for d in dims)
    if full_accuracy is None:
        full = train(mlp, theta0, X_train, y_train, steps=steps, lr=lr_full)
        full_accuracy = accuracy(mlp, full.theta, X_test, y_test)
    jobs = [(d, s) for d in dims for s in seeds]
    if progress:
        from tqdm.auto import tqdm
        jobs = tqdm(jobs, desc="subspace training", unit="run")
    results = {}
    for d, s in jobs:
        # One seed stream per (d, seed) so that adding a d to the sweep changes no other run.
        E = random_projection(mlp.num_params, d, seed=1_000_003 * s + d)
        res = train(mlp, theta0, X_train, y_train, E=E, steps=steps, lr=lr_subspace)
        results[d, s] = accuracy(mlp, res.theta, X_test, y_test)
    per_seed = [[results[d, s] for s in seeds] for d in dims]
    return SweepResult(dims, [float(np.mean(a)) for a in per_seed], float(full_accuracy),
                       mlp.num_params, fraction, per_seed)


def class_split(X, y, classes):
    """The rows of X whose label is in `classes`, labels renumbered 0..len(classes)-1 in order."""
    classes = list(classes)
    keep = np.isin(y, classes)
    relabel = {c: i for i, c in enumerate(classes)}
    return X[keep], np.array([relabel[c] for c in y[keep]], dtype=np.int64)


@dataclass
class TransferResult:
    mlp: FlatMLP
    theta_init: torch.Tensor     # random initialisation
    theta_pre: torch.Tensor      # after pretraining on task A
    theta_start: torch.Tensor    # where fine-tuning starts: theta_pre, its head zeroed if fresh_head
    theta_ft: torch.Tensor       # after full fine-tuning on task B
    accuracy_pre_on_a: float     # task-A test accuracy of the pretrained network
    accuracy_ft_on_b: float      # task-B test accuracy after fine-tuning

    @property
    def W_pre(self):
        """Weight matrices where fine-tuning started (NumPy, float64)."""
        return self.mlp.weights(self.theta_start)

    @property
    def W_ft(self):
        return self.mlp.weights(self.theta_ft)

    @property
    def delta(self):
        """Delta W_l = W_ft,l - W_pre,l for every layer l (NumPy, float64)."""
        return [ft - pre for ft, pre in zip(self.W_ft, self.W_pre)]


def pretrain_finetune(mlp, task_a, task_b, *, seed=0, pretrain_steps=300, pretrain_lr=1e-2,
                      finetune_steps=200, finetune_lr=3e-3, fresh_head=True):
    """Pretrain every weight on task A, then fine-tune every weight on task B (same output width).

    task_a, task_b: (X_train, y_train, X_test, y_test) each. Full-batch Adam both times.
    fresh_head: zero the head before fine-tuning (task B's classes are not task A's).
    """
    theta_init = mlp.init(seed)
    pre = train(mlp, theta_init, task_a[0], task_a[1], steps=pretrain_steps, lr=pretrain_lr)
    start = mlp.zero_head(pre.theta) if fresh_head else pre.theta
    ft = train(mlp, start, task_b[0], task_b[1], steps=finetune_steps, lr=finetune_lr)
    return TransferResult(mlp, theta_init, pre.theta, start, ft.theta,
                          accuracy_pre_on_a=accuracy(mlp, pre.theta, task_a[2], task_a[3]),
                          accuracy_ft_on_b=accuracy(mlp, ft.theta, task_b[2], task_b[3]))


def truncated_update_accuracy(result, ranks, X_test, y_test):
    """Task-B test accuracy when every hidden layer gets only the best rank-r part of its update,
    W_pre + (Delta W)_r, for each r in `ranks` (the head and all biases keep their fine-tuned
    values). r = 0 keeps the pretrained hidden weights; r = min(d, k) is full fine-tuning."""
    approxes = [LowRankApprox(dW) for dW in result.delta[:-1]]
    accs = []
    for r in ranks:
        hidden = [pre + a.approx(min(int(r), a.n)) for pre, a in zip(result.W_pre, approxes)]
        theta = result.mlp.with_weights(result.theta_ft, hidden + [result.W_ft[-1]])
        accs.append(accuracy(result.mlp, theta, X_test, y_test))
    return accs
