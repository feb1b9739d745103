"""The crosscoder: a two-model BatchTopK crosscoder as an SAE-Lens architecture (``"batchtopk_crosscoder"``).

Laid out as SAE-Lens lays out its own architectures:

* ``batchtopk.py`` — the architecture: SAE-Lens configs, the inference class :class:`BatchTopKCrosscoder` and the
  training class :class:`BatchTopKCrosscoderTrainingSAE`;
* ``kernels.py`` — the sparse autograd kernels of the training step;
* ``sources.py`` — paired activations served as normalized, shuffled batches (:class:`PairedSource` and its
  tensor / harvested-cache implementations; ``llmdiff_eval/distributed/`` adds a streaming one);
* ``trainer.py`` — :func:`train_crosscoder` / :func:`load_crosscoder` through SAE-Lens's ``SAETrainer``
  (:class:`CrosscoderTrainer`, :class:`DataParallel`).

The architecture is registered with SAE-Lens here, once, through its public ``register_sae_class`` /
``register_sae_training_class``. Reference: docs/train.md.
"""

from __future__ import annotations

from sae_lens import register_sae_class, register_sae_training_class
from sae_lens.registry import get_sae_class, get_sae_training_class

from llmdiff_eval.config.crosscoder import PRESETS, CrosscoderConfig
from llmdiff_eval.crosscoder.batchtopk import (
    ARCHITECTURE,
    BatchTopKCrosscoder,
    BatchTopKCrosscoderConfig,
    BatchTopKCrosscoderTrainingConfig,
    BatchTopKCrosscoderTrainingSAE,
    Normalizer,
    crosscoder_from_weights,
)
from llmdiff_eval.crosscoder.kernels import (
    DECODES,
    SparseIndex,
    batch_topk_flat,
    choose_decode,
    dense_decode,
    gather_preacts,
    sparse_decode,
    time_decodes,
)
from llmdiff_eval.crosscoder.sources import CacheSource, PairedSource, TensorSource, as_source, epoch_groups
from llmdiff_eval.crosscoder.trainer import (
    CHECKPOINTS,
    LOG_FILE,
    CrosscoderTrainer,
    DataParallel,
    RunFiles,
    load_crosscoder,
    train_crosscoder,
    training_device,
)
from llmdiff_eval.errors import CrosscoderError

__all__ = [
    "ARCHITECTURE",
    "CHECKPOINTS",
    "DECODES",
    "LOG_FILE",
    "PRESETS",
    "BatchTopKCrosscoder",
    "BatchTopKCrosscoderConfig",
    "BatchTopKCrosscoderTrainingConfig",
    "BatchTopKCrosscoderTrainingSAE",
    "CacheSource",
    "CrosscoderConfig",
    "CrosscoderError",
    "CrosscoderTrainer",
    "DataParallel",
    "Normalizer",
    "PairedSource",
    "RunFiles",
    "SparseIndex",
    "TensorSource",
    "as_source",
    "batch_topk_flat",
    "choose_decode",
    "crosscoder_from_weights",
    "dense_decode",
    "epoch_groups",
    "gather_preacts",
    "load_crosscoder",
    "register",
    "sparse_decode",
    "time_decodes",
    "train_crosscoder",
    "training_device",
]


def register() -> None:
    """Register the inference and training classes with SAE-Lens under :data:`ARCHITECTURE`.

    Idempotent: a second call (or a re-import) finds its own classes and does nothing. Raises ``RuntimeError`` if
    another package registered the name first.
    """
    ours = {
        "inference": (BatchTopKCrosscoder, BatchTopKCrosscoderConfig),
        "training": (BatchTopKCrosscoderTrainingSAE, BatchTopKCrosscoderTrainingConfig),
    }
    for kind, lookup, add in (
        ("inference", get_sae_class, register_sae_class),
        ("training", get_sae_training_class, register_sae_training_class),
    ):
        try:
            existing = lookup(ARCHITECTURE)
        except KeyError:
            add(ARCHITECTURE, *ours[kind])
            continue
        if existing[0].__qualname__ != ours[kind][0].__qualname__ or existing[0].__module__ != (
            ours[kind][0].__module__
        ):
            raise RuntimeError(
                f"SAE-Lens architecture {ARCHITECTURE!r} is already registered by {existing[0]}"
            )


register()
