# %% [markdown]
# # A tunelab study in a notebook
#
# Run a small study from Python, then look at it with `tunelab.load`: the trials as a pandas
# DataFrame, the best trial, figures (matplotlib) and the report, and the same study through
# Optuna's own tools. Cells are marked `# %%`: open this file as a notebook in VS Code, or with
# jupytext in Jupyter; or run it whole: `python examples/notebook.py [OUT]` (CI does, on digits).

# %%
import sys
from pathlib import Path

import optuna

import tunelab

out = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/notebook-example")
study_file = Path(__file__).resolve().parents[1] / "studies" / "examples" / "digits-random.yaml"

# A random search of 4 trials of 3 epochs on scikit-learn's bundled digits: seconds on a CPU.
tunelab.run_study(study_file, out=out, overrides=["budget.n_trials=4", "train.epochs=3"])

# %% [markdown]
# ## The study, as tunelab sees it

# %%
study = tunelab.load(out)  # the output folder (or the study file); re-run cells as trials finish
print(study)
trials = study.trials  # one row per trial: params_*, metrics (mean, _std, _ci95), status, seeds
print(trials[["number", "state", "value", "val_accuracy", "test_accuracy"]].to_string(index=False))

best = study.best
assert best is not None
print(f"best trial #{best.number}: val_accuracy {best.value:.4f}, test {best.metrics['test_accuracy']:.4f}")
print("its parameters:", best.params)

# %% [markdown]
# ## Figures: each `plot_*` returns a matplotlib Figure

# %%
figures = {
    "history": study.plot_history(),
    "learning_curves": study.plot_learning_curves(top_k=3),
    "importance": study.plot_importance(),
    "confusion": study.plot_confusion(),
}
for name, figure in figures.items():
    figure.savefig(out / f"{name}.png")
print("figures:", ", ".join(f"{name}.png" for name in figures))

# %%
report = study.report()  # report.html (self-contained), report.md, tables/, figures/
print("report:", report)

# %% [markdown]
# ## The same study through Optuna
#
# Every epoch's objective is an intermediate value, the headline metrics are flat user attributes
# and the parameters are the whole configuration searched, so Optuna's tools work as they are.

# %%
optuna_study = study.optuna_study
first = optuna_study.trials[0]
print("intermediate values of trial 0:", first.intermediate_values)
print("its flat metrics:", {k: first.user_attrs[k] for k in ("val_accuracy", "test_accuracy")})
frame = optuna_study.trials_dataframe(attrs=("number", "value", "params", "user_attrs"))
print(frame.filter(regex="^(number|value|params_|user_attrs_test_accuracy$)").to_string(index=False))
# With the plots extra (pip install "tunelab[plots]"): plotly figures of the same data.
try:
    figure = optuna.visualization.plot_intermediate_values(optuna_study)
    print("plot_intermediate_values:", len(figure.data), "curves")
except ImportError:
    print('optuna.visualization needs plotly: pip install "tunelab[plots]"')
