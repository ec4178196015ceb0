"""How fast the app answers a stroke: drawing, preprocessing, serving and `model.predict`, in one run."""

from __future__ import annotations

import resource
import time
from collections.abc import Callable, Sequence

import numpy as np

from digitlib.artifacts import available_models, machine_description, model_files
from digitlib.classes import unsure_rows
from digitlib.data import load_mnist
from digitlib.explain import occlusion_map
from digitlib.preprocess import to_mnist, to_model_input
from digitlib.registry import preferred_model
from digitlib.serving import Predictor, onnx_session
from digitlib.strokes import CANVAS_SIZE, PEN_WIDTH, PenStroke, draw_strokes

BLOCK = 50
# Strokes reach the app hundreds of milliseconds apart, and a call after an idle pause finds the CPU's
# caches cold: the bench times calls in a row and calls after a pause.
PAUSE_S = 0.02


def _summary_ms(samples: np.ndarray) -> dict[str, float]:
    """Median and 95th percentile of wall times in seconds, in milliseconds."""
    return {
        "p50_ms": float(np.median(samples) * 1e3),
        "p95_ms": float(np.percentile(samples, 95) * 1e3),
        "n": len(samples),
    }


def timings_ms(action: Callable[[], object], repeats: int, warmup: int) -> dict[str, float]:
    """Median and 95th percentile wall time of `action` in milliseconds, after a warm-up."""
    return interleaved_timings_ms({"action": action}, repeats, warmup)["action"]


def interleaved_timings_ms(
    actions: dict[str, Callable[[], object]], repeats: int, warmup: int
) -> dict[str, dict]:
    """Timings of several actions measured in turns of BLOCK calls each, after a warm-up of each.

    Taking turns exposes every action to the same drifts of a shared machine's speed, so their
    times can be compared and added up.
    """
    for action in actions.values():
        for _ in range(warmup):
            action()
    samples = {name: np.empty(repeats) for name in actions}
    for start in range(0, repeats, BLOCK):
        for name, action in actions.items():
            for i in range(start, min(start + BLOCK, repeats)):
                began = time.perf_counter()
                action()
                samples[name][i] = time.perf_counter() - began
    return {name: _summary_ms(times) for name, times in samples.items()}


def timings_after_pause_ms(
    action: Callable[[], object], repeats: int, pause_s: float = PAUSE_S
) -> dict[str, float]:
    """Median and 95th percentile wall time of `action` when each call follows an idle pause, like strokes."""
    samples = np.empty(repeats)
    for i in range(repeats):
        time.sleep(pause_s)
        began = time.perf_counter()
        action()
        samples[i] = time.perf_counter() - began
    return _summary_ms(samples)


def two_strokes() -> list[PenStroke]:
    """A 2 as the Draw page's canvas sends it: one stroke of 32 points at the default pen width."""
    angles = np.linspace(1.1 * np.pi, 2.15 * np.pi, 16)
    arc = np.stack([140 + 55 * np.cos(angles), 100 + 50 * np.sin(angles)], axis=1)
    diagonal = np.linspace(arc[-1], [85, 225], 10)[1:]
    base = np.linspace([85, 225], [200, 222], 8)[1:]
    return [PenStroke(np.round(np.vstack([arc, diagonal, base]), 1), PEN_WIDTH)]


def serving_timings(
    name: str,
    strokes: Sequence[PenStroke],
    image: np.ndarray,
    test_images: np.ndarray,
    repeats: int,
    directory: str | None,
) -> dict:
    """The serving path of one model: load, preprocess, one image, a stroke's full path, why-map, batch."""
    start = time.perf_counter()
    predictor = Predictor(name, directory)
    load_s = time.perf_counter() - start
    digit = int(predictor.predict(image).argmax())
    timings = {
        "backend": "onnxruntime",
        "load_s": round(load_s, 3),
        # In turns, so the full path compares with its parts; it costs more than their sum measured alone
        # because the model's weights and the canvas push each other out of the CPU cache. The full path is
        # the Draw page's work for a stroke: draw the strokes, read them, count their marks.
        **interleaved_timings_ms(
            {
                "preprocess": lambda: to_mnist(draw_strokes(strokes, CANVAS_SIZE, CANVAS_SIZE)),
                "predict": lambda: predictor.predict(image),
                "full_path": lambda: predictor.read_strokes(strokes, CANVAS_SIZE, CANVAS_SIZE),
            },
            repeats,
            warmup=50,
        ),
        "full_path_after_pause": timings_after_pause_ms(
            lambda: predictor.read_strokes(strokes, CANVAS_SIZE, CANVAS_SIZE), max(20, repeats // 20)
        ),
        "why_map": timings_ms(
            lambda: occlusion_map(predictor.predict, image, digit), max(20, repeats // 20), warmup=5
        ),
    }
    start = time.perf_counter()
    served = predictor.predict(test_images)
    batch_s = time.perf_counter() - start
    if predictor.companion is not None:
        alone = onnx_session(predictor.files)
        answers = alone.run(None, {alone.get_inputs()[0].name: test_images[..., None]})[0]
        asked = unsure_rows(answers, predictor.companion.asked_below)
        unsure = test_images[asked[0]]
        timings["companion_asked_rate"] = len(asked) / len(answers)
        timings["predict_asking_companion"] = timings_ms(lambda: predictor.predict(unsure), repeats, 50)
        # An answer still unsure once every companion was asked is one each of them was asked about.
        still = unsure_rows(served, predictor.companion.asked_below)
        if predictor.companion.drawn_weight is not None and still:
            unsure_after_all = test_images[still[0]]
            timings["predict_asking_both"] = timings_ms(
                lambda: predictor.predict(unsure_after_all), repeats, 50
            )
    return {
        **timings,
        "batch_10k_s": round(batch_s, 3),
        "batch_images_per_s": round(len(test_images) / batch_s),
    }


def model_predict_timings(name: str, image: np.ndarray, repeats: int, directory: str | None) -> dict:
    """`model.predict(x, verbose=0)` of the Keras model on one preprocessed image."""
    from digitlib.export import load_keras_model

    keras_model = load_keras_model(model_files(name, directory).model)
    keras_input = to_model_input(image, keras_model.input_shape)
    return timings_ms(lambda: keras_model.predict(keras_input, verbose=0), repeats, warmup=5)


def run_benchmark(repeats: int = 2000, names: list[str] | None = None, directory: str | None = None) -> dict:
    """Benchmark every trained model (or `names`) on this machine; the default model's numbers on top."""
    _, (x_test, _) = load_mnist()
    strokes = two_strokes()
    test_images = x_test.astype(np.float32) / 255.0
    names = names or available_models(directory)
    # Every serving path first: once TensorFlow is loaded for model.predict, its threads compete for the CPU.
    image = to_mnist(draw_strokes(strokes, CANVAS_SIZE, CANVAS_SIZE))
    per_model = {
        name: serving_timings(name, strokes, image, test_images, repeats, directory) for name in names
    }
    for name, timings in per_model.items():
        timings["model_predict"] = model_predict_timings(name, image, max(20, repeats // 40), directory)
        timings["speedup_vs_model_predict"] = (
            timings["model_predict"]["p50_ms"] / timings["predict"]["p50_ms"]
        )
        timings["full_path_speedup_vs_model_predict"] = (
            timings["model_predict"]["p50_ms"] / timings["full_path"]["p50_ms"]
        )
    default = preferred_model(names)
    d = per_model[default]
    return {
        "model": default,
        "full_path_p50_ms": d["full_path"]["p50_ms"],
        "full_path_after_pause_p50_ms": d["full_path_after_pause"]["p50_ms"],
        "preprocess_p50_ms": d["preprocess"]["p50_ms"],
        "predict_p50_ms": d["predict"]["p50_ms"],
        "model_predict_p50_ms": d["model_predict"]["p50_ms"],
        "speedup_vs_model_predict": d["speedup_vs_model_predict"],
        "peak_memory_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "machine": machine_description(),
        "models": per_model,
    }
