"""The course's experiments, one module per topic, named like their viz/, widgets/ and exercises/
counterparts (notebook: module):

    01 rank          rank.py          the SVD, Eckart-Young, effective ranks, parameter counts
    02 intrinsic     intrinsic.py     random-subspace training, d90, the fine-tuning update's spectrum
    03 lora          lora.py          LoRA on a frozen digits network, NumPy vs torch, alpha/r, merging
    04 svd           svd.py           doublets vs triplets, masking that can be undone, the regularizer
    05 importance    importance.py    |lambda| vs sensitivity vs Ibar * Ubar, replayed from one run
    06 budget        budget.py        planted-rank tasks, AdaLoRA's allocation, a run to replay
    07 transformer   transformer.py   MiniLM on tweets: probe, LoRA, AdaLoRA; where the rank went
    08 analysis      analysis.py      data-aware inits, reading what an adapter learned
    09 miniature     miniature.py     the paper's experiments on MiniLM, recorded; noise and verdicts

and what several share: digits.py (the frozen digits networks of 03-05, one task type) and
common.py (one thread, read-only arrays, the one cache, progress bars). They import torch.
"""
