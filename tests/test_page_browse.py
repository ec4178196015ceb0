"""Dataset, Training, Evaluation and Misclassified pages in AppTest, checked against the files they read."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from apptest import APP, app, bars, captions, metric_values, run, shown_bars, texts
from conftest import committed

from digitlib.artifacts import model_files, write_json
from digitlib.classes import not_a_digit_probability
from digitlib.registry import DEFAULT_MODEL
from ui.text import percent
from ui.widgets import bars_html

PAGES = [
    "pages/draw.py",
    "pages/dataset.py",
    "pages/training.py",
    "pages/evaluation.py",
    "pages/misclassified.py",
    "pages/drawings.py",
]


def read_probabilities(models, name: str) -> tuple[np.ndarray, np.ndarray]:
    """The saved test probabilities and labels, straight from the npz."""
    with np.load(model_files(name, models).predictions) as data:
        return data["probabilities"].astype(np.float32), data["labels"].astype(int)


def expected_mistakes(
    probabilities: np.ndarray, labels: np.ndarray, true: int | None, predicted: int | None
) -> set[int]:
    """Oracle: the indices of wrong answers with the given true and predicted digit."""
    guesses = probabilities.argmax(axis=1)
    return {
        i
        for i in range(len(labels))
        if guesses[i] != labels[i] and true in (None, labels[i]) and predicted in (None, guesses[i])
    }


@pytest.mark.parametrize("page", PAGES)
def test_every_page_runs_without_errors(monkeypatch, tiny_models, page):
    at = app(monkeypatch, tiny_models, page)
    assert at.title, "every page has a title"
    assert not at.error, texts(at.error)


# --- dataset ----------------------------------------------------------------------------------------------


def test_dataset_shows_label_counts_of_train_and_test(monkeypatch, tiny_models, mnist_file):
    with np.load(mnist_file) as data:
        train_counts, test_counts = (
            np.bincount(data["y_train"], minlength=10),
            np.bincount(data["y_test"], minlength=10),
        )
    at = app(monkeypatch, tiny_models, "pages/dataset.py")
    assert metric_values(at)["Training images"] == "60,000" and metric_values(at)["Test images"] == "10,000"
    table = at.dataframe[0].value
    assert table["train"].tolist() == train_counts.tolist() and table["test"].tolist() == test_counts.tolist()
    assert table["train share"].round(6).tolist() == (100 * train_counts / 60000).round(6).tolist(), (
        "shares in %"
    )
    means = [caption for caption in captions(at) if caption.endswith(")") and "#" not in caption]
    assert means == [f"{d} ({n:,})" for d, n in enumerate(train_counts)], "one mean image per digit"


def test_dataset_samples_fill_whole_rows_and_filter_by_digit(monkeypatch, tiny_models, mnist_file):
    with np.load(mnist_file) as data:
        y_train = data["y_train"]
    at = app(monkeypatch, tiny_models, "pages/dataset.py")

    def shown() -> list[tuple[int, int]]:
        """(label, index) of every sample shown, from captions like '5 (#123)'."""
        return [(int(c.split()[0]), int(c.split("#")[1].rstrip(")"))) for c in captions(at) if "#" in c]

    first = shown()
    assert len(first) == 40 and len({i for _, i in first}) == 40, "four full rows of ten, no image twice"
    assert all(y_train[i] == label for label, i in first), "each caption is its image's true label"
    at.selectbox(key="sample_digit").select("3")
    run(at)
    threes = shown()
    assert {label for label, _ in threes} == {3}
    at.button[0].click()
    run(at)
    assert shown() != threes and {label for label, _ in shown()} == {3}


# --- training ---------------------------------------------------------------------------------------------


def test_training_shows_every_model_with_its_curves_and_recorded_architecture(monkeypatch, tiny_models):
    records = {
        name: json.loads(model_files(name, tiny_models).training.read_text()) for name in ("cnn", "mlp")
    }
    at = app(monkeypatch, tiny_models, "pages/training.py")
    table = at.dataframe[0].value
    assert table["model"].tolist() == ["CNN (reference)", "MLP (reference)"], (
        "in the registry's order, by label"
    )
    assert table["parameters"].tolist() == [records["cnn"]["parameters"], records["mlp"]["parameters"]]
    assert at.dataframe[0].proto.columns and json.loads(at.dataframe[0].proto.columns)["model"]["pinned"], (
        "model column pinned"
    )
    assert metric_values(at)["Parameters"] == f"{records['cnn']['parameters']:,}"
    assert metric_values(at)["MNIST validation"] == f"{records['cnn']['history']['val_accuracy'][-1]:.2%}"
    settings = dict(at.dataframe[1].value.itertuples(index=False))
    assert settings["batch size"] == str(records["cnn"]["settings"]["batch_size"]), "in words, not the key"
    assert settings["augment"] == "no", "a yes or no, not False"
    architecture = at.dataframe[2].value
    assert architecture["parameters"].sum() == records["cnn"]["parameters"]
    assert architecture["type"].tolist() == [row["type"] for row in records["cnn"]["architecture"]]
    at.sidebar.selectbox[0].select("mlp")
    run(at)
    assert metric_values(at)["Parameters"] == f"{records['mlp']['parameters']:,}"
    assert at.dataframe[2].value["type"].tolist().count("Dense") == 6


def test_training_shows_the_companions_the_default_asks_when_unsure(monkeypatch, tmp_path):
    folder = committed(DEFAULT_MODEL, folder=tmp_path)
    record = json.loads(model_files(DEFAULT_MODEL, folder).training.read_text())
    at = app(monkeypatch, folder, "pages/training.py")
    network, companion = record["parameters"], record["companion"]["parameters"]
    drawn = record["companion"]["drawn_parameters"]
    assert at.dataframe[0].value["parameters"].tolist() == [network + companion + drawn]
    assert metric_values(at)["Parameters"] == f"{network + companion + drawn:,}"
    said = texts(at.caption)
    assert "trained 15 epochs on MNIST alone" in said and "less than 99% sure of its answer" in said
    assert "its opinion on all eleven classes is pooled in at a weight of 20%" in said
    # The architecture table lists the network's layers only: its count must not read as the model's whole.
    assert (
        f"{network:,} parameters in these layers, and {companion:,} in the companion and {drawn:,} in its "
        "drawn copy" in said
    )


def test_training_never_loads_a_model_file(monkeypatch, tiny_models, tmp_path):
    """The architecture comes from the training record: a broken .keras file changes nothing on the page."""
    for file in tiny_models.glob("cnn.*"):
        shutil.copy(file, tmp_path)
    (tmp_path / "cnn.keras").write_bytes(b"not a model")
    at = app(monkeypatch, tmp_path, "pages/training.py")
    assert not at.error and at.dataframe[2].value["type"].tolist()


# --- evaluation -------------------------------------------------------------------------------------------


def test_evaluation_shows_accuracy_loss_and_scores_from_the_metrics_artifact(monkeypatch, tiny_models):
    metrics = json.loads(model_files("cnn", tiny_models).metrics.read_text())
    at = app(monkeypatch, tiny_models, "pages/evaluation.py")
    shown = metric_values(at)
    assert (
        shown["Test accuracy"] == f"{metrics['accuracy']:.2%}"
        and shown["Test loss"] == f"{metrics['loss']:.4f}"
    )
    assert shown["Mistakes in 10,000"] == f"{metrics['errors']:,}"
    scores = at.dataframe[0].value
    assert scores["recall"].tolist() == pytest.approx([s["recall"] for s in metrics["per_class"]])


def test_a_confused_pair_opens_its_mistakes(monkeypatch, tiny_models):
    pair = json.loads(model_files("cnn", tiny_models).metrics.read_text())["confused_pairs"][0]
    at = app(monkeypatch, tiny_models, "pages/evaluation.py")
    at.button(key=f"pair_{pair['true']}_{pair['predicted']}").click()
    run(at)
    assert at.title[0].value == "Misclassified test images"
    assert at.selectbox(key="mistakes_true").value == str(pair["true"])
    assert at.selectbox(key="mistakes_predicted").value == str(pair["predicted"]), (
        "the filter shows the pair, not a placeholder"
    )
    listed = at.dataframe[0].value
    assert set(listed["true"]) == {pair["true"]} and set(listed["predicted"]) == {pair["predicted"]}
    assert len(listed) == pair["count"]


def confusion_click(at, true: int, predicted: int):
    """Click one cell of the confusion matrix."""
    at.session_state["confusion"] = {"selection": {"cell": [{"true": true, "predicted": predicted}]}}
    return run(at)


def test_a_confusion_cell_opens_its_mistakes_and_an_empty_one_says_so(monkeypatch, tiny_models):
    probabilities, labels = read_probabilities(tiny_models, "cnn")
    confusion = np.zeros((10, 10), int)
    np.add.at(confusion, (labels, probabilities.argmax(axis=1)), 1)
    true, predicted = np.unravel_index(np.argmax(confusion - np.diag(np.diag(confusion))), confusion.shape)
    at = confusion_click(app(monkeypatch, tiny_models, "pages/evaluation.py"), int(true), int(predicted))
    assert at.title[0].value == "Misclassified test images"
    assert set(at.dataframe[0].value["test image"]) == expected_mistakes(
        probabilities, labels, true, predicted
    )
    empty = next((t, p) for t in range(10) for p in range(10) if t != p and confusion[t, p] == 0)
    at = confusion_click(app(monkeypatch, tiny_models, "pages/evaluation.py"), *empty)
    assert at.title[0].value == "Evaluation"
    assert f"No {empty[0]} of the test set is read as {empty[1]}" in texts(at.info)


def test_chosen_digits_open_their_mistakes_and_true_cannot_equal_predicted(monkeypatch, tiny_models):
    probabilities, labels = read_probabilities(tiny_models, "cnn")
    at = app(monkeypatch, tiny_models, "pages/evaluation.py")
    at.selectbox(key="evaluation_true").select("7")
    run(at)
    assert (
        "7" not in at.selectbox(key="evaluation_predicted").options
        and "any" in at.selectbox(key="evaluation_predicted").options
    )
    at.button(key="open_mistakes").click()
    run(at)
    assert set(at.dataframe[0].value["test image"]) == expected_mistakes(probabilities, labels, 7, None)


@pytest.fixture(scope="module")
def measured_on_drawings(tmp_path_factory, tiny_models, shared_data_dir):
    """Tiny models plus the CNN's results on some drawn digits and letters, saved like `evaluate --save`."""
    from digitlib.data import load_drawings
    from digitlib.evaluate import evaluate_drawings
    from digitlib.serving import Predictor

    folder = tmp_path_factory.mktemp("measured")
    shutil.copytree(tiny_models, folder, dirs_exist_ok=True)
    files = model_files("cnn", folder)
    results = {}
    for name, step in (("drawn_dev", 60), ("nondigit_dev", 50)):
        drawings = {
            k: (v[::step] if isinstance(v, np.ndarray) else v)
            for k, v in load_drawings(shared_data_dir / f"{name}.npz").items()
        }
        cnn = Predictor("cnn", folder)
        results[name] = evaluate_drawings(cnn.predict, files, drawings, 0.6, features=cnn.likeness_features)[
            0
        ]
    write_json(files.drawn, results)
    return folder, results


def test_evaluation_says_in_plain_words_how_the_model_reads_drawings_and_letters(
    monkeypatch, measured_on_drawings
):
    folder, results = measured_on_drawings
    digits, letters = results["drawn_dev"], results["nondigit_dev"]
    at = app(monkeypatch, folder, "pages/evaluation.py")
    assert [tab.label for tab in at.tabs] == ["Digits drawn by people", "Letters drawn by people"]
    shown = metric_values(at)
    assert shown["Readable digits read right"] == f"{digits['readable_accuracy']:.1%}"
    assert shown["Letters rejected"] == f"{letters['rejection_rate']:.1%}"
    assert "drawn_dev" not in texts(at.caption) and "UNIPEN" in texts(at.caption), (
        "what each set is, in words"
    )
    for table in at.dataframe:
        config = json.loads(table.proto.columns)
        for column in {"drawings", "support"} & set(table.value.columns):
            shown_as = config.get(column, {}).get("type_config", {}).get("format")
            assert shown_as == "localized", f"{column}: 1,363 like 6,114, not 1363"
    per_digit = next(
        d.value for d in at.dataframe if "digit" in d.value.columns and "read right" in d.value.columns
    )
    assert per_digit["drawings"].sum() == digits["readable_n"], "the readable digits, like the figure above"
    right = (per_digit["drawings"] * per_digit["read right"]).sum() / 100
    assert right / digits["readable_n"] == pytest.approx(digits["readable_accuracy"])
    kept = digits["with_kept"]
    assert (
        f"{kept['corrections']['readable_accuracy']:.1%} of the readable digits right when each writer keeps"
        in texts(at.markdown)
    )
    assert f"{kept['each digit once']['readable_accuracy']:.1%} when they teach each digit once" in texts(
        at.markdown
    )


def test_evaluation_without_results_on_drawings_says_how_to_measure_them(monkeypatch, tiny_models, tmp_path):
    at = app(monkeypatch, tiny_models, "pages/evaluation.py")
    assert "python -m digitlib evaluate --model cnn --drawings" in texts(at.info)
    shutil.copytree(tiny_models, tmp_path, dirs_exist_ok=True)
    model_files("cnn", tmp_path).drawn.write_text("{ not json")
    at = app(monkeypatch, tmp_path, "pages/evaluation.py")
    assert "results on drawings could not be read" in texts(at.error)
    assert metric_values(at)["Test accuracy"], "the MNIST part still shows"


def test_training_compares_the_models_on_drawings_too(monkeypatch, measured_on_drawings):
    folder, results = measured_on_drawings
    shown = app(monkeypatch, folder, "pages/training.py").dataframe[0]
    table = shown.value.set_index("model")
    assert table.loc["CNN (reference)", "real drawings read right"] == pytest.approx(
        100 * results["drawn_dev"]["readable_accuracy"]
    )
    assert table.loc["CNN (reference)", "letters rejected"] == pytest.approx(
        100 * results["nondigit_dev"]["rejection_rate"]
    )
    rates = ("MNIST test", "real drawings read right", "letters rejected")
    columns = json.loads(shown.proto.columns)
    formats = [columns[column]["type_config"]["format"] for column in rates]
    assert formats == ["%.2f%%"] * 3, "every rate in points, with two decimals"
    assert np.isnan(table.loc["MLP (reference)", "real drawings read right"]), "not measured"


# --- misclassified ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("true", "predicted"), [(None, None), (4, None), (None, 1), (9, 4)])
def test_misclassified_lists_exactly_the_errors_of_the_filter(monkeypatch, tiny_models, true, predicted):
    probabilities, labels = read_probabilities(tiny_models, "cnn")
    expected = expected_mistakes(probabilities, labels, true, predicted)
    at = app(monkeypatch, tiny_models, "pages/misclassified.py")
    at.selectbox(key="mistakes_true").select("any" if true is None else str(true))
    run(at)
    at.selectbox(key="mistakes_predicted").select("any" if predicted is None else str(predicted))
    run(at)
    if not expected:
        assert "No mistakes match" in texts(at.info)
        return
    listed = at.dataframe[0].value
    assert set(listed["test image"]) == expected and len(listed) == len(expected)
    assert (np.diff(listed["confidence"].to_numpy()) <= 0).all(), "most confident mistakes first"
    at.radio(key="mistakes_order").set_value("index")
    run(at)
    assert at.dataframe[0].value["test image"].tolist() == sorted(expected)
    assert at.query_params.get("true", ["any"])[0] == ("any" if true is None else str(true)), (
        "the filter is in the address"
    )


def test_misclassified_pages_only_to_pages_that_exist_and_inspects_one(monkeypatch, tiny_models):
    probabilities, labels = read_probabilities(tiny_models, "cnn")
    order = sorted(expected_mistakes(probabilities, labels, None, None))
    at = app(monkeypatch, tiny_models, "pages/misclassified.py")
    at.radio(key="mistakes_order").set_value("index")
    run(at)
    pages = -(-len(order) // 20)  # 20 a page
    assert at.selectbox(key="mistakes_page").options == [str(p) for p in range(1, pages + 1)], (
        "no page 0, no page past the end"
    )
    at.button(key="mistakes_page_next").click()
    run(at)
    assert at.selectbox(key="mistakes_page").value == "2"
    index = order[30]
    at.session_state["mistakes_grid"] = {"clicked": index}
    run(at)
    detail = texts(at.markdown)
    assert (
        f"Test image #{index}" in detail
        and f"true **{labels[index]}**, read as **{probabilities[index].argmax()}**" in detail
    )
    why = [c for c in captions(at) if c.startswith("Why")]
    assert why == [f"Why {probabilities[index].argmax()}: red for it, blue against"]
    assert bars(at) == {str(d): percent(p) for d, p in enumerate(probabilities[index])}, (
        'cnn knows no letters: ten bars, no "not a digit"'
    )


def test_misclassified_shows_not_a_digit_for_a_model_that_knows_letters(monkeypatch, tmp_path):
    folder = committed(DEFAULT_MODEL, folder=tmp_path)
    probabilities, labels = read_probabilities(folder, DEFAULT_MODEL)
    other = 1 - probabilities.sum(axis=1)
    index = max(expected_mistakes(probabilities, labels, None, None), key=lambda i: other[i])
    at = app(monkeypatch, folder, "pages/misclassified.py")
    at.session_state["mistakes_grid"] = {"clicked": index}
    run(at)
    assert f"Test image #{index}" in texts(at.markdown)
    assert other[index] > 0.1, "a mistake that the model itself doubts is a digit"
    assert bars(at)["not a digit"] == percent(other[index]), "the same bars as on Draw"


def test_misclassified_filters_are_kept_when_coming_back(monkeypatch, tiny_models):
    at = app(monkeypatch, tiny_models, "pages/misclassified.py")
    at.selectbox(key="mistakes_true").select("4")
    run(at)
    at.switch_page("pages/dataset.py")
    run(at)
    at.switch_page("pages/misclassified.py")
    run(at)
    assert at.selectbox(key="mistakes_true").value == "4"


def test_misclassified_never_needs_the_model_to_browse(monkeypatch, tiny_models, tmp_path):
    for file in tiny_models.glob("cnn.*"):
        shutil.copy(file, tmp_path)
    (tmp_path / "cnn.onnx").write_bytes(b"not a model")
    _probabilities, _labels = read_probabilities(tmp_path, "cnn")
    at = app(monkeypatch, tmp_path, "pages/misclassified.py")
    assert not at.error and at.dataframe, "browsing reads saved probabilities"


# --- what a user can get wrong ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "page", ["pages/draw.py", "pages/training.py", "pages/evaluation.py", "pages/misclassified.py"]
)
def test_no_trained_model_gives_a_clear_message(monkeypatch, tmp_path, page):
    at = app(monkeypatch, tmp_path, page)
    assert "No trained model found" in texts(at.error) and "python -m digitlib train" in texts(at.error)


@pytest.mark.parametrize("content", [b"not a model", b""], ids=["corrupt", "empty"])
def test_a_broken_model_file_gives_a_clear_message(monkeypatch, tmp_path, content):
    (tmp_path / "cnn.onnx").write_bytes(content)
    at = app(monkeypatch, tmp_path)
    assert "cannot be used" in texts(at.error)


def test_missing_mnist_gives_a_clear_message(monkeypatch, tiny_models, tmp_path):
    monkeypatch.setenv("DIGITLIB_MNIST", str(tmp_path / "missing.npz"))
    for page in ("pages/dataset.py", "pages/misclassified.py"):
        assert "MNIST could not be loaded" in texts(app(monkeypatch, tiny_models, page).error)


def test_the_model_choice_survives_a_page_without_the_picker(monkeypatch, tiny_models):
    at = app(monkeypatch, tiny_models, "pages/evaluation.py")
    assert at.sidebar.selectbox[0].value == "cnn", "the first declared model that is trained"
    at.sidebar.selectbox[0].select("mlp")
    run(at)
    at.switch_page("pages/dataset.py")
    run(at)
    at.switch_page("pages/misclassified.py")
    run(at)
    assert at.sidebar.selectbox[0].value == "mlp"


def test_no_page_imports_tensorflow(tiny_models, mnist_file):
    """Pages read artifacts and serve via ONNX Runtime: a fresh process shows them all without TensorFlow."""
    script = f"""
import sys
from streamlit.testing.v1 import AppTest
for page in {PAGES!r}:
    at = AppTest.from_file({APP!r}, default_timeout=120)
    at.switch_page(page).run()
    assert not at.exception and not at.error, (page, at.exception, at.error)
print(sorted(m for m in ("tensorflow", "keras") if m in sys.modules))
"""
    env = {**os.environ, "DIGITLIB_MODELS": str(tiny_models), "DIGITLIB_MNIST": str(mnist_file)}
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize(
    ("probability", "decimals", "shown"),
    [
        (0.99996, 1, ">99.9%"),
        (1.0, 1, ">99.9%"),
        (0.9994, 1, "99.9%"),
        (0.5, 1, "50.0%"),
        (0.00004, 1, "<0.1%"),
        (0.0, 1, "<0.1%"),
        (0.996, 0, ">99%"),
        (0.994, 0, "99%"),
        (0.004, 0, "<1%"),
    ],
)
def test_probabilities_never_show_as_certain_or_impossible(probability, decimals, shown):
    assert percent(probability, decimals) == shown


def test_a_not_a_digit_bar_rounded_to_zero_still_shows_as_possible():
    certain_three = np.eye(10, dtype=np.float32)[3]  # "not a digit" underflowed to 0 in float32
    assert not_a_digit_probability(certain_three)[0] == 0.0
    shown = shown_bars(bars_html(certain_three, knows_letters=True))
    assert shown["3"] == ">99.9%" and shown["not a digit"] == "<0.1%", shown
