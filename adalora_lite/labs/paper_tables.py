"""The AdaLoRA paper's numbers (Zhang et al., ICLR 2023; DeBERTaV3-base, GLUE and SQuAD dev sets),
quoted whole, every cell exactly as printed: Table 1 (GLUE, §4.1), Table 2 (SQuAD, EM only, §4.2),
Table 4 (Prune LoRA and the importance-score variants, §4.4) and Table 5 (SVD-LoRA, LoRA_regu,
gamma = 0, §4.4): TABLE1, TABLE2_EM, TABLE4, TABLE5. Fig. 1, 2 and 3 are plots without printed
numbers (notebook 09 quotes the paper's sentences for those).

    table1_cell(method, params, column)   one cell of Table 1
    table_pairs(table, other)             (AdaLoRA, other) cell by cell of Table 4 or 5
    paper_margins(cells)                  how many cells favour the first number, and by how much
"""

# The AdaLoRA paper's tables (Zhang et al., ICLR 2023; DeBERTaV3-base, GLUE and SQuAD dev sets),
# every cell exactly as printed. The paired constants below (TABLE1_RTE, TABLE4_PRUNE_LORA, ...)
# are computed from these rows: each pair is (AdaLoRA's number, the other arm's number) in one cell.
# Table 1 (§4.1): "Results with DeBERTaV3-base on GLUE development set ... We report mean of 5 runs
# using different random seeds." Rows: (method, # params, MNLI m/mm, SST-2 Acc, CoLA Mcc,
# QQP Acc/F1, QNLI Acc, RTE Acc, MRPC Acc, STS-B Corr, All Ave.).
TABLE1_COLUMNS = ("Method", "# Params", "MNLI m/mm", "SST-2 Acc", "CoLA Mcc", "QQP Acc/F1", "QNLI Acc",
                  "RTE Acc", "MRPC Acc", "STS-B Corr", "All Ave.")
TABLE1 = (
    ("Full FT", "184M", (89.90, 90.12), 95.63, 69.19, (92.40, 89.80), 94.03, 83.75, 89.46, 91.60, 88.09),
    ("BitFit", "0.1M", (89.37, 89.91), 94.84, 66.96, (88.41, 84.95), 92.24, 78.70, 87.75, 91.35, 86.02),
    ("HAdapter", "1.22M", (90.13, 90.17), 95.53, 68.64, (91.91, 89.27), 94.11, 84.48, 89.95, 91.48, 88.12),
    ("PAdapter", "1.18M", (90.33, 90.39), 95.61, 68.77, (92.04, 89.40), 94.29, 85.20, 89.46, 91.54, 88.24),
    ("LoRA r=8", "1.33M", (90.65, 90.69), 94.95, 69.82, (91.99, 89.38), 93.87, 85.20, 89.95, 91.60, 88.34),
    ("AdaLoRA", "1.27M", (90.76, 90.79), 96.10, 71.45, (92.23, 89.74), 94.55, 88.09, 90.69, 91.84, 89.31),
    ("HAdapter", "0.61M", (90.12, 90.23), 95.30, 67.87, (91.65, 88.95), 93.76, 85.56, 89.22, 91.30, 87.93),
    ("PAdapter", "0.60M", (90.15, 90.28), 95.53, 69.48, (91.62, 88.86), 93.98, 84.12, 89.22, 91.52, 88.04),
    ("HAdapter", "0.31M", (90.10, 90.02), 95.41, 67.65, (91.54, 88.81), 93.52, 83.39, 89.25, 91.31, 87.60),
    ("PAdapter", "0.30M", (89.89, 90.06), 94.72, 69.06, (91.40, 88.62), 93.87, 84.48, 89.71, 91.38, 87.90),
    ("LoRA r=2", "0.33M", (90.30, 90.38), 94.95, 68.71, (91.61, 88.91), 94.03, 85.56, 89.71, 91.68, 88.15),
    ("AdaLoRA", "0.32M", (90.66, 90.70), 95.80, 70.04, (91.78, 89.16), 94.49, 87.36, 90.44, 91.63, 88.86),
)


def table1_cell(method, params, column):
    """One cell of TABLE1, by method, parameter count ("1.27M") and column name ("RTE Acc")."""
    row = next(r for r in TABLE1 if r[:2] == (method, params))
    return row[TABLE1_COLUMNS.index(column)]


# AdaLoRA against LoRA at the two budgets where Table 1 has both: 1.27M vs r=8 (1.33M), 0.32M vs r=2 (0.33M).
TABLE1_MATCHED = (("1.27M", "LoRA r=8", "1.33M"), ("0.32M", "LoRA r=2", "0.33M"))
TABLE1_AVERAGE = tuple((table1_cell("AdaLoRA", a, "All Ave."), table1_cell(lora, p, "All Ave."))
                       for a, lora, p in TABLE1_MATCHED)
TABLE1_RTE = tuple((table1_cell("AdaLoRA", a, "RTE Acc"), table1_cell(lora, p, "RTE Acc"))
                   for a, lora, p in TABLE1_MATCHED)
# Table 2 (§4.2), the EM half of its EM/F1 cells: (AdaLoRA, LoRA) at 0.08 / 0.16 / 0.32 / 0.65%.
TABLE2_EM = ((87.2, 86.4), (87.5, 86.6), (87.5, 86.7), (87.6, 86.7),  # SQuAD v1.1
             (85.6, 84.7), (85.7, 83.6), (85.5, 84.5), (86.0, 85.0))  # SQuAD v2.0
# Table 4 (§4.4): "We present two ablation studies in this table: (i) Comparison between AdaLoRA
# and structured pruning on LoRA. (ii) Comparison of different importance metrics for AdaLoRA."
TABLE4_COLUMNS = tuple((task, budget) for task in ("SST-2", "RTE", "CoLA")
                       for budget in ("0.08%", "0.16%", "0.65%"))
TABLE4 = {
    "Prune LoRA":       (94.84, 94.50, 94.95, 86.28, 86.15, 87.00, 66.71, 69.29, 69.57),
    "AdaLoRA":          (95.52, 95.80, 96.10, 87.36, 87.73, 88.09, 70.21, 70.04, 71.45),
    "s(.) = I(.)":      (94.61, 95.30, 95.64, 87.36, 87.71, 88.10, 66.71, 68.83, 70.19),
    "S_i = |lambda_i|": (95.41, 95.41, 95.87, 87.00, 86.28, 88.00, 67.67, 68.44, 70.38),
}
# Table 5 (§4.4): "We present ablation studies about SVD-based adaptation, orthogonal
# regularization, and budget allocation in this table. For MNLI, we report the average score of
# m/mm acc." None stands for the table's "-" (no run at that budget).
TABLE5_COLUMNS = tuple((task, budget) for task in ("SST-2", "MNLI")
                       for budget in ("0.08%", "0.16%", "0.32%", "0.65%"))
TABLE5 = {
    "LoRA":               (94.38, 94.95, None, 94.95, 90.19, 90.34, None, 90.57),
    "LoRA_regu":          (None, 94.61, 94.72, 94.61, None, 90.30, 90.40, 90.66),
    "SVD-LoRA":           (95.33, 95.18, 95.07, 95.53, 90.28, 90.25, 90.52, 90.62),
    "AdaLoRA, gamma = 0": (95.41, 95.10, 95.30, 95.10, 90.37, 90.34, 90.56, 90.43),
    "AdaLoRA":            (95.64, 95.80, 96.10, 96.10, 90.65, 90.68, 90.66, 90.77),
}


def table_pairs(table, other, first="AdaLoRA"):
    """((first, other), ...) cell by cell of one of TABLE4, TABLE5, cells with a "-" left out."""
    return tuple((a, b) for a, b in zip(table[first], table[other]) if a is not None and b is not None)


TABLE4_PRUNE_LORA = table_pairs(TABLE4, "Prune LoRA")       # SST-2, RTE, CoLA at 0.08 / 0.16 / 0.65%
TABLE4_SENSITIVITY = table_pairs(TABLE4, "s(.) = I(.)")
TABLE4_MAGNITUDE = table_pairs(TABLE4, "S_i = |lambda_i|")
TABLE5_GAMMA0 = table_pairs(TABLE5, "AdaLoRA, gamma = 0")   # SST-2 then MNLI, 0.08 / 0.16 / 0.32 / 0.65%
TABLE5_SVD = table_pairs(TABLE5, "SVD-LoRA")


def paper_margins(cells):
    """(cells where the first number is higher, cells, smallest margin, largest margin)."""
    margins = [round(a - b, 2) for a, b in cells]
    return sum(m > 0 for m in margins), len(margins), min(margins), max(margins)
