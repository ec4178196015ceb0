"""digit studio's command line: train, evaluate and predict."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from digitlib.artifacts import (
    DEFAULT_MODEL,
    MODEL_NAMES,
    ArtifactError,
    bench_path,
    model_files,
    read_json,
    write_json,
)
from digitlib.data import DataError


class UsageError(RuntimeError):
    """A mistake in what the user asked for."""


def _quiet_tensorflow() -> None:
    """Keep TensorFlow's start-up chatter off the terminal."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _train(args: argparse.Namespace) -> int:
    from digitlib.train import train

    files = train(args.model, epochs=args.epochs, out=args.out, mnist=args.mnist, limit=args.limit, seed=args.seed)
    print(f"saved {files.model} and {files.training}")
    return 0


def _print_table(rows: list[tuple[str, str]]) -> None:
    """Two aligned columns."""
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")


def _evaluate(args: argparse.Namespace) -> int:
    from digitlib.data import load_drawings
    from digitlib.evaluate import drawing_answers, drawing_scores, evaluate_mnist, misread_drawings
    from digitlib.serving import Predictor
    from digitlib.sheet import contact_sheet, save_sheet

    files = model_files(args.model, args.models)
    if args.errors and not args.drawings:
        raise UsageError("--errors needs --drawings")
    if args.drawings:
        drawings = load_drawings(args.drawings)
        predictor = Predictor(args.model, args.models)
        threshold = predictor.threshold if args.threshold is None else args.threshold
        answers, guesses = drawing_answers(predictor.predict, drawings["images"], threshold)
        result = {"model": args.model, "drawings": Path(args.drawings).name, **drawing_scores(drawings, answers, guesses, threshold)}
        if args.errors:
            wrong, captions = misread_drawings(drawings, answers, guesses)
            save_sheet(args.errors, contact_sheet(drawings["images"][wrong], captions))
        saved = read_json(files.drawn) if files.drawn.is_file() else {}
        saved[Path(args.drawings).stem] = result
        write_json(files.drawn, saved)
        rows = [("drawings", result["drawings"]), ("n", str(result["n"])), ("answered", f"{result['answered_rate']:.2%}")]
        if "accuracy" in result:
            rows.append(("accuracy", f"{result['accuracy']:.2%}"))
            rows.append(("before threshold", f"{result['accuracy_before_threshold']:.2%}"))
            rows += [(f"  {k}", f"{v['score']:.2%} of {v['n']}") for k, v in result.get("per_institution", {}).items()]
            rows.append(("most confused", ", ".join(f"{p['true']}->{p['predicted']} {p['count']}" for p in result["confused_pairs"][:5])))
        else:
            rows.append(("rejection rate", f"{result['rejection_rate']:.2%}"))
        if args.errors:
            rows.append(("errors sheet", f"{len(wrong)} drawings in {args.errors}"))
    else:
        result = evaluate_mnist(Predictor(args.model, args.models).predict, files, args.mnist)
        rows = [("model", args.model), ("n", str(result["n"])), ("accuracy", f"{result['accuracy']:.2%}"), ("loss", f"{result['loss']:.4f}")]
        rows += [(f"  digit {s['digit']}", f"precision {s['precision']:.3f}  recall {s['recall']:.3f}  f1 {s['f1']:.3f}") for s in result["per_class"]]
        result = {k: v for k, v in result.items() if k not in ("confusion", "per_class", "confused_pairs")}
    if args.json:
        print(json.dumps(result))
    else:
        _print_table(rows)
    return 0


def _read_file(path: str) -> bytes:
    """The bytes of a file, with a readable error."""
    file = Path(path)
    if not file.is_file():
        raise UsageError(f"no such file: {path}")
    return file.read_bytes()


def _predict(args: argparse.Namespace) -> int:
    from digitlib.preprocess import decode_image
    from digitlib.serving import Predictor

    drawings = []
    for path in args.images:
        try:
            drawings.append(decode_image(_read_file(path)))
        except ValueError as error:
            raise UsageError(f"cannot read {path}: {error}") from error
    predictor = Predictor(args.model, args.models)
    results = []
    for path, drawing in zip(args.images, drawings):
        read = predictor.read_drawing(drawing)
        if read is None:
            results.append({"file": path, "digit": None, "sure": False, "message": "no ink found"})
            continue
        answer = read[1]
        results.append(
            {
                "file": path,
                "digit": answer.digit,
                "confidence": answer.confidence,
                "sure": answer.sure,
                "probabilities": [round(float(p), 6) for p in answer.probabilities],
            }
        )
    if args.json:
        print(json.dumps(results if len(results) > 1 else results[0]))
    else:
        for r in results:
            if r["digit"] is None:
                print(f"{r['file']}: no ink found")
            else:
                note = "" if r["sure"] else " (not sure)"
                print(f"{r['file']}: {r['digit']}  confidence {r['confidence']:.1%}{note}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from digitlib.serving import export_onnx

    names = args.model or [n for n in MODEL_NAMES if model_files(n, args.models).model.is_file()]
    for name in names:
        files = model_files(name, args.models)
        if not files.model.is_file():
            raise UsageError(f"model not found: {files.model}")
        print(f"exported {export_onnx(files)}")
    return 0


def _index(args: argparse.Namespace) -> int:
    import numpy as np

    from digitlib.data import load_mnist
    from digitlib.neighbours import build_index, save_index
    from digitlib.serving import Predictor

    (x_train, y_train), _ = load_mnist(args.mnist)
    for name in args.model or _trained_models(args.models):
        predictor = Predictor(name, args.models)
        features = predictor.embed(x_train.astype(np.float32) / 255)
        save_index(build_index(features, y_train), predictor.files.neighbours)
        print(f"indexed the {len(x_train)} MNIST training images for {name}: {predictor.files.neighbours}")
    return 0


def _trained_models(directory: str | None = None) -> list[str]:
    """The known models that have a `.keras` file, in MODEL_NAMES order; a UsageError when there are none."""
    from digitlib.artifacts import available_models

    names = [n for n in MODEL_NAMES if n in available_models(directory)]
    if not names:
        raise UsageError("no trained models in the models folder: run `python -m digitlib train` first")
    return names


def _bench(args: argparse.Namespace) -> int:
    from digitlib.bench import run_benchmark

    _trained_models()
    report = run_benchmark(repeats=args.repeats, names=args.model)
    write_json(bench_path(), report)
    machine = report["machine"]
    print(f"machine: {machine['cpu']}, {machine['cores']} cores, {machine['memory_gib']} GiB")
    print(f"{'model':<9} {'backend':<11} {'preprocess':>10} {'predict':>9} {'full path':>9} {'after pause':>11} {'model.predict':>13} {'speedup':>8} {'10k batch':>9} {'load':>6}")
    for name, m in report["models"].items():
        print(
            f"{name:<9} {m['backend']:<11} {m['preprocess']['p50_ms']:>8.3f}ms {m['predict']['p50_ms']:>7.3f}ms "
            f"{m['full_path']['p50_ms']:>7.3f}ms {m['full_path_after_pause']['p50_ms']:>9.3f}ms {m['model_predict']['p50_ms']:>11.2f}ms {m['speedup_vs_model_predict']:>7.0f}x "
            f"{m['batch_10k_s']:>8.2f}s {m['load_s']:>5.2f}s"
        )
    print("(p50 over repeated single-image calls after a warm-up, in a row and after 20 ms pauses; p95 and counts in the JSON below)")
    print(json.dumps(report))
    return 0


def _calibrate(args: argparse.Namespace) -> int:
    from digitlib.data import load_drawings
    from digitlib.evaluate import choose_threshold, top_confidences
    from digitlib.serving import Predictor

    predictor = Predictor(args.model, args.models)
    digits, nondigits = load_drawings(args.digits), load_drawings(args.nondigits)
    chosen = choose_threshold(
        top_confidences(predictor.predict, digits["images"]),
        top_confidences(predictor.predict, nondigits["images"]),
        args.min_answered,
        args.min_rejected,
    )
    chosen.update(model=args.model, digits=Path(args.digits).name, nondigits=Path(args.nondigits).name)
    write_json(predictor.files.threshold, chosen)
    print(json.dumps(chosen))
    return 0


def _export_drawings(args: argparse.Namespace) -> int:
    from digitlib.collection import drawings_db, export_arrays, npz_bytes, opened

    with opened(args.db, create=False) as connection:
        arrays = export_arrays(connection)
    if not len(arrays["labels"]):
        raise UsageError(f"no drawings saved in {drawings_db(args.db)} yet: correct a drawing on the app's Draw page first")
    out = Path(args.out)
    out.write_bytes(npz_bytes(arrays))
    print(f"exported {len(arrays['labels'])} drawings to {out} (score them with `python -m digitlib evaluate --drawings {out}`)")
    return 0


def _report(args: argparse.Namespace) -> int:
    from digitlib.evaluate import results_table

    names = _trained_models(args.models)
    print(results_table(names, args.models))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with one sub-command per action."""
    parser = argparse.ArgumentParser(prog="python -m digitlib", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    models_help = "models folder (default: $DIGITLIB_MODELS, else the project's models/)"
    mnist_help = "local mnist.npz (default: $DIGITLIB_MNIST, else download through Keras)"

    train = commands.add_parser("train", help="train a model on MNIST train")
    train.add_argument("--model", choices=MODEL_NAMES, default=DEFAULT_MODEL)
    train.add_argument("--epochs", type=int)
    train.add_argument("--out", help=models_help)
    train.add_argument("--mnist", help=mnist_help)
    train.add_argument("--limit", type=int, help="train on only this many images (quick runs)")
    train.add_argument("--seed", type=int)
    train.set_defaults(run=_train)

    evaluate = commands.add_parser("evaluate", help="score a model on MNIST test or on drawn canvases")
    evaluate.add_argument("--model", default=DEFAULT_MODEL)
    evaluate.add_argument("--drawings", help="npz of canvases with 'images' and 'labels' or 'letters'")
    evaluate.add_argument("--threshold", type=float, help="confidence below which the answer is 'not sure'")
    evaluate.add_argument("--models", help=models_help)
    evaluate.add_argument("--mnist", help=mnist_help)
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.add_argument(
        "--errors", metavar="SHEET.png", help="with --drawings: a PNG of every drawing misread (best guess wrong; letters answered as digits)"
    )
    evaluate.set_defaults(run=_evaluate)

    predict = commands.add_parser("predict", help="read the digit in PNG/JPEG images")
    predict.add_argument("images", nargs="+")
    predict.add_argument("--model", default=DEFAULT_MODEL)
    predict.add_argument("--models", help=models_help)
    predict.add_argument("--json", action="store_true", help="print JSON")
    predict.set_defaults(run=_predict)

    calibrate = commands.add_parser("calibrate", help="choose the 'not sure' threshold on drawn digits and non-digits")
    calibrate.add_argument("--model", default=DEFAULT_MODEL)
    calibrate.add_argument("--digits", required=True, help="npz of drawn digits (images, labels)")
    calibrate.add_argument("--nondigits", required=True, help="npz of drawn non-digits (images, letters)")
    calibrate.add_argument("--min-answered", type=float, default=0.98, help="fraction of digits that must be answered")
    calibrate.add_argument(
        "--min-rejected", type=float, default=0.92, help="fraction of non-digits to reject, if the digits allow (default: 90%% and a margin)"
    )
    calibrate.add_argument("--models", help=models_help)
    calibrate.set_defaults(run=_calibrate)

    bench = commands.add_parser("bench", help="time preprocessing and prediction on this machine")
    bench.add_argument("--model", action="append", choices=MODEL_NAMES, help="(repeatable; default: every trained model)")
    bench.add_argument("--repeats", type=int, default=2000, help="timed calls per measurement")
    bench.add_argument("--json", action="store_true", help="(the last line is always the JSON report)")
    bench.set_defaults(run=_bench)

    report = commands.add_parser("report", help="print the README's results table from the saved artifacts")
    report.add_argument("--models", help=models_help)
    report.set_defaults(run=_report)

    export = commands.add_parser("export", help="export models to ONNX for fast serving")
    export.add_argument("--model", action="append", choices=MODEL_NAMES, help="(repeatable; default: every trained model)")
    export.add_argument("--models", help=models_help)
    export.set_defaults(run=_export)

    index = commands.add_parser("index", help="index the MNIST training images for nearest-neighbour lookup")
    index.add_argument("--model", action="append", choices=MODEL_NAMES, help="(repeatable; default: every trained model)")
    index.add_argument("--models", help=models_help)
    index.add_argument("--mnist", help=mnist_help)
    index.set_defaults(run=_index)

    drawings = commands.add_parser("export-drawings", help="write the drawings saved in the app as a drawn_dev-style npz")
    drawings.add_argument("out", help="the .npz file to write")
    drawings.add_argument("--db", help="drawings database (default: $DIGITLIB_DRAWINGS_DB, else the project's data/drawings.sqlite3)")
    drawings.set_defaults(run=_export_drawings)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status (1 with one readable line on a user error)."""
    _quiet_tensorflow()
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (UsageError, DataError, ArtifactError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
