"""The course's experiments, one module per topic, named like their viz/, widgets/ and exercises/
counterparts (notebook: module):

    01 rank          rank.py          the SVD, Eckart-Young, effective ranks, the break-even rank
    02 intrinsic     intrinsic.py     random-subspace training, d90, the fine-tuning update's spectrum
    03 lora          lora.py          LoRA on a frozen digits network, NumPy vs torch, the rank
    04 svd           svd.py           doublets vs triplets, masking that can be undone, the regularizer
    05 importance    importance.py    |lambda| vs sensitivity vs Ibar * Ubar, replayed from one run
    06 budget        budget.py        planted-rank tasks, AdaLoRA's allocation, a run to replay
    07 transformer   transformer.py   MiniLM on tweets: probe, LoRA, AdaLoRA; where the rank went
    08 analysis      analysis.py      data-aware inits compared on MiniLM, what each adapter learned
    09 miniature     miniature.py     the paper's experiments on MiniLM, recorded; verdicts

Beside a topic module, one module per further idea of its notebook (each docstring says which):
03: adam.py (the training loop), lora_scale.py (alpha/r, alpha, alpha/sqrt(r) and the learning
rate), lora_deployment.py (merging, timing, swapping); 06: planted.py (the planted-rank task and its
runs); 07: finetune.py (FinetuneConfig, the one MiniLM train_step, finetune), minilm_matrices.py
(placements, rank grids), loop_orders.py (the paper's order vs PEFT's, measured), replay.py (a run
to replay); 08: data_aware_init.py (PiSSA, covariance init), learned_update.py (reading Delta W);
09: noise.py (paired by seed: inside the noise?), paper_tables.py (the AdaLoRA paper's numbers),
score_experiment.py (scores on the planted task); 10: planted_transformer.py (a MiniLM whose true
update is planted).
Shared: digits.py (the frozen digits networks of 03-05, one task type) and common.py (one thread,
read-only arrays, the one cache, progress bars). They import torch.
"""
