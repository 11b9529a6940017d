"""Notebook 07's figures and table: built from ranks and recorded runs, labelled, deterministic."""
from adalora_lite.viz.transformer import accuracy_figure, allocation_bars, rank_heatmap, results_table

NAMES = [f"bert.encoder.layer.{k}.{m}" for k in range(6) for m in (
    "attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense",
    "intermediate.dense", "output.dense")]
RUNS = [{"method": m, "seed": s, "accuracy": a, "trained_parameters": p, "final_adapter_parameters": f,
         "total_rank": t, "steps": 10, "wall_s": 1.0}
        for m, s, a, p, f, t in [("probe", 0, 0.70, 770, 0, 0), ("probe", 1, 0.72, 770, 0, 0),
                                 ("lora", 0, 0.90, 166658, 165888, 144), ("lora", 1, 0.92, 166658, 165888, 144),
                                 ("adalora", 0, 0.91, 249818, 150000, 144), ("adalora", 1, 0.93, 249818, 152000, 144)]]


def test_rank_heatmap_is_modules_by_layers_with_labels():
    ranks = {n: k % 7 for k, n in enumerate(NAMES)}
    fig = rank_heatmap(ranks, title="t")
    heat = fig.data[0]
    assert list(heat.y) == ["W_q", "W_k", "W_v", "W_o", "W_f1", "W_f2"]
    assert list(heat.x) == [f"layer {k}" for k in range(1, 7)]
    assert heat.z[4][2] == ranks["bert.encoder.layer.2.intermediate.dense"]
    assert heat.z.dtype.kind == "i"  # ranks stay integers in the figure (compared exactly, or free in a claim)
    assert heat.text[4][2] == str(ranks["bert.encoder.layer.2.intermediate.dense"])
    assert fig.layout.xaxis.title.text and fig.layout.yaxis.title.text and fig.layout.title.text == "t"
    mean = rank_heatmap({n: 2.5 for n in NAMES}, decimals=1)
    assert mean.data[0].text[0][0] == "2.5"


def test_allocation_bars_average_per_module_and_layer():
    ranks = {n: (6 if "intermediate" in n else 3) for n in NAMES}
    fig = allocation_bars(ranks)
    modules, layers = fig.data
    assert list(modules.x) == ["W_q", "W_k", "W_v", "W_o", "W_f1", "W_f2"]
    assert list(modules.y) == [3, 3, 3, 3, 6, 3] and list(layers.y) == [3.5] * 6


def test_accuracy_figure_has_one_dot_per_seed_and_a_mean_per_method():
    fig = accuracy_figure(RUNS)
    assert len(fig.data) == 6
    dots = [t for t in fig.data if t.name.endswith("seeds")]
    assert [len(t.y) for t in dots] == [2, 2, 2]
    means = [t for t in fig.data if "mean" in t.name]
    assert [round(t.y[0], 3) for t in means] == [71.0, 91.0, 92.0]
    assert fig.layout.yaxis.title.text == "test accuracy (%)"


def test_results_table_text():
    table = results_table(RUNS)
    lines = table.splitlines()
    assert len(lines) == 5 and "LoRA (uniform rank)" in lines[3]
    assert "91.0 +- 1.4" in lines[3] and "90.0-92.0" in lines[3] and "166,658" in lines[3]
    assert "151,000" in lines[4]


def test_sweep_table_marks_the_chosen_learning_rate():
    from adalora_lite.viz.transformer import sweep_table

    meta = {"chosen_lr": {"lora": 0.003, "adalora": 0.01},
            "lr_sweep": [{"method": "lora", "lr": 0.001, "train_loss_last_epoch": 0.3, "accuracy": 0.9},
                         {"method": "lora", "lr": 0.003, "train_loss_last_epoch": 0.2, "accuracy": 0.91},
                         {"method": "adalora", "lr": 0.01, "train_loss_last_epoch": 0.1, "accuracy": 0.93}]}
    lines = sweep_table(meta).splitlines()
    assert len(lines) == 5
    assert lines[2].split() == ["lora", "0.001", "0.300", "90.0"]
    assert lines[3].split() == ["lora", "0.003", "0.200", "91.0", "<-"]
    assert sweep_table({}).count("\n") == 1
