"""Every page of the Streamlit app through AppTest, checked against oracles computed here from the files.

The models come from two places: tiny CNN and MLP models trained and evaluated into a temporary folder
(a few seconds, always available, with plenty of mistakes to browse), and the project's trained CNN in
`models/` for reading real people's drawings correctly. The app reads both through $DIGITLIB_MODELS.
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import app_state
from digitlib.artifacts import model_files

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
PAGES = ["pages/draw.py", "pages/dataset.py", "pages/training.py", "pages/evaluation.py", "pages/misclassified.py"]
PROJECT_MODELS = ROOT / "models"
RUN_TIMEOUT = 180  # s: the first run of a page that loads a model imports TensorFlow


@pytest.fixture(scope="module")
def mnist_file() -> Path:
    """The local MNIST file the app reads."""
    path = os.environ.get("DIGITLIB_MNIST")
    if not path or not Path(path).is_file():
        pytest.skip("set DIGITLIB_MNIST to a local mnist.npz to test the app's pages")
    return Path(path)


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory, mnist_file) -> Path:
    """A models folder with a tiny CNN and MLP, trained for one epoch and evaluated on MNIST test."""
    from digitlib.evaluate import evaluate_mnist
    from digitlib.serving import Predictor
    from digitlib.train import train

    folder = tmp_path_factory.mktemp("tiny_models")
    for name, limit in (("cnn", 3000), ("mlp", 300)):
        train(name, epochs=1, out=folder, mnist=mnist_file, limit=limit, verbose=0)
        evaluate_mnist(Predictor(name, folder).predict, model_files(name, folder), mnist_file)
    return folder


@pytest.fixture(scope="module")
def trained_cnn(tmp_path_factory) -> Path:
    """A models folder with only the project's trained CNN (linked, not copied)."""
    if not (PROJECT_MODELS / "cnn.keras").is_file():
        pytest.skip("models/cnn.keras is not trained yet (python -m digitlib train --model cnn)")
    folder = tmp_path_factory.mktemp("trained_cnn")
    (folder / "cnn.keras").symlink_to(PROJECT_MODELS / "cnn.keras")
    return folder


@pytest.fixture(scope="module")
def drawings(mnist_file) -> dict[str, np.ndarray]:
    """Real people's digits drawn on 280x280 canvases (drawn_dev.npz beside mnist.npz)."""
    path = mnist_file.parent / "drawn_dev.npz"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    with np.load(path) as data:
        return {"images": data["images"][:400], "labels": data["labels"][:400]}


def app(monkeypatch, models: Path, page: str | None = None):
    """The app, run once on `page` (default: the home page), reading models from `models`."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("DIGITLIB_MODELS", str(models))
    at = AppTest.from_file(APP, default_timeout=RUN_TIMEOUT)
    if page is not None:
        at.switch_page(page)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def metric_values(at) -> dict[str, str]:
    """Label -> shown value of every st.metric."""
    return {m.label: m.value for m in at.metric}


def texts(elements) -> str:
    """All the text of some elements, joined."""
    return "\n".join(str(e.value) for e in elements)


def read_probabilities(models: Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    """The saved test probabilities and labels, straight from the npz."""
    with np.load(model_files(name, models).predictions) as data:
        return data["probabilities"].astype(np.float32), data["labels"].astype(int)


def expected_mistakes(probabilities: np.ndarray, labels: np.ndarray, true: int | None, predicted: int | None) -> set[int]:
    """Oracle: the indices of wrong answers with the given true and predicted digit."""
    guesses = probabilities.argmax(axis=1)
    return {
        i
        for i in range(len(labels))
        if guesses[i] != labels[i] and true in (None, labels[i]) and predicted in (None, guesses[i])
    }


# --- every page -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("page", PAGES)
def test_every_page_runs_without_errors(monkeypatch, tiny_models, page):
    at = app(monkeypatch, tiny_models, page)
    assert at.title, "every page has a title"
    assert not at.error, texts(at.error)
    assert at.sidebar.selectbox or page == "pages/dataset.py", "pages about a model have the model picker"


# --- dataset ----------------------------------------------------------------------------------------------


def test_dataset_shows_label_counts_of_train_and_test(monkeypatch, tiny_models, mnist_file):
    with np.load(mnist_file) as data:
        train_counts, test_counts = np.bincount(data["y_train"], minlength=10), np.bincount(data["y_test"], minlength=10)
    at = app(monkeypatch, tiny_models, "pages/dataset.py")
    assert metric_values(at)["Training images"] == "60,000"
    assert metric_values(at)["Test images"] == "10,000"
    table = at.dataframe[0].value
    assert table["train"].tolist() == train_counts.tolist()
    assert table["test"].tolist() == test_counts.tolist()
    assert table["train"].sum() == 60000 and table["test"].sum() == 10000
    means = at.get("image")[-1]
    assert len(means.captions) == 10, "one mean image per digit"


def test_dataset_samples_filter_by_digit_and_reshuffle(monkeypatch, tiny_models, mnist_file):
    with np.load(mnist_file) as data:
        y_train = data["y_train"]
    at = app(monkeypatch, tiny_models, "pages/dataset.py")

    def shown() -> list[tuple[int, int]]:
        """(label, index) of every sample shown, from captions like '5 (#123)'."""
        captions = at.get("image")[0].captions
        return [(int(c.split()[0]), int(c.split("#")[1].rstrip(")"))) for c in captions]

    first = shown()
    assert len(first) == 40 and len({i for _, i in first}) == 40
    assert all(y_train[i] == label for label, i in first), "each caption is its image's true label"
    at.selectbox(key="sample_digit").select(3).run()
    assert {label for label, _ in shown()} == {3}
    threes = shown()
    at.button[0].click().run()
    assert shown() != threes and {label for label, _ in shown()} == {3}


# --- training ---------------------------------------------------------------------------------------------


def test_training_shows_every_model_with_its_settings_curves_and_architecture(monkeypatch, tiny_models):
    records = {name: json.loads(model_files(name, tiny_models).training.read_text()) for name in ("cnn", "mlp")}
    at = app(monkeypatch, tiny_models, "pages/training.py")
    table = at.dataframe[0].value
    assert table["model"].tolist() == ["CNN", "MLP"], "strongest first, with readable names"
    assert table["parameters"].tolist() == [records["cnn"]["parameters"], records["mlp"]["parameters"]]
    assert table["epochs"].tolist() == [1, 1]
    metrics = metric_values(at)
    assert metrics["Epochs"] == "1" and metrics["Parameters"] == f"{records['cnn']['parameters']:,}"
    architecture = at.dataframe[2].value
    assert architecture["parameters"].sum() == records["cnn"]["parameters"]
    assert "Conv2D" in architecture["type"].tolist()

    at.sidebar.selectbox[0].select("mlp").run()
    assert metric_values(at)["Parameters"] == f"{records['mlp']['parameters']:,}"
    assert at.dataframe[2].value["type"].tolist().count("Dense") == 6


def test_training_describes_an_ensemble_by_its_members(monkeypatch, tmp_path):
    files = model_files("studionet", PROJECT_MODELS)
    if not files.model.is_file():
        pytest.skip("models/studionet.keras is not trained yet (python -m digitlib train --model studionet)")
    for path in (files.model, files.training):
        (tmp_path / path.name).symlink_to(path)
    record = json.loads(files.training.read_text())
    at = app(monkeypatch, tmp_path, "pages/training.py")
    assert at.dataframe[0].value["model"].tolist() == ["StudioNet (ensemble)"]
    metrics = metric_values(at)
    from app_state import model_label

    members = record["members"]
    assert metrics["Members"] == str(len(members)) and metrics["Parameters"] == f"{record['parameters']:,}"
    assert all(model_label(member) in texts(at.markdown) for member in members)
    architecture = at.dataframe[1].value
    assert architecture["type"].tolist().count("Functional") == len(members) and "Average" in architecture["type"].tolist()
    assert architecture["parameters"].sum() == record["parameters"]


def test_training_shows_what_a_model_does_not_have_as_a_dash(monkeypatch, tmp_path):
    names = ("studionet", "drawnet3")
    for name in names:
        files = model_files(name, PROJECT_MODELS)
        if not files.model.is_file():
            pytest.skip(f"models/{name}.keras is not trained yet")
        for path in (files.model, files.training):
            (tmp_path / path.name).symlink_to(path)
    at = app(monkeypatch, tmp_path, "pages/training.py")
    table = at.dataframe[0].value.set_index("model")
    assert table["epochs"].isna()["StudioNet (ensemble)"] and at.dataframe[0].proto.placeholder == "—"
    at.sidebar.selectbox[0].select("drawnet3").run()
    settings = at.dataframe[1].value.set_index("setting")["value"]
    assert settings["limit"] == "—" and "None" not in settings.tolist(), "a full training run has no image limit"


# --- evaluation -------------------------------------------------------------------------------------------


def test_evaluation_shows_accuracy_loss_and_scores_from_the_metrics_artifact(monkeypatch, tiny_models):
    metrics = json.loads(model_files("cnn", tiny_models).metrics.read_text())
    at = app(monkeypatch, tiny_models, "pages/evaluation.py")
    shown = metric_values(at)
    assert shown["Test accuracy"] == f"{metrics['accuracy']:.2%}"
    assert shown["Test loss"] == f"{metrics['loss']:.4f}"
    assert shown["Mistakes"] == f"{metrics['errors']:,} of 10,000"
    scores = at.dataframe[0].value
    assert scores["recall"].tolist() == pytest.approx([s["recall"] for s in metrics["per_class"]])
    assert scores["support"].sum() == 10000


def test_evaluation_follows_the_model_picker(monkeypatch, tiny_models):
    accuracy = json.loads(model_files("mlp", tiny_models).metrics.read_text())["accuracy"]
    at = app(monkeypatch, tiny_models, "pages/evaluation.py")
    at.sidebar.selectbox[0].select("mlp").run()
    assert metric_values(at)["Test accuracy"] == f"{accuracy:.2%}"


def test_a_confused_pair_opens_its_mistakes(monkeypatch, tiny_models):
    metrics = json.loads(model_files("cnn", tiny_models).metrics.read_text())
    pair = metrics["confused_pairs"][0]
    at = app(monkeypatch, tiny_models, "pages/evaluation.py")
    at.button(key=f"pair_{pair['true']}_{pair['predicted']}").click().run()
    assert at.title[0].value == "Misclassified test images"
    listed = at.dataframe[0].value
    assert set(listed["true"]) == {pair["true"]} and set(listed["predicted"]) == {pair["predicted"]}
    assert len(listed) == pair["count"]


@pytest.mark.parametrize(("cell", "true", "predicted"), [((4, 9), 4, 9), ((3, 3), 3, None)])
def test_a_confusion_cell_opens_its_mistakes(monkeypatch, tiny_models, cell, true, predicted):
    """A click off the diagonal opens that pair's mistakes; on the diagonal, every mistake on that digit."""
    probabilities, labels = read_probabilities(tiny_models, "cnn")
    at = app(monkeypatch, tiny_models, "pages/evaluation.py")
    at.session_state["confusion"] = {"selection": {"cell": [{"true": cell[0], "predicted": cell[1]}]}}
    at.run()
    assert at.title[0].value == "Misclassified test images"
    expected = expected_mistakes(probabilities, labels, true, predicted)
    if expected:
        assert set(at.dataframe[0].value["test image"]) == expected
    else:
        assert "No mistakes match" in texts(at.info)


def test_chosen_digits_open_their_mistakes(monkeypatch, tiny_models):
    probabilities, labels = read_probabilities(tiny_models, "cnn")
    at = app(monkeypatch, tiny_models, "pages/evaluation.py")
    at.selectbox[0].select(7).run()
    at.button(key="open_mistakes").click().run()
    assert at.title[0].value == "Misclassified test images"
    assert set(at.dataframe[0].value["test image"]) == expected_mistakes(probabilities, labels, 7, None)


@pytest.fixture(scope="module")
def measured_on_drawings(tmp_path_factory, tiny_models, drawings, mnist_file) -> tuple[Path, dict]:
    """The tiny models, with the CNN's results on 80 drawn digits and 40 letters saved as `evaluate --drawings` does."""
    from digitlib.artifacts import write_json
    from digitlib.evaluate import evaluate_drawings
    from digitlib.serving import Predictor

    folder = tmp_path_factory.mktemp("measured")
    shutil.copytree(tiny_models, folder, dirs_exist_ok=True)
    with np.load(mnist_file.parent / "nondigit_dev.npz") as data:
        letters = {"images": data["images"][::50], "letters": data["letters"][::50]}
    digits = {"images": drawings["images"][:80], "labels": drawings["labels"][:80], "institution": np.array(["ibm", "val"] * 40)}
    predict = Predictor("cnn", folder).predict
    results = {"drawn_dev": evaluate_drawings(predict, digits, 0.6), "nondigit_dev": evaluate_drawings(predict, letters, 0.6)}
    write_json(model_files("cnn", folder).drawn, results)
    return folder, results


def test_evaluation_shows_how_the_model_reads_drawings_and_letters(monkeypatch, measured_on_drawings):
    folder, results = measured_on_drawings
    digits, letters = results["drawn_dev"], results["nondigit_dev"]
    at = app(monkeypatch, folder, "pages/evaluation.py")
    summary = next(d.value for d in at.dataframe if "set" in d.value.columns).set_index("set")
    assert summary.loc["drawn_dev", "drawings"] == "80 digits" and summary.loc["nondigit_dev", "drawings"] == "40 letters"
    assert summary.loc["drawn_dev", "read right"] == pytest.approx(digits["accuracy"])
    assert summary.loc["drawn_dev", "answered"] == pytest.approx(digits["answered_rate"])
    assert summary.loc["nondigit_dev", "letters rejected"] == pytest.approx(letters["rejection_rate"])
    assert [tab.label for tab in at.tabs] == ["drawn_dev", "nondigit_dev"]
    # Every drawing is in one institution and one digit, and the scores add up to the whole.
    for group in ("institution", "digit"):
        table = next(d.value for d in at.dataframe if {group, "read right"} <= set(d.value.columns))
        assert table["drawings"].sum() == 80
        assert (table["drawings"] * table["read right"]).sum() / 80 == pytest.approx(digits["accuracy"])
    per_letter = next(d.value for d in at.dataframe if "letter" in d.value.columns)
    assert (per_letter["drawings"] * per_letter["rejected"]).sum() / 40 == pytest.approx(letters["rejection_rate"])
    pair = digits["confused_pairs"][0]
    assert f"True **{pair['true']}** read as **{pair['predicted']}**" in texts(at.markdown)


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
    table = app(monkeypatch, folder, "pages/training.py").dataframe[0].value.set_index("model")
    assert table.loc["CNN", "drawn_dev read right"] == pytest.approx(results["drawn_dev"]["accuracy"])
    assert table.loc["CNN", "letters rejected"] == pytest.approx(results["nondigit_dev"]["rejection_rate"])
    assert np.isnan(table.loc["MLP", "drawn_dev read right"]), "not measured"


# --- misclassified ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("true", "predicted"), [(None, None), (4, None), (None, 1), (9, 4), (1, 1)])
def test_misclassified_lists_exactly_the_errors_of_the_filter(monkeypatch, tiny_models, true, predicted):
    probabilities, labels = read_probabilities(tiny_models, "cnn")
    expected = expected_mistakes(probabilities, labels, true, predicted)
    at = app(monkeypatch, tiny_models, "pages/misclassified.py")
    at.selectbox(key="mistakes_true").select(true).run()
    at.selectbox(key="mistakes_predicted").select(predicted).run()
    if not expected:
        assert "No mistakes match" in texts(at.info)
        return
    listed = at.dataframe[0].value
    assert set(listed["test image"]) == expected and len(listed) == len(expected)
    assert (listed["true"].to_numpy() == labels[listed["test image"]]).all()
    confidences = listed["confidence"].to_numpy()
    assert (np.diff(confidences) <= 0).all(), "most confident mistakes first"

    at.radio(key="mistakes_order").set_value("index").run()
    assert at.dataframe[0].value["test image"].tolist() == sorted(expected)


def test_misclassified_pages_through_the_grid_and_inspects_one(monkeypatch, tiny_models):
    probabilities, labels = read_probabilities(tiny_models, "cnn")
    order = sorted(expected_mistakes(probabilities, labels, None, None))
    at = app(monkeypatch, tiny_models, "pages/misclassified.py")
    at.radio(key="mistakes_order").set_value("index").run()

    def tiles() -> list[int]:
        return [int(b.key.split("_")[1]) for b in at.button if b.key and b.key.startswith("inspect_")]

    assert tiles() == order[:24]
    at.number_input(key="mistakes_page").set_value(2).run()
    assert tiles() == order[24:48]

    index = order[30]
    at.button(key=f"inspect_{index}").click().run()
    detail = texts(at.markdown)
    assert f"Test image #{index}" in detail
    assert f"true **{labels[index]}**, read as **{probabilities[index].argmax()}**" in detail


def test_misclassified_never_runs_a_model(monkeypatch, tiny_models):
    """The page browses saved probabilities: with the model file gone it still works."""
    folder = tiny_models.parent / "artifacts_only"
    folder.mkdir(exist_ok=True)
    for file in tiny_models.glob("cnn.*"):
        shutil.copy(file, folder)
    (folder / "cnn.keras").write_bytes(b"not a model")
    at = app(monkeypatch, folder, "pages/misclassified.py")
    assert not at.error and at.dataframe


def why_captions(at) -> list[str]:
    """The captions of the "Why this answer" maps on the page."""
    return [c for image in at.get("image") for c in image.captions if c.startswith("Why this answer")]


def test_misclassified_detail_shows_why_the_model_answered(monkeypatch, tiny_models):
    probabilities, labels = read_probabilities(tiny_models, "cnn")
    index = min(expected_mistakes(probabilities, labels, None, None))
    at = app(monkeypatch, tiny_models, "pages/misclassified.py")
    at.radio(key="mistakes_order").set_value("index").run()
    assert why_captions(at) == [], "no map before an image is inspected"
    at.button(key=f"inspect_{index}").click().run()
    assert not at.exception and not at.error
    (why,) = why_captions(at)
    assert f"speak for {probabilities[index].argmax()}," in why, "the map explains the model's wrong answer"


def test_misclassified_detail_without_a_usable_model_explains_the_missing_map(monkeypatch, tiny_models, tmp_path):
    for file in tiny_models.glob("cnn.*"):
        shutil.copy(file, tmp_path)
    (tmp_path / "cnn.keras").write_bytes(b"not a model")
    index = min(expected_mistakes(*read_probabilities(tmp_path, "cnn"), None, None))
    at = app(monkeypatch, tmp_path, "pages/misclassified.py")
    at.radio(key="mistakes_order").set_value("index").run()
    at.button(key=f"inspect_{index}").click().run()
    assert not at.exception and not at.error
    assert f"Test image #{index}" in texts(at.markdown), "the rest of the detail is still shown"
    assert why_captions(at) == [] and "The map of why needs the model" in texts(at.info)


# --- draw -------------------------------------------------------------------------------------------------


def canvas_state(image: np.ndarray) -> dict:
    """What the canvas component sends after a stroke: its PNG (white ink on opaque black) as a data URL."""
    rgba = np.dstack([image, image, image, np.full_like(image, 255)])
    png = io.BytesIO()
    Image.fromarray(rgba).save(png, format="PNG")
    url = "data:image/png;base64," + base64.b64encode(png.getvalue()).decode()
    return {"drawing": {"raw": {"objects": [{"type": "path"}], "background": "#000000"}, "data": url}, "backgroundFit": None}


def canvas_key(at) -> str:
    """The key of the canvas on the page."""

    def keys(node):
        for child in getattr(node, "children", {}).values():
            if getattr(child, "type", None) == "bidi_component":
                yield child.key
            yield from keys(child)

    found = list(keys(at.main))
    assert len(found) == 1, found
    return found[0]


def draw(at, image: np.ndarray):
    """Put a drawing on the page's canvas, as a stroke in the browser would, and rerun."""
    at.session_state[canvas_key(at)] = canvas_state(image)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def oracle_answers(models: Path, name: str, images: np.ndarray):
    """The library's answer for every drawing, computed outside the app."""
    from digitlib.serving import Predictor

    predictor = Predictor(name, models)
    return [predictor.read_drawing(image)[1] for image in images]


def test_draw_page_without_a_drawing_prompts_and_predicts_nothing(monkeypatch, tiny_models):
    at = app(monkeypatch, tiny_models)
    assert at.title[0].value == "Draw a digit"
    assert "Draw a digit" in texts(at.info)
    assert "Prediction" not in metric_values(at)
    assert at.slider[0].value == 18, "brush width defaults to 18"


def test_draw_page_reads_real_drawings(monkeypatch, trained_cnn, drawings):
    answers = oracle_answers(trained_cnn, "cnn", drawings["images"][:40])
    chosen = [i for i, a in enumerate(answers) if a.sure and a.digit == drawings["labels"][i]][:3]
    assert len(chosen) == 3, "the trained CNN reads most drawings right"
    at = app(monkeypatch, trained_cnn)
    for i in chosen:
        draw(at, drawings["images"][i])
        shown = metric_values(at)
        assert shown["Prediction"] == str(drawings["labels"][i])
        assert shown["Confidence"] == app_state.percent(answers[i].confidence)
        captions = [c.value for c in at.caption]
        assert "Centred by mass in 28×28" in captions, "the recipe's stages are shown"


def test_draw_page_says_not_sure_with_the_two_best_guesses(monkeypatch, tiny_models, drawings):
    answers = oracle_answers(tiny_models, "cnn", drawings["images"][:100])
    unsure = next((i for i, a in enumerate(answers) if not a.sure), None)
    assert unsure is not None, "a one-epoch model is unsure of some drawing"
    (first, _), (second, _) = answers[unsure].top_two
    at = draw(app(monkeypatch, tiny_models), drawings["images"][unsure])
    assert "Not sure" in texts(at.warning)
    shown = metric_values(at)
    assert "Prediction" not in shown
    assert shown["Best guess"] == str(first) and shown["Second guess"] == str(second)


def test_clear_empties_the_canvas_and_the_answer(monkeypatch, trained_cnn, drawings):
    at = draw(app(monkeypatch, trained_cnn), drawings["images"][0])
    assert "Prediction" in metric_values(at)
    before = canvas_key(at)
    at.button[0].click().run()
    assert canvas_key(at) != before, "a new, empty canvas"
    assert "Prediction" not in metric_values(at)
    assert "Draw a digit" in texts(at.info)


def test_draw_page_shows_why_this_answer_under_what_the_model_sees(monkeypatch, trained_cnn, drawings):
    answers = oracle_answers(trained_cnn, "cnn", drawings["images"][:2])
    at = app(monkeypatch, trained_cnn)
    assert why_captions(at) == [], "no map before a drawing"
    for image, answer in zip(drawings["images"][:2], answers):
        draw(at, image)
        (why,) = why_captions(at)
        assert f"speak for {answer.digit}," in why
        captions = [c for element in at.get("image") for c in element.captions]
        assert captions.index(why) == captions.index("What the model sees: 28×28") + 1


def neighbour_captions(at) -> list[str]:
    """The captions of the nearest-training-image thumbnails ("label · similarity")."""
    return [c for image in at.get("image") for c in image.captions if " · " in c]


def test_draw_page_shows_the_nearest_training_images(monkeypatch, tmp_path, drawings, mnist):
    from digitlib.neighbours import load_index
    from digitlib.serving import Predictor

    for suffix in (".keras", ".onnx", ".neighbours.npz"):
        (tmp_path / f"cnn{suffix}").symlink_to(PROJECT_MODELS / f"cnn{suffix}")
    predictor = Predictor("cnn", tmp_path)
    index = load_index(predictor.files)
    image = drawings["images"][0]
    stages, answer = predictor.read_drawing(image)
    rows, similarity = index.nearest(predictor.embed(stages.centered), 8)
    at = draw(app(monkeypatch, tmp_path), image)
    assert neighbour_captions(at) == [f"{index.labels[r]} · {s:.2f}" for r, s in zip(rows, similarity)]
    (x_train, y_train), _ = mnist
    assert np.array_equal(index.labels[rows], y_train[rows])
    assert (y_train[rows] == answer.digit).mean() >= 0.5, "most neighbours of a clear drawing share its digit"


def test_draw_page_without_a_neighbour_index_says_how_to_make_one(monkeypatch, trained_cnn, drawings):
    at = draw(app(monkeypatch, trained_cnn), drawings["images"][0])
    assert "Prediction" in metric_values(at) and neighbour_captions(at) == []
    assert "python -m digitlib index --model cnn" in texts(at.caption)


# --- what a user can get wrong ----------------------------------------------------------------------------


@pytest.mark.parametrize("page", ["pages/draw.py", "pages/training.py", "pages/evaluation.py", "pages/misclassified.py"])
def test_no_trained_model_gives_a_clear_message(monkeypatch, tmp_path, page):
    at = app(monkeypatch, tmp_path, page)
    assert "No trained model found" in texts(at.error)
    assert "python -m digitlib train" in texts(at.error)


def test_dataset_page_works_without_models(monkeypatch, tmp_path, mnist_file):
    at = app(monkeypatch, tmp_path, "pages/dataset.py")
    assert metric_values(at)["Training images"] == "60,000"


def test_a_model_without_artifacts_explains_what_to_run(monkeypatch, tiny_models, tmp_path):
    shutil.copy(tiny_models / "cnn.keras", tmp_path)
    at = app(monkeypatch, tmp_path, "pages/evaluation.py")
    assert "python -m digitlib evaluate --model cnn" in texts(at.info)
    at = app(monkeypatch, tmp_path, "pages/misclassified.py")
    assert "python -m digitlib evaluate --model cnn" in texts(at.info)
    at = app(monkeypatch, tmp_path, "pages/training.py")
    assert "No training record" in texts(at.info)


@pytest.mark.parametrize("content", [b"not a model", b""], ids=["corrupt", "empty"])
def test_a_broken_model_file_gives_a_clear_message(monkeypatch, tmp_path, content):
    (tmp_path / "cnn.keras").write_bytes(content)
    at = app(monkeypatch, tmp_path)
    assert not at.exception and "cannot be used" in texts(at.error)


def test_missing_mnist_gives_a_clear_message(monkeypatch, tiny_models, tmp_path):
    monkeypatch.setenv("DIGITLIB_MNIST", str(tmp_path / "missing.npz"))
    for page in ("pages/dataset.py", "pages/misclassified.py"):
        at = app(monkeypatch, tiny_models, page)
        assert "MNIST could not be loaded" in texts(at.error)


def test_the_model_choice_survives_a_page_without_the_picker(monkeypatch, tiny_models):
    at = app(monkeypatch, tiny_models, "pages/evaluation.py")
    assert at.sidebar.selectbox[0].value == "cnn", "the strongest trained model by default"
    at.sidebar.selectbox[0].select("mlp").run()
    at.switch_page("pages/dataset.py").run()
    at.switch_page("pages/misclassified.py").run()
    assert at.sidebar.selectbox[0].value == "mlp"


def test_browsing_pages_do_not_import_tensorflow(tiny_models, mnist_file):
    """Dataset, Evaluation, Misclassified and Your drawings read files only: a fresh process shows them without TensorFlow."""
    script = f"""
import sys
from streamlit.testing.v1 import AppTest
for page in ("pages/dataset.py", "pages/evaluation.py", "pages/misclassified.py", "pages/drawings.py"):
    at = AppTest.from_file({APP!r}, default_timeout=120)
    at.switch_page(page).run()
    assert not at.exception and not at.error, (page, at.exception, at.error)
print("tensorflow" in sys.modules)
"""
    env = {**os.environ, "DIGITLIB_MODELS": str(tiny_models), "DIGITLIB_MNIST": str(mnist_file)}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "False"


def test_the_served_app_does_not_watch_its_folder_for_edits():
    """Streamlit's default watcher walks the app's whole folder, .venv included, before the first page shows."""
    script = "import streamlit.config as c; c.get_config_options(); print(c.get_option('server.fileWatcherType'))"
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "none"


@pytest.mark.parametrize(
    ("probability", "decimals", "shown"),
    [
        (0.99996, 1, ">99.9%"),
        (1.0, 1, ">99.9%"),
        (0.9994, 1, "99.9%"),
        (0.5, 1, "50.0%"),
        (0.00004, 1, "<0.1%"),
        (0.0, 1, "0.0%"),
        (0.996, 0, ">99%"),
        (0.994, 0, "99%"),
        (0.004, 0, "<1%"),
    ],
)
def test_probabilities_never_show_as_certain_or_impossible(probability, decimals, shown):
    assert app_state.percent(probability, decimals) == shown


def png_bytes(image: np.ndarray) -> bytes:
    """An image encoded as PNG, as a user's file would be."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def test_an_uploaded_photo_of_a_digit_is_read(monkeypatch, trained_cnn, drawings):
    index = next(i for i, a in enumerate(oracle_answers(trained_cnn, "cnn", drawings["images"][:20])) if a.sure)
    paper = 255 - drawings["images"][index]  # dark ink on white paper, as a scan would be
    at = app(monkeypatch, trained_cnn)
    at.file_uploader[0].upload("scan.png", png_bytes(paper), "image/png").run()
    assert not at.exception and not at.error
    assert metric_values(at)["Prediction"] == str(drawings["labels"][index])


@pytest.mark.parametrize(
    "name,content,message",
    [
        ("notes.png", b"this is text, renamed to .png", "not a readable PNG or JPEG"),
        ("empty.png", b"", "empty"),
        ("truncated.png", b"\x89PNG\r\n\x1a\n\x00\x00", "not a readable PNG or JPEG"),
    ],
)
def test_an_unreadable_upload_gives_a_clear_message(monkeypatch, tiny_models, name, content, message):
    at = app(monkeypatch, tiny_models)
    at.file_uploader[0].upload(name, content, "image/png").run()
    assert not at.exception
    assert message in texts(at.error) and "Prediction" not in metric_values(at)


def test_a_decompression_bomb_upload_is_refused(monkeypatch, tiny_models):
    bomb = png_bytes(np.zeros((12_000, 12_000), np.uint8))
    at = app(monkeypatch, tiny_models)
    at.file_uploader[0].upload("bomb.png", bomb, "image/png").run()
    assert not at.exception
    assert "too large" in texts(at.error)
    at.switch_page("pages/evaluation.py").run()
    assert not at.exception and at.metric, "the other pages keep working"


# --- your drawings ----------------------------------------------------------------------------------------


def as_rgba(image: np.ndarray) -> np.ndarray:
    """A grey drawing as the canvas returns it: white ink on opaque black RGBA."""
    return np.dstack([image, image, image, np.full_like(image, 255)])


def record_downloads(monkeypatch) -> list[dict]:
    """What every st.download_button is given from now on (the button is still shown)."""
    import streamlit as st

    recorded = []
    original = st.download_button

    def recording(label, data, *args, **kwargs):
        recorded.append({"label": label, "data": data, **kwargs})
        return original(label, data, *args, **kwargs)

    monkeypatch.setattr(st, "download_button", recording)
    return recorded


def read_npz(data: bytes) -> dict[str, np.ndarray]:
    """The arrays of an .npz given as bytes."""
    with np.load(io.BytesIO(data)) as arrays:
        return {k: arrays[k] for k in arrays.files}


def drawing_captions(at) -> list[str]:
    """The caption under every drawing in the Your drawings grid, in order."""
    return [c.value for c in at.caption if " said " in c.value]


def test_saving_the_right_digit_on_the_draw_page_adds_it_to_your_drawings(monkeypatch, trained_cnn, drawings, drawings_db_path):
    from digitlib.collection import list_drawings, load_canvas, opened
    from digitlib.preprocess import to_mnist

    image, label = drawings["images"][0], int(drawings["labels"][0])
    (answer,) = oracle_answers(trained_cnn, "cnn", [image])
    at = draw(app(monkeypatch, trained_cnn), image)
    key = canvas_key(at)
    assert at.button(key=f"save_{key}").disabled, "nothing to save before a digit is picked"
    at.selectbox(key=f"right_digit_{key}").select(label).run()
    at.button(key=f"save_{key}").click().run()
    assert not at.exception and f"Saved as a {label}" in texts(at.success)
    at.button(key=f"save_{key}").click().run()
    assert "Already saved" in texts(at.info), "a second click does not save it twice"

    with opened(drawings_db_path, create=False) as connection:
        (saved,) = list_drawings(connection)
        canvas = load_canvas(connection, saved.id)
    assert (saved.label, saved.predicted, saved.model) == (label, answer.digit, "cnn")
    assert saved.confidence == pytest.approx(answer.confidence, abs=1e-6)
    assert np.array_equal(canvas, as_rgba(image)), "the canvas as drawn"
    assert np.allclose(saved.input, to_mnist(as_rgba(image)), atol=1e-6), "the 28x28 input the model read"

    downloads = record_downloads(monkeypatch)
    at.switch_page("pages/drawings.py").run()
    assert not at.exception and not at.error
    assert drawing_captions(at) == [f"**{label}** · CNN said {answer.digit} ({app_state.percent(answer.confidence, 0)})"]
    exported = read_npz(downloads[-1]["data"])
    assert exported["labels"].tolist() == [label] and np.array_equal(exported["images"][0], image)


def test_your_drawings_counts_filters_exports_and_deletes(monkeypatch, tmp_path, drawings, drawings_db_path):
    from digitlib.collection import opened, save_drawing
    from digitlib.preprocess import to_mnist

    saves = [(0, 4, 9, "cnn"), (1, 4, 4, "mlp"), (2, 7, 1, "cnn")]  # (drawing, right digit, model said, model)
    with opened(drawings_db_path) as connection:
        ids = [
            save_drawing(connection, as_rgba(drawings["images"][i]), to_mnist(drawings["images"][i]), label, said, 0.5, model)
            for i, label, said, model in saves
        ]
    downloads = record_downloads(monkeypatch)
    at = app(monkeypatch, tmp_path, "pages/drawings.py")
    assert metric_values(at)["Saved drawings"] == "3"
    assert at.table[0].value.loc["drawings"].tolist() == np.bincount([4, 4, 7], minlength=10).tolist()
    assert drawing_captions(at) == ["**7** · CNN said 1 (50%)", "**4** · MLP said 4 (50%)", "**4** · CNN said 9 (50%)"]
    assert at.dataframe[0].value["drawing"].tolist() == ids[::-1], "newest first"
    assert downloads[-1]["file_name"] == "your_drawings.npz"
    exported = read_npz(downloads[-1]["data"])
    assert exported["labels"].tolist() == [4, 4, 7] and exported["sample_id"].tolist() == [f"you#{i}" for i in ids]
    assert np.array_equal(exported["images"], drawings["images"][:3])

    at.selectbox(key="drawings_digit").select(7).run()
    assert drawing_captions(at) == ["**7** · CNN said 1 (50%)"]
    at.selectbox(key="drawings_digit").select(None).run()
    at.button(key=f"delete_{ids[0]}").click().run()
    assert not at.exception
    assert metric_values(at)["Saved drawings"] == "2" and len(drawing_captions(at)) == 2
    assert at.table[0].value.loc["drawings"].tolist() == np.bincount([4, 7], minlength=10).tolist()
    assert read_npz(downloads[-1]["data"])["sample_id"].tolist() == [f"you#{i}" for i in ids[1:]], "the export follows"


def test_your_drawings_are_read_again_with_the_chosen_model(monkeypatch, trained_cnn, drawings, drawings_db_path):
    from digitlib.classes import NOT_SURE, confident_digits
    from digitlib.collection import opened, save_drawing
    from digitlib.preprocess import to_mnist
    from digitlib.serving import Predictor

    inputs = [to_mnist(drawings["images"][i]) for i in range(4)]
    labels = [int(drawings["labels"][i]) for i in range(3)] + [(int(drawings["labels"][3]) + 1) % 10]  # the last is wrong
    with opened(drawings_db_path) as connection:
        ids = [save_drawing(connection, as_rgba(drawings["images"][i]), inputs[i], labels[i], 0, 0.5, "mlp") for i in range(4)]
    predictor = Predictor("cnn", trained_cnn)
    expected = confident_digits(predictor.predict(np.stack(inputs)), predictor.threshold).tolist()  # oracle
    words = ["not sure" if a == NOT_SURE else str(a) for a in expected]

    at = app(monkeypatch, trained_cnn, "pages/drawings.py")
    assert "CNN reads right now" not in metric_values(at), "no model runs until asked"
    at.button(key="read_again").click().run()
    assert not at.exception
    assert metric_values(at)["CNN reads right now"] == f"{sum(a == l for a, l in zip(expected, labels))} of 4"
    assert drawing_captions(at) == [f"**{labels[i]}** · MLP said 0 (50%) · now {words[i]}" for i in (3, 2, 1, 0)], "newest first"
    assert at.dataframe[0].value.set_index("drawing")["CNN now"].to_dict() == {ids[i]: words[i] for i in range(4)}

    with opened(drawings_db_path) as connection:
        save_drawing(connection, as_rgba(drawings["images"][4]), to_mnist(drawings["images"][4]), int(drawings["labels"][4]), 0, 0.5, "mlp")
    at.run()
    assert metric_values(at)["CNN reads right now"].endswith("of 4") and "1 saved since are not read yet" in texts(at.caption)


def test_your_drawings_without_any_says_how_to_add_some(monkeypatch, tmp_path, drawings_db_path):
    from digitlib.collection import opened

    at = app(monkeypatch, tmp_path, "pages/drawings.py")
    assert "No drawings saved yet" in texts(at.info) and not at.download_button
    assert not drawings_db_path.exists(), "looking does not create the database"
    with opened(drawings_db_path):
        pass
    at = app(monkeypatch, tmp_path, "pages/drawings.py")
    assert "No drawings saved yet" in texts(at.info) and not at.download_button


def test_your_drawings_in_a_broken_database_give_a_clear_message(monkeypatch, tmp_path, drawings_db_path):
    drawings_db_path.write_bytes(b"not a database " * 100)
    at = app(monkeypatch, tmp_path, "pages/drawings.py")
    assert "could not be read" in texts(at.error) and "not a database" in texts(at.error)


# --- numbers and photos on the draw page ------------------------------------------------------------------


def read_alone_right(models: Path, name: str, drawings: dict[str, np.ndarray], count: int) -> list[int]:
    """Oracle: indices of the first drawings the model reads right and sure, each on its own canvas."""
    answers = oracle_answers(models, name, drawings["images"][:40])
    return [i for i, a in enumerate(answers) if a.sure and a.digit == drawings["labels"][i]][:count]


def composed_number(drawings: dict[str, np.ndarray], chosen: list[int], height: int = 100) -> np.ndarray:
    """Some drawings written side by side on one canvas, as a number."""
    from conftest import compose_number, ink_crop

    return compose_number([ink_crop(drawings["images"][i], height) for i in chosen], np.random.default_rng(0))


def number_mode(at):
    """Switch the Draw page to reading numbers."""
    at.radio(key="draw_mode").set_value("A number").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def digit_captions(at) -> list[str]:
    """The captions under the digits' 28x28 inputs, left to right."""
    return [c.value for c in at.caption if c.value.startswith("**")]


def test_number_mode_reads_a_number_drawn_on_the_wide_canvas(monkeypatch, trained_cnn, drawings):
    chosen = read_alone_right(trained_cnn, "cnn", drawings, 4)
    expected = "".join(str(drawings["labels"][i]) for i in chosen)
    at = app(monkeypatch, trained_cnn)
    before = canvas_key(at)
    number_mode(at)
    assert at.title[0].value == "Draw a number" and canvas_key(at) != before, "a fresh, wider canvas"
    assert "Write a number" in texts(at.info)
    canvas = np.zeros((280, 560), np.uint8)
    number = composed_number(drawings, chosen)
    canvas[:, : number.shape[1]] = number[:, :560]
    draw(at, canvas)
    assert not at.error and metric_values(at)["Number"] == expected
    assert [c.split("**")[1] for c in digit_captions(at)] == list(expected), "each digit's input with its answer"
    assert "4 digits found, left to right" in [c for element in at.get("image") for c in element.captions]


def test_number_mode_shows_touching_digits_cut_apart(monkeypatch, trained_cnn, drawings):
    import cv2

    from conftest import compose_number, ink_crop
    from digitlib.numbers import read_number
    from digitlib.serving import Predictor

    # Oracle: the first pair of touching digits that the library cuts apart and reads right with this model.
    predictor, rng = Predictor("cnn", trained_cnn), np.random.default_rng(5)
    for _ in range(100):
        chosen = rng.choice(len(drawings["labels"]), 2, replace=False)
        number = compose_number([ink_crop(drawings["images"][i], 120) for i in chosen], rng, gap_range=(-0.12, 0.0))
        expected = "".join(str(drawings["labels"][i]) for i in chosen)
        one_piece = cv2.connectedComponents((number > 40).astype(np.uint8))[0] == 2
        if one_piece and number.shape[1] <= 560 and read_number(predictor, number).text == expected:
            break
    else:
        pytest.fail("no pair of touching digits was cut apart and read right")
    at = number_mode(app(monkeypatch, trained_cnn))
    canvas = np.zeros((280, 560), np.uint8)
    canvas[:, : number.shape[1]] = number
    draw(at, canvas)
    assert not at.error and metric_values(at)["Number"] == expected
    assert [c.split("**")[1] for c in digit_captions(at)] == list(expected), "each half's input with its answer"
    assert "2 digits found, left to right" in [c for element in at.get("image") for c in element.captions]


def test_number_mode_reads_an_uploaded_photo_of_a_number(monkeypatch, trained_cnn, drawings):
    from conftest import photographed

    chosen = read_alone_right(trained_cnn, "cnn", drawings, 3)
    expected = "".join(str(drawings["labels"][i]) for i in chosen)
    photo = photographed(composed_number(drawings, chosen, height=160), np.random.default_rng(1), side=700)
    at = number_mode(app(monkeypatch, trained_cnn))
    at.file_uploader[0].upload("number.jpg", photo, "image/jpeg").run()
    assert not at.exception and not at.error
    assert metric_values(at)["Number"] == expected


def test_one_digit_mode_reads_an_uploaded_photo(monkeypatch, trained_cnn, drawings):
    from conftest import photographed

    (index,) = read_alone_right(trained_cnn, "cnn", drawings, 1)
    at = app(monkeypatch, trained_cnn)
    photo = photographed(drawings["images"][index], np.random.default_rng(2), dark_ink=False)
    at.file_uploader[0].upload("board.jpg", photo, "image/jpeg").run()
    assert not at.exception and not at.error
    assert metric_values(at)["Prediction"] == str(drawings["labels"][index])


@pytest.mark.parametrize("numbers", [False, True], ids=["one digit", "a number"])
def test_a_photo_of_blank_paper_has_no_ink(monkeypatch, trained_cnn, numbers):
    from conftest import photographed

    at = app(monkeypatch, trained_cnn)
    if numbers:
        number_mode(at)
    at.file_uploader[0].upload("paper.jpg", photographed(np.zeros((280, 280), np.uint8), np.random.default_rng(3)), "image/jpeg").run()
    assert not at.exception and not at.error
    assert "No ink found in the uploaded picture" in texts(at.info)
    assert "Number" not in metric_values(at) and "Prediction" not in metric_values(at)


@pytest.mark.parametrize(
    "content,message",
    [(b"this is text, renamed to .png", "not a readable PNG or JPEG"), (b"", "empty")],
    ids=["text", "empty"],
)
def test_number_mode_gives_a_clear_message_for_an_unreadable_upload(monkeypatch, tiny_models, content, message):
    at = number_mode(app(monkeypatch, tiny_models))
    at.file_uploader[0].upload("notes.png", content, "image/png").run()
    assert not at.exception
    assert message in texts(at.error) and "Number" not in metric_values(at)
