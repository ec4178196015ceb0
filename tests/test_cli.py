"""The command line: right answers on real digits, one readable line on every user error."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from conftest import ROOT, digit_on_canvas
from digitlib.sheet import CAPTION_HEIGHT, COLUMNS, GUTTER, TILE


def run_cli(*args: str) -> subprocess.CompletedProcess:
    """Run `python -m digitlib ...` from the project root."""
    return subprocess.run([sys.executable, "-m", "digitlib", *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def assert_one_line_error(result: subprocess.CompletedProcess, fragment: str) -> None:
    """Non-zero exit, no traceback, and one `error:` line that says what is wrong."""
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and fragment in errors[0], result.stderr


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


def test_predict_reads_real_digits(digit_pngs):
    paths, labels = digit_pngs
    result = run_cli("predict", *paths, "--model", "cnn", "--json")
    assert result.returncode == 0, result.stderr
    answers = json.loads(result.stdout.strip().splitlines()[-1])
    assert [a["digit"] for a in answers] == labels
    assert all(len(a["probabilities"]) == 10 and a["confidence"] > 0.5 for a in answers)


def test_predict_plain_output_names_the_digit(digit_pngs):
    paths, labels = digit_pngs
    result = run_cli("predict", paths[0], "--model", "cnn")
    assert result.returncode == 0 and result.stdout.startswith(f"{paths[0]}: {labels[0]}")


def test_predict_missing_file(tmp_path):
    assert_one_line_error(run_cli("predict", str(tmp_path / "nope.png")), "no such file")


def test_predict_non_image_renamed_png(tmp_path):
    fake = tmp_path / "fake.png"
    fake.write_text("just some text, not a picture")
    assert_one_line_error(run_cli("predict", str(fake)), "not a readable")


def test_predict_empty_file(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    assert_one_line_error(run_cli("predict", str(tmp_path / "empty.png")), "empty")


def test_predict_decompression_bomb(tmp_path):
    ok, png = cv2.imencode(".png", np.zeros((12_000, 12_000), np.uint8), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    (tmp_path / "bomb.png").write_bytes(png.tobytes())
    assert_one_line_error(run_cli("predict", str(tmp_path / "bomb.png")), "too large")


def test_missing_model(digit_pngs, tmp_path):
    paths, _ = digit_pngs
    assert_one_line_error(run_cli("predict", paths[0], "--models", str(tmp_path)), "model not found")
    assert_one_line_error(run_cli("evaluate", "--model", "nosuchmodel"), "model not found")


@pytest.mark.parametrize("content", [b"PK\x03\x04 definitely not a keras archive", b""], ids=["corrupt", "empty"])
def test_corrupt_or_empty_model_file(digit_pngs, tmp_path, content):
    paths, _ = digit_pngs
    (tmp_path / "cnn.keras").write_bytes(content)
    assert_one_line_error(run_cli("predict", paths[0], "--model", "cnn", "--models", str(tmp_path)), "cannot load model")


def test_missing_drawings_file(tmp_path):
    assert_one_line_error(run_cli("evaluate", "--model", "cnn", "--drawings", str(tmp_path / "x.npz")), "not found")


def test_missing_mnist(tmp_path):
    result = run_cli("evaluate", "--model", "cnn", "--mnist", str(tmp_path / "mnist.npz"), "--models", str(tmp_path))
    assert_one_line_error(result, "not found")


def test_evaluate_drawings_json(shared_data_dir, tmp_path):
    with np.load(shared_data_dir / "drawn_dev.npz") as data:
        rows = np.arange(0, len(data["labels"]), 61)[:100]
        subset = {k: data[k][rows] for k in ("images", "labels", "institution")}
    np.savez(tmp_path / "subset.npz", **subset)
    models = tmp_path / "models"
    models.mkdir()
    os.symlink(ROOT / "models" / "cnn.keras", models / "cnn.keras")
    sheet = tmp_path / "errors.png"
    result = run_cli(
        "evaluate", "--model", "cnn", "--models", str(models), "--drawings", str(tmp_path / "subset.npz"), "--json", "--errors", str(sheet)
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["n"] == 100 and 0.85 <= report["accuracy"] <= 1.0
    assert 0.0 <= report["answered_rate"] <= 1.0 and set(report["per_institution"]) <= set(subset["institution"])
    assert json.loads((models / "cnn.drawn.json").read_text())["subset"]["n"] == 100
    # The sheet holds one tile per drawing whose best guess is wrong, eight to a row.
    misread = round(100 * (1 - report["accuracy_before_threshold"]))
    assert misread > 0 and cv2.imread(str(sheet)).shape[0] == GUTTER + -(-misread // COLUMNS) * (TILE + CAPTION_HEIGHT + GUTTER)


def test_calibrate_rejects_the_share_of_letters_asked_and_no_more(shared_data_dir, tmp_path):
    """The saved threshold answers enough digits, rejects the share of letters asked for, and is the lowest that does."""
    from digitlib.evaluate import top_confidences
    from digitlib.serving import Predictor

    with np.load(shared_data_dir / "drawn_dev.npz") as data:
        np.savez(tmp_path / "digits.npz", images=data["images"][::100], labels=data["labels"][::100])
    with np.load(shared_data_dir / "nondigit_dev.npz") as data:
        np.savez(tmp_path / "letters.npz", images=data["images"][::40], letters=data["letters"][::40])
    models = tmp_path / "models"
    models.mkdir()
    os.symlink(ROOT / "models" / "cnn.keras", models / "cnn.keras")
    result = run_cli(
        "calibrate", "--model", "cnn", "--models", str(models), "--digits", str(tmp_path / "digits.npz"),
        "--nondigits", str(tmp_path / "letters.npz"), "--min-answered", "0.6", "--min-rejected", "0.3",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    saved = json.loads((models / "cnn.threshold.json").read_text())
    predict = Predictor("cnn", models).predict
    with np.load(tmp_path / "digits.npz") as digits, np.load(tmp_path / "letters.npz") as letters:
        digit_confidence, letter_confidence = top_confidences(predict, digits["images"]), top_confidences(predict, letters["images"])
    threshold = saved["threshold"]
    assert (digit_confidence >= threshold).mean() >= 0.6
    assert (letter_confidence < threshold).mean() >= 0.3 and saved["nondigits_rejection_rate"] == (letter_confidence < threshold).mean()
    # Any lower threshold rejects fewer letters than asked.
    assert (letter_confidence < letter_confidence[letter_confidence < threshold].max()).mean() < 0.3


def test_an_errors_sheet_needs_drawings(tmp_path):
    assert_one_line_error(run_cli("evaluate", "--model", "cnn", "--errors", str(tmp_path / "errors.png")), "--errors needs --drawings")


# --- your drawings ----------------------------------------------------------------------------------------


def test_export_drawings_then_evaluate_them(shared_data_dir, tmp_path):
    from digitlib.classes import confident_digits
    from digitlib.collection import opened, save_drawing
    from digitlib.preprocess import to_mnist
    from digitlib.serving import Predictor

    with np.load(shared_data_dir / "drawn_dev.npz") as data:
        rows = np.arange(0, len(data["labels"]), 301)[:20]
        canvases = [np.dstack([image, image, image, np.full_like(image, 255)]) for image in data["images"][rows]]
        labels = data["labels"][rows].astype(int)
    labels[::4] = (labels[::4] + 1) % 10  # some wrong labels, so the expected accuracy is below 1
    models = tmp_path / "models"
    models.mkdir()
    os.symlink(ROOT / "models" / "cnn.keras", models / "cnn.keras")
    predictor = Predictor("cnn", models)
    inputs = np.stack([to_mnist(canvas) for canvas in canvases])
    probabilities = predictor.predict(inputs)
    db = tmp_path / "drawings.sqlite3"
    with opened(db) as connection:
        for canvas, model_input, label, p in zip(canvases, inputs, labels, probabilities):
            save_drawing(connection, canvas, model_input, int(label), int(p.argmax()), float(p.max()), "cnn")

    out = tmp_path / "mine.npz"
    exported = run_cli("export-drawings", str(out), "--db", str(db))
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout.startswith(f"exported 20 drawings to {out}")
    result = run_cli("evaluate", "--model", "cnn", "--models", str(models), "--drawings", str(out), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    expected = float((confident_digits(probabilities, predictor.threshold) == labels).mean())
    assert report["n"] == 20 and report["accuracy"] == pytest.approx(expected) and expected < 1
    assert report["per_institution"] == {"you": {"n": 20, "score": pytest.approx(expected)}}


def test_export_drawings_without_a_database_or_drawings(drawings_db_path, tmp_path):
    from digitlib.collection import opened

    out = tmp_path / "mine.npz"
    assert_one_line_error(run_cli("export-drawings", str(out)), "no drawings database")  # at $DIGITLIB_DRAWINGS_DB
    with opened(drawings_db_path):
        pass
    assert_one_line_error(run_cli("export-drawings", str(out)), "no drawings saved")
    garbage = tmp_path / "garbage.sqlite3"
    garbage.write_bytes(b"not a database " * 100)
    assert_one_line_error(run_cli("export-drawings", str(out), "--db", str(garbage)), "not a database")
    assert not out.exists()


def test_bench_reports_every_measurement_as_its_last_line(tmp_path):
    for path in (ROOT / "models").glob("cnn.*"):
        (tmp_path / path.name).write_bytes(path.read_bytes())
    result = subprocess.run(
        [sys.executable, "-m", "digitlib", "bench", "--model", "cnn", "--repeats", "30", "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env={**os.environ, "DIGITLIB_MODELS": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["model"] == "cnn" and report["models"]["cnn"]["backend"] == "onnxruntime"
    keys = ("full_path_p50_ms", "full_path_after_pause_p50_ms", "preprocess_p50_ms", "predict_p50_ms", "model_predict_p50_ms")
    for key in (*keys, "speedup_vs_model_predict"):
        assert report[key] > 0, key
    # The full path is preprocessing plus prediction; model.predict is the slow way to do the second.
    assert report["full_path_p50_ms"] > report["predict_p50_ms"]
    assert report["speedup_vs_model_predict"] == pytest.approx(report["model_predict_p50_ms"] / report["predict_p50_ms"])
    assert json.loads((tmp_path / "bench.json").read_text())["model"] == "cnn"
