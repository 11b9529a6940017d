"""A recorded AdaLoRA run on MiniLM, replayable step by step without training (notebook 07's and
classroom mode's replay dashboard; ours).

    record_rank_replay(config, split)   train once, recording every step: a RankReplay
    save_rank_replay(path, replay, command=...)   write it (recording.save: one stamp)
    load_rank_replay()                  the run shipped in adalora_lite/results/minilm_replay.json,
                                        recorded by `benchmarks/minilm_replay.py`
"""
from dataclasses import asdict, dataclass

import numpy as np

from .. import recording as rec
from .. import results as recorded_results
from ..errors import ConfigError
from .common import read_only
from .finetune import build_model, finetune
from .minilm_matrices import rank_grid

REPLAY_FILE = "minilm_replay.json"  # in adalora_lite/results/ (package data)
REPLAY_DIGITS = 4  # significant digits kept of every lambda: enough to draw, small to ship
LOSS_DECIMALS = 5  # decimals kept of every training loss


@dataclass(frozen=True, eq=False)  # eq=False: it holds arrays
class RankReplay:
    """One AdaLoRA run on MiniLM, step by step, to replay without training.

    `recording`: the common arrays of every recorded run (`recording.Recording`) over the 36
    matrices, rows t = 0..T (t = 0: before training): `lambdas` as the model holds them after the
    optimizer step and the allocator (a masked triplet's lam is 0 right after a masking; Adam moves
    it again until the next masking re-zeroes it), `masks`, the budget b(t), the training loss;
    its `meta`: the run's settings ("config") and, once saved, the stamp (machine, date, command).
    Beside it only what the replay needs: the budget schedule and the held-out accuracy.
    """
    recording: rec.Recording
    schedule: dict          # the BudgetSchedule's arguments (total, warm-up, final steps, budgets)
    accuracy: float         # held-out accuracy at the end

    @property
    def meta(self):
        return self.recording.meta

    @property
    def n_steps(self):
        """T: the last step (steps run 0..T)."""
        return len(self.recording.steps) - 1

    @property
    def n_triplets(self):
        return self.recording.masks.shape[1]

    @property
    def init_r(self):
        """Triplets per matrix at the start (every matrix starts at the same rank)."""
        return max(self.recording.ranks)

    def rank_history(self):
        """(T+1, n_matrices) int: the rank of every matrix after every step."""
        masks = self.recording.masks
        return np.stack([masks[:, cut].sum(axis=1) for cut in self.recording.slices().values()], axis=1)

    def ranks(self, step):
        """{matrix name: kept triplets} after `step`."""
        return dict(zip(self.recording.layer_names, (int(r) for r in self.rank_history()[step])))

    def rank_grids(self):
        """(T+1, 6 modules, n_layers) float: `rank_grid` of every step, computed once so that a
        replay only looks them up; with the module labels and layer numbers of `rank_grid`."""
        names = self.recording.layer_names
        grids = [rank_grid(dict(zip(names, row))) for row in self.rank_history()]
        return np.stack([g for g, _, _ in grids]), grids[0][1], grids[0][2]

    def to_json(self):
        """{"recording", "schedule", "accuracy"}: what `save_rank_replay` writes beside the stamp."""
        return {"recording": self.recording.to_json(), "schedule": self.schedule, "accuracy": self.accuracy}

    @classmethod
    def from_json(cls, data):
        """A replay from a saved file's JSON; the file's meta (its stamp) joins the recording's."""
        recording = rec.Recording.from_json(data["recording"])
        arrays = {k: read_only(v) for k, v in vars(recording).items() if isinstance(v, np.ndarray)}
        recording = rec.Recording(**{**vars(recording), **arrays,
                                     "meta": {**recording.meta, **data.get("meta", {})}})
        return cls(recording=recording, schedule=dict(data["schedule"]), accuracy=float(data["accuracy"]))


def record_rank_replay(config, split, *, progress=True):
    """Train AdaLoRA (`config.method` must be "adalora") with `finetune`, recording every step
    through its `on_step` hook: a `RankReplay` (lambdas kept to REPLAY_DIGITS significant digits,
    losses to LOSS_DECIMALS decimals). Minutes on a CPU for a real run."""
    if config.method != "adalora":
        raise ConfigError("record_rank_replay records AdaLoRA's allocator: method must be 'adalora'")
    parts = build_model(config, len(split.train_texts), num_labels=len(split.label_names))
    adapters, allocator = parts[2], parts[3]
    recorder = rec.Recorder(adapters, allocator)
    recorder.record(0)  # lam = 0, everything kept, the initial budget
    result = finetune(config, split, progress=progress, model_parts=parts, on_step=recorder.record)
    recording = recorder.recording(meta={"config": asdict(config)})
    s = allocator.schedule
    schedule = {"total_steps": s.total_steps, "init_budget": s.init_budget,
                "target_budget": s.target_budget, "warmup_steps": s.warmup_steps,
                "final_steps": s.final_steps, "mask_interval": s.mask_interval}
    lambdas = np.vectorize(lambda x: float(f"{x:.{REPLAY_DIGITS}g}"))(recording.lambdas)
    recording = rec.Recording(**{**vars(recording), "lambdas": lambdas,
                                 "losses": np.round(recording.losses, LOSS_DECIMALS)})
    return RankReplay(recording=recording, schedule=schedule, accuracy=result.accuracy)


def save_rank_replay(path, replay, *, command, meta=None):
    """Write `replay` to `path` through `recording.save` (the stamp: machine, date, command; `meta`:
    what else the file should say, e.g. the wall time). Returns the meta written."""
    return rec.save(path, replay.to_json(), command=command, meta=meta)


def load_rank_replay(path=None):
    """The `RankReplay` saved at `path`; default: the recorded one shipped in `adalora_lite.results`
    (written by `python benchmarks/minilm_replay.py`). Its `meta` says when, where and how."""
    return RankReplay.from_json(recorded_results.read(
        REPLAY_FILE, path, how=".venv/bin/python benchmarks/minilm_replay.py"))
