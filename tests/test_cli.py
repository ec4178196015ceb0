"""The command line: the app's own answers on real digits and drawings, one readable line per user error."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import ROOT, digit_on_canvas

from digitlib.classes import NOT_SURE
from digitlib.data import fold_names, unreadable
from digitlib.photo import picture_ink
from digitlib.preprocess import to_mnist
from digitlib.registry import MODEL_NAMES
from digitlib.serving import Predictor
from digitlib.sheet import CAPTION_HEIGHT, COLUMNS, GUTTER, TILE

MODELS = ROOT / "models"
DRAWN_KEYS = ("images", "labels", "institution", "sample_id")
LETTER_KEYS = ("images", "letters", "institution", "sample_id")


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run `python -m digitlib ...` from the project root."""
    return subprocess.run(
        [sys.executable, "-m", "digitlib", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


def assert_one_line_error(result: subprocess.CompletedProcess, fragment: str) -> None:
    """Non-zero exit, no traceback, and one `error:` line that says what is wrong."""
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and fragment in errors[0], result.stderr


def cnn_models(folder: Path, calibrated: bool = True) -> Path:
    """A models folder linking the committed CNN's Keras and ONNX files, and its threshold if `calibrated`."""
    folder.mkdir(parents=True, exist_ok=True)
    for suffix in (".keras", ".onnx", ".threshold.json") if calibrated else (".keras", ".onnx"):
        (folder / f"cnn{suffix}").symlink_to(MODELS / f"cnn{suffix}")
    return folder


def cnn_probabilities(images: np.ndarray) -> np.ndarray:
    """Oracle: the committed CNN's probabilities for canvases, through the app's preprocessing."""
    return Predictor("cnn", MODELS).predict(np.stack([to_mnist(image) for image in images]))


def answers_at(probabilities: np.ndarray, threshold: float) -> np.ndarray:
    """Oracle: the top digit where it reaches the threshold, else "not sure" (for a ten-class model)."""
    return np.where(probabilities.max(axis=1) >= threshold, probabilities.argmax(axis=1), NOT_SURE)


def by_institution(institutions: np.ndarray, correct: np.ndarray) -> dict:
    """Oracle: the count and share right of each institution's drawings."""
    return {
        str(name): {
            "n": int((institutions == name).sum()),
            "score": pytest.approx(correct[institutions == name].mean()),
        }
        for name in np.unique(institutions)
    }


@pytest.fixture(scope="module")
def digit_pngs(tmp_path_factory, mnist):
    """Five MNIST test digits drawn as 280x280 PNGs in two layouts, with their labels."""
    _, (x_test, y_test) = mnist
    folder = tmp_path_factory.mktemp("pngs")
    paths = []
    for i in range(5):
        canvas = digit_on_canvas(x_test[i], 160 + 10 * i, 20 * i, 30 + 10 * i)
        image = canvas if i % 2 else 255 - canvas  # white-on-black and black-on-white paper
        path = folder / f"digit{i}.png"
        cv2.imwrite(str(path), image)
        paths.append(str(path))
    return paths, [int(y) for y in y_test[:5]]


def test_predict_answers_each_file_as_the_photo_upload_does(digit_pngs):
    paths, labels = digit_pngs
    result = run_cli("predict", *paths, "--model", "cnn", "--models", str(MODELS), "--json")
    assert result.returncode == 0, result.stderr
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(answers) == len(paths)
    predictor = Predictor("cnn", MODELS)
    for path, label, answer in zip(paths, labels, answers):
        expected = predictor.read_drawing(picture_ink(Path(path).read_bytes())).answer
        assert answer == {
            "file": path,
            "answer": str(label),
            "digit": label,
            "confidence": pytest.approx(expected.confidence),
            "sure": True,
            "probabilities": pytest.approx(expected.probabilities.tolist(), abs=1e-6),
        }


def test_predict_plain_output_names_the_digit(digit_pngs):
    paths, labels = digit_pngs
    result = run_cli("predict", paths[0], "--model", "cnn", "--models", str(MODELS))
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 1
    assert result.stdout.startswith(f"{paths[0]}: {labels[0]}  confidence ")


def test_predict_below_the_threshold_says_not_sure_and_gives_the_best_guess(digit_pngs, tmp_path):
    paths, labels = digit_pngs
    models = cnn_models(tmp_path, calibrated=False)
    (models / "cnn.threshold.json").write_text(json.dumps({"threshold": 1.0}))
    result = run_cli("predict", paths[0], "--model", "cnn", "--models", str(models))
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(
        rf"{re.escape(paths[0])}: not sure \(best guess {labels[0]}, \d+\.\d%\)\n", result.stdout
    )


@pytest.mark.parametrize("saved", ['{"model": "cnn"}', '{"threshold": "high"}', '{"threshold": 7}', "[0.5]"])
def test_predict_with_a_broken_threshold_file_says_so_in_one_line(digit_pngs, tmp_path, saved):
    models = cnn_models(tmp_path, calibrated=False)
    (models / "cnn.threshold.json").write_text(saved)
    result = run_cli("predict", digit_pngs[0][0], "--model", "cnn", "--models", str(models))
    assert_one_line_error(result, "cnn.threshold.json has no threshold from 0 to 1")


def test_predict_a_blank_picture_says_no_ink(tmp_path):
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((200, 200), 255, np.uint8))
    result = run_cli("predict", str(blank), "--model", "cnn", "--models", str(MODELS))
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{blank}: no ink found\n"


def test_predict_a_flat_line_gives_no_digit_as_the_photo_upload_does(tmp_path):
    """Oracle: the Draw page's photo mode gives no answer for a flat line, only a hint."""
    line = tmp_path / "line.png"
    paper = np.full((280, 280), 255, np.uint8)
    cv2.line(paper, (40, 140), (240, 140), 0, 12)
    cv2.imwrite(str(line), paper)
    result = run_cli("predict", str(line), "--model", "cnn", "--models", str(MODELS), "--json")
    assert result.returncode == 0, result.stderr
    said = json.loads(result.stdout)
    assert said["answer"] is None and said["message"].startswith("That is a flat line, not a digit.")


def test_predict_answers_the_good_files_and_fails_for_a_bad_one(digit_pngs, tmp_path):
    paths, labels = digit_pngs
    missing = tmp_path / "missing.png"
    result = run_cli("predict", paths[0], str(missing), paths[1], "--model", "cnn", "--models", str(MODELS))
    assert result.returncode == 1
    assert [line.split("  ")[0] for line in result.stdout.splitlines()] == [
        f"{paths[0]}: {labels[0]}",
        f"{paths[1]}: {labels[1]}",
    ]
    assert_one_line_error(result, f"cannot read {missing}: No such file or directory")


def test_predict_missing_file(tmp_path):
    missing = tmp_path / "nope.png"
    assert_one_line_error(
        run_cli("predict", str(missing), "--model", "cnn", "--models", str(MODELS)),
        f"cannot read {missing}: No such file or directory",
    )


def test_predict_non_image_renamed_png(tmp_path):
    fake = tmp_path / "fake.png"
    fake.write_text("just some text, not a picture")
    assert_one_line_error(
        run_cli("predict", str(fake), "--model", "cnn", "--models", str(MODELS)),
        f"cannot read {fake}: not a readable PNG or JPEG image",
    )


def test_predict_empty_file(tmp_path):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    assert_one_line_error(
        run_cli("predict", str(empty), "--model", "cnn", "--models", str(MODELS)),
        f"cannot read {empty}: the file is empty",
    )


def test_predict_decompression_bomb(tmp_path):
    bomb = tmp_path / "bomb.png"
    _, png = cv2.imencode(".png", np.zeros((12_000, 12_000), np.uint8), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    bomb.write_bytes(png.tobytes())
    assert_one_line_error(
        run_cli("predict", str(bomb), "--model", "cnn", "--models", str(MODELS)),
        f"cannot read {bomb}: the image is too large (12000x12000 px",
    )


def test_missing_model(digit_pngs, tmp_path):
    paths, _ = digit_pngs
    missing = f"model not found: {tmp_path / 'cnn.onnx'}"
    assert_one_line_error(run_cli("predict", paths[0], "--model", "cnn", "--models", str(tmp_path)), missing)
    assert_one_line_error(run_cli("evaluate", "--model", "cnn", "--models", str(tmp_path)), missing)


@pytest.mark.parametrize("command", [["predict", "digit.png"], ["evaluate"], ["calibrate"]])
def test_only_declared_models_can_be_asked_for(command, tmp_path):
    """A removed model is refused even where its files still lie."""
    (tmp_path / "quicknet.onnx").symlink_to(MODELS / "cnn.onnx")
    result = run_cli(*command, "--model", "quicknet", "--models", str(tmp_path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    refusal = result.stderr.splitlines()[-1]
    assert "error: argument --model: invalid choice: 'quicknet'" in refusal
    assert all(name in refusal for name in MODEL_NAMES)


@pytest.mark.parametrize("content", [b"definitely not an onnx model", b""], ids=["corrupt", "empty"])
def test_corrupt_or_empty_model_file(digit_pngs, tmp_path, content):
    paths, _ = digit_pngs
    (tmp_path / "cnn.onnx").write_bytes(content)
    assert_one_line_error(
        run_cli("predict", paths[0], "--model", "cnn", "--models", str(tmp_path)),
        f"cannot load model {tmp_path / 'cnn.onnx'}",
    )


def test_an_export_not_made_from_the_keras_file_beside_it_is_refused(digit_pngs, tmp_path):
    paths, _ = digit_pngs
    (tmp_path / "cnn.onnx").symlink_to(MODELS / "cnn.onnx")
    (tmp_path / "cnn.keras").symlink_to(MODELS / "mlp.keras")
    assert_one_line_error(
        run_cli("predict", paths[0], "--model", "cnn", "--models", str(tmp_path)),
        f"{tmp_path / 'cnn.onnx'} was not exported from {tmp_path / 'cnn.keras'}",
    )


def test_missing_drawings_file(tmp_path):
    missing = tmp_path / "x.npz"
    assert_one_line_error(
        run_cli("evaluate", "--model", "cnn", "--models", str(MODELS), "--drawings", str(missing)),
        f"drawings file not found: {missing}",
    )


def test_missing_mnist(tmp_path):
    models = cnn_models(tmp_path / "models")
    missing = tmp_path / "mnist.npz"
    result = run_cli("evaluate", "--model", "cnn", "--mnist", str(missing), "--models", str(models))
    assert_one_line_error(result, f"MNIST file not found: {missing}")


def test_an_export_in_integers_without_mnist_fails_in_one_line_and_writes_nothing(tmp_path):
    networks = ["inknet.companion.keras", "inknet.drawn_companion.keras", "inknet.keras"]
    for network in networks:
        (tmp_path / network).symlink_to(ROOT / "models" / network)
    missing = tmp_path / "mnist.npz"
    result = run_cli("export", "--model", "inknet", "--models", str(tmp_path), "--mnist", str(missing))
    assert_one_line_error(result, f"MNIST file not found: {missing}")
    assert sorted(path.name for path in tmp_path.iterdir()) == networks


@pytest.mark.parametrize(
    ("option", "message"),
    [([], "no trained models in the models folder"), (["--model", "cnn"], "model not found: ")],
    ids=["none trained", "cnn missing"],
)
def test_export_without_a_model_fails_in_exactly_one_line(tmp_path, option, message):
    result = run_cli("export", "--models", str(tmp_path), *option)
    assert_one_line_error(result, message)
    assert result.stderr.count("\n") == 1, "TensorFlow's start-up lines came first"


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--errors", "errors.png"], "--errors needs --drawings"),
        (["--save"], "--save needs --drawings"),
        (["--threshold", "0.9"], "--threshold needs --drawings"),
    ],
    ids=["errors", "save", "threshold"],
)
def test_errors_sheet_save_and_threshold_need_drawings(tmp_path, option, message):
    models = cnn_models(tmp_path / "models")
    assert_one_line_error(run_cli("evaluate", "--model", "cnn", "--models", str(models), *option), message)
    assert sorted(path.name for path in models.iterdir()) == ["cnn.keras", "cnn.onnx", "cnn.threshold.json"]


# --- drawn sets -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def drawn_subset(shared_data_dir, tmp_path_factory) -> tuple[Path, dict[str, np.ndarray]]:
    """100 drawn digits, every 61st (one of them unreadable), as `subset.npz`, and their arrays."""
    with np.load(shared_data_dir / "drawn_dev.npz") as data:
        rows = np.arange(0, len(data["labels"]), 61)[:100]
        subset = {key: data[key][rows] for key in DRAWN_KEYS}
    path = tmp_path_factory.mktemp("drawn") / "subset.npz"
    np.savez(path, **subset)
    return path, subset


def test_evaluate_drawings_scores_the_app_answers_and_keeps_them_only_when_asked(drawn_subset, tmp_path):
    path, subset = drawn_subset
    models = cnn_models(tmp_path / "models")
    sheet = tmp_path / "errors.png"
    result = run_cli(
        "evaluate", "--model", "cnn", "--models", str(models), "--drawings", str(path), "--json",
        "--errors", str(sheet),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    threshold = json.loads((MODELS / "cnn.threshold.json").read_text())["threshold"]
    probabilities, labels = cnn_probabilities(subset["images"]), subset["labels"]
    guesses, answered = probabilities.argmax(axis=1), probabilities.max(axis=1) >= threshold
    correct = answers_at(probabilities, threshold) == labels
    readable = ~unreadable(subset["sample_id"])
    assert readable.sum() == 99
    assert report["model"] == "cnn" and report["drawings"] == "subset.npz" and report["n"] == 100
    assert report["measured"] == "as shipped" and report["threshold"] == pytest.approx(threshold)
    assert report["accuracy"] == pytest.approx(correct.mean()) and 0.85 <= report["accuracy"] < 1
    assert report["answered_rate"] == pytest.approx(answered.mean())
    assert report["readable_answered_rate"] == pytest.approx(answered[readable].mean())
    assert report["accuracy_before_threshold"] == pytest.approx((guesses == labels).mean())
    assert report["readable_n"] == 99 and report["readable_accuracy"] == pytest.approx(
        correct[readable].mean()
    )
    assert report["per_institution"] == by_institution(subset["institution"], correct)
    assert report["per_institution_readable"] == by_institution(
        subset["institution"][readable], correct[readable]
    )
    assert not (models / "cnn.drawn.json").exists()
    # The sheet holds one tile per drawing whose best guess is wrong, eight to a row.
    misread = int((guesses != labels).sum())
    assert misread > 0 and cv2.imread(str(sheet)).shape[0] == GUTTER + -(-misread // COLUMNS) * (
        TILE + CAPTION_HEIGHT + GUTTER
    )


def test_evaluate_drawings_table_gives_the_best_guess_on_the_readable_ones(drawn_subset, tmp_path):
    path, subset = drawn_subset
    models = cnn_models(tmp_path / "models")
    result = run_cli("evaluate", "--model", "cnn", "--models", str(models), "--drawings", str(path))
    assert result.returncode == 0, result.stderr
    readable = ~unreadable(subset["sample_id"])
    right = cnn_probabilities(subset["images"]).argmax(axis=1) == subset["labels"]
    rows = dict(re.split(r"\s{2,}", line.strip(), maxsplit=1) for line in result.stdout.splitlines())
    assert rows["best guess right (readable)"] == f"{right[readable].mean():.2%}"


def test_evaluate_save_keeps_the_result_under_the_set_name_beside_earlier_ones(drawn_subset, tmp_path):
    path, subset = drawn_subset
    models = cnn_models(tmp_path)
    earlier = {"drawn_dev": {"n": 6114, "accuracy": 0.95}}
    (models / "cnn.drawn.json").write_text(json.dumps(earlier))
    result = run_cli(
        "evaluate", "--model", "cnn", "--models", str(models), "--drawings", str(path), "--threshold", "0.99",
        "--save", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert json.loads((models / "cnn.drawn.json").read_text()) == {**earlier, "subset": report}
    # The threshold asked for applies to every drawing, whatever the model's calibration.
    probabilities = cnn_probabilities(subset["images"])
    answered = probabilities.max(axis=1) >= 0.99
    assert report["threshold"] == 0.99 and 0 < answered.mean() < 1
    assert report["answered_rate"] == pytest.approx(answered.mean())
    assert report["accuracy"] == pytest.approx((answers_at(probabilities, 0.99) == subset["labels"]).mean())


@pytest.fixture(scope="module")
def calibration_sets(shared_data_dir, tmp_path_factory) -> dict:
    """Drawn digits (every 100th, and five unreadable ones) and letters (every 40th) as npz files, with the
    committed CNN's confidence on the readable digits and on the letters and their folds."""
    folder = tmp_path_factory.mktemp("calibration")
    with np.load(shared_data_dir / "drawn_dev.npz") as data:
        rows = np.r_[0 : len(data["labels"]) : 100, 3182:3191:2]
        digits = {key: data[key][rows] for key in DRAWN_KEYS}
    with np.load(shared_data_dir / "nondigit_dev.npz") as data:
        letters = {key: data[key][::40] for key in LETTER_KEYS}
    np.savez(folder / "digits.npz", **digits)
    np.savez(folder / "letters.npz", **letters)
    readable = ~unreadable(digits["sample_id"])
    return {
        "digits": folder / "digits.npz",
        "letters": folder / "letters.npz",
        "readable_n": int(readable.sum()),
        "digit_confidence": cnn_probabilities(digits["images"][readable]).max(axis=1),
        "digit_folds": fold_names(digits["institution"][readable]),
        "letter_confidence": cnn_probabilities(letters["images"]).max(axis=1),
        "letter_folds": fold_names(letters["institution"]),
    }


def calibrate_cnn(sets: dict, models: Path, *options: str) -> dict:
    """Run `calibrate` on the sets; the threshold file it saved, checked to be what it printed."""
    result = run_cli(
        "calibrate", "--model", "cnn", "--models", str(models), "--digits", str(sets["digits"]),
        "--nondigits", str(sets["letters"]), *options,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    saved = json.loads((models / "cnn.threshold.json").read_text())
    assert json.loads(result.stdout) == saved
    assert saved["digits"] == "digits" and saved["nondigits"] == "letters"
    assert saved["digits_n"] == sets["readable_n"] == 61 and saved["nondigits_n"] == 50
    assert set(saved["folds"]) == set(sets["digit_folds"]) | set(sets["letter_folds"])
    return saved


def assert_lowest_rejecting(threshold: float, digits: np.ndarray, letters: np.ndarray) -> None:
    """`threshold` answers 60% of the digits, rejects 30% of the letters, and no lower one rejects as many."""
    assert (digits >= threshold).mean() >= 0.6
    rejected = letters < threshold
    assert rejected.mean() >= 0.3
    assert (letters < letters[rejected].max()).mean() < 0.3


def test_calibrate_rejects_the_share_of_letters_asked_and_no_more(calibration_sets, tmp_path):
    """The threshold, and each fold's from the other folds alone, is the lowest rejecting the share asked."""
    sets = calibration_sets
    saved = calibrate_cnn(
        sets, cnn_models(tmp_path, calibrated=False), "--min-answered", "0.6", "--min-rejected", "0.3"
    )
    digits, letters = sets["digit_confidence"], sets["letter_confidence"]
    assert saved["min_answered"] == 0.6 and saved["min_rejected"] == 0.3
    assert_lowest_rejecting(saved["threshold"], digits, letters)
    assert saved["digits_answered_rate"] == pytest.approx((digits >= saved["threshold"]).mean())
    assert saved["nondigits_rejection_rate"] == pytest.approx((letters < saved["threshold"]).mean())
    for fold, threshold in saved["folds"].items():
        assert_lowest_rejecting(
            threshold, digits[sets["digit_folds"] != fold], letters[sets["letter_folds"] != fold]
        )


def test_calibrate_by_default_answers_99_3_percent_of_readable_digits(calibration_sets, tmp_path):
    """The CNN cannot reject 96% of letters and still answer 99.3% of 61 digits: it answers them all."""
    sets = calibration_sets
    saved = calibrate_cnn(sets, cnn_models(tmp_path, calibrated=False))
    digits = sets["digit_confidence"]
    assert saved["min_answered"] == 0.993 and saved["min_rejected"] == 0.96
    assert saved["threshold"] == pytest.approx(digits.min()) and saved["digits_answered_rate"] == 1.0
    assert saved["folds"] == {
        fold: pytest.approx(digits[sets["digit_folds"] != fold].min()) for fold in saved["folds"]
    }


def test_measure_scores_mnist_calibrates_reads_the_drawn_sets_and_indexes(
    calibration_sets, tmp_path, mnist_file
):
    """What `make results` runs for every model, here for the committed CNN on a sample of the drawn sets."""
    import shutil

    from digitlib.artifacts import model_files
    from digitlib.neighbours import load_index

    data = tmp_path / "data"
    data.mkdir()
    digits_file = shutil.copy(calibration_sets["digits"], data / "drawn_dev.npz")
    letters_file = shutil.copy(calibration_sets["letters"], data / "nondigit_dev.npz")
    models = cnn_models(tmp_path / "models", calibrated=False)
    result = run_cli(
        "measure", "--model", "cnn", "--models", str(models), "--data", str(data), "--mnist", str(mnist_file)
    )
    assert result.returncode == 0, result.stderr
    files = model_files("cnn", models)
    committed = json.loads((MODELS / "cnn.metrics.json").read_text())
    assert json.loads(files.metrics.read_text())["accuracy"] == committed["accuracy"], "the same model"
    # Oracle: with the default rule the CNN answers every readable digit, here and in each fold alone.
    sets = calibration_sets
    threshold = json.loads(files.threshold.read_text())
    assert threshold["digits"] == "drawn_dev" and threshold["nondigits"] == "nondigit_dev"
    assert threshold["threshold"] == pytest.approx(sets["digit_confidence"].min())
    with np.load(digits_file) as saved:
        digits = {key: saved[key] for key in DRAWN_KEYS}
    readable = ~unreadable(digits["sample_id"])
    probabilities = cnn_probabilities(digits["images"][readable])
    folds = fold_names(digits["institution"][readable])
    each = np.array([threshold["folds"][fold] for fold in folds])
    right = (probabilities.argmax(axis=1) == digits["labels"][readable]) & (probabilities.max(axis=1) >= each)
    drawn = json.loads(files.drawn.read_text())
    assert drawn["drawn_dev"]["readable_accuracy"] == pytest.approx(right.mean())
    assert drawn["drawn_dev"]["measured"] == "out of institution", "each fold's threshold from the others"
    with np.load(letters_file) as saved:
        letters, letter_folds = cnn_probabilities(saved["images"]), fold_names(saved["institution"])
    rejected = letters.max(axis=1) < np.array([threshold["folds"][fold] for fold in letter_folds])
    assert drawn["nondigit_dev"]["rejection_rate"] == pytest.approx(rejected.mean())
    with np.load(mnist_file) as saved:
        x_train = saved["x_train"][:3].astype(np.float32) / 255
    index, predictor = load_index(files), Predictor("cnn", models)
    nearest = [int(index.nearest(predictor.embed(image), 1)[0][0]) for image in x_train]
    assert nearest == [0, 1, 2], "a training image's nearest neighbour is itself"
    assert f"cnn: MNIST {committed['accuracy']:.2%}" in result.stdout


# --- your drawings ----------------------------------------------------------------------------------------


def test_export_drawings_of_every_visitor_then_evaluate_them(shared_data_dir, tmp_path):
    from digitlib.collection import opened, save_drawing

    with np.load(shared_data_dir / "drawn_dev.npz") as data:
        rows = np.arange(0, len(data["labels"]), 301)[:20]
        images, labels = data["images"][rows], data["labels"][rows].astype(int)
    labels[::4] = (labels[::4] + 1) % 10  # some wrong labels, so the expected accuracy is below 1
    models = cnn_models(tmp_path / "models")
    probabilities = cnn_probabilities(images)
    answers = answers_at(probabilities, Predictor("cnn", models).threshold)
    db = tmp_path / "drawings.sqlite3"
    with opened(db) as connection:
        for i, (image, label, answer, p) in enumerate(zip(images, labels, answers, probabilities)):
            canvas = np.dstack([image, image, image, np.full_like(image, 255)])
            owner = ("alice", "bob", None)[i % 3]
            save_drawing(
                connection, owner, canvas, to_mnist(canvas), int(label), int(answer), float(p.max()), "cnn"
            )

    out = tmp_path / "mine.npz"
    exported = run_cli("export-drawings", str(out), "--db", str(db))
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout.startswith(f"exported 20 drawings to {out}")
    with np.load(out) as arrays:
        assert arrays["labels"].tolist() == labels.tolist()
    result = run_cli("evaluate", "--model", "cnn", "--models", str(models), "--drawings", str(out), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    expected = float((answers == labels).mean())
    assert report["n"] == report["readable_n"] == 20 and expected < 1
    assert report["accuracy"] == pytest.approx(expected)
    assert report["per_institution"] == {"you": {"n": 20, "score": pytest.approx(expected)}}


def test_export_drawings_without_a_database_or_drawings(drawings_db_path, tmp_path):
    from digitlib.collection import opened

    out = tmp_path / "mine.npz"
    assert_one_line_error(run_cli("export-drawings", str(out)), f"no drawings database at {drawings_db_path}")
    with opened(drawings_db_path):
        pass
    assert_one_line_error(run_cli("export-drawings", str(out)), "no drawings saved")
    garbage = tmp_path / "garbage.sqlite3"
    garbage.write_bytes(b"not a database " * 100)
    assert_one_line_error(run_cli("export-drawings", str(out), "--db", str(garbage)), "not a database")
    assert not out.exists()


def test_bench_reports_every_measurement_as_its_last_line(tmp_path):
    models = cnn_models(tmp_path / "models")
    out = tmp_path / "bench.json"
    result = run_cli("bench", "--model", "cnn", "--repeats", "30", "--out", str(out), "--models", str(models))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["model"] == "cnn" and report["models"]["cnn"]["backend"] == "onnxruntime"
    keys = (
        "full_path_p50_ms",
        "full_path_after_pause_p50_ms",
        "preprocess_p50_ms",
        "predict_p50_ms",
        "model_predict_p50_ms",
    )
    for key in (*keys, "speedup_vs_model_predict"):
        assert report[key] > 0, key
    assert report["speedup_vs_model_predict"] == pytest.approx(
        report["model_predict_p50_ms"] / report["predict_p50_ms"]
    )
    assert json.loads(out.read_text()) == report
