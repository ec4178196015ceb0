"""digit studio's command line: train, evaluate, calibrate, predict, benchmark and report."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from digitlib.artifacts import ArtifactError, available_models, model_files, read_json, write_json
from digitlib.calibrate import MIN_ANSWERED, MIN_REJECTED, calibrate
from digitlib.data import DataError
from digitlib.registry import DEFAULT_MODEL, MODEL_NAMES, spec

BENCH_FILE = Path(__file__).resolve().parent.parent / "docs" / "bench.json"
NO_MODELS = "no trained models in the models folder: run `python -m digitlib train` first"


class UsageError(RuntimeError):
    """A mistake in what the user asked for."""


def _quiet_tensorflow() -> None:
    """Keep TensorFlow's start-up chatter off the terminal."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _print_table(rows: list[tuple[str, str]]) -> None:
    """Two aligned columns."""
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")


def _trained_models(directory: str | None = None) -> list[str]:
    """The declared models that are trained, in the registry's order; a UsageError when there are none."""
    names = available_models(directory)
    if not names:
        raise UsageError(NO_MODELS)
    return names


def _train(args: argparse.Namespace) -> int:
    from digitlib.train import train

    for name in MODEL_NAMES if args.all else [args.model]:
        files = train(name, args.epochs, args.models, args.mnist, args.limit, args.seed, args.data)
        model_spec = spec(name)
        companion = f", {files.companion}, {files.companion_onnx}" if model_spec.companion else ""
        if model_spec.has_drawn_companion:
            companion += f", {files.drawn_companion}, {files.drawn_companion_onnx}"
        print(f"saved {files.model}, {files.onnx}{companion} and {files.training}")
    return 0


def _drawing_rows(result: dict) -> list[tuple[str, str]]:
    """The lines that describe a model's result on a drawn set."""
    rows = [("drawings", result["drawings"]), ("measured", result["measured"]), ("n", str(result["n"]))]
    if "accuracy" not in result:
        return [
            *rows,
            ("letters rejected", f"{result['rejection_rate']:.2%}"),
            ("said not a digit", f"{result['not_a_digit_rate']:.2%}"),
        ]
    rows += [
        ("right and answered", f"{result['accuracy']:.2%}"),
        ("  readable ones", f"{result['readable_accuracy']:.2%} of {result['readable_n']}"),
        ("answered (readable)", f"{result['readable_answered_rate']:.2%}"),
        ("best guess right (readable)", f"{result['readable_accuracy_before_threshold']:.2%}"),
    ]
    rows += [
        (f"  {k}", f"{v['score']:.2%} of {v['n']}")
        for k, v in result.get("per_institution_readable", {}).items()
    ]
    pairs = ", ".join(f"{p['true']}->{p['predicted']} {p['count']}" for p in result["confused_pairs"][:5])
    rows.append(("most confused", pairs))
    rows += [
        (f"readable, the writer keeping {way}", f"{kept['readable_accuracy']:.2%}")
        for way, kept in result.get("with_kept", {}).items()
    ]
    return rows


def _evaluate(args: argparse.Namespace) -> int:
    from digitlib.evaluate import evaluate_drawings, evaluate_mnist
    from digitlib.serving import Predictor

    if args.errors and not args.drawings:
        raise UsageError("--errors needs --drawings")
    if args.save and not args.drawings:
        raise UsageError("--save needs --drawings (MNIST's test results are always saved)")
    if args.threshold is not None and not args.drawings:
        raise UsageError("--threshold needs --drawings (MNIST's test set is scored by the best guess)")
    predictor = Predictor(args.model, args.models)
    if not args.drawings:
        result = evaluate_mnist(predictor.predict, predictor.files, args.mnist)
        rows = [
            ("model", args.model),
            ("n", str(result["n"])),
            ("accuracy", f"{result['accuracy']:.2%}"),
            ("loss", f"{result['loss']:.4f}"),
        ]
        rows += [
            (
                f"  digit {s['digit']}",
                f"precision {s['precision']:.3f}  recall {s['recall']:.3f}  f1 {s['f1']:.3f}",
            )
            for s in result["per_class"]
        ]
        result = {k: v for k, v in result.items() if k not in ("confusion", "per_class", "confused_pairs")}
    else:
        from digitlib.data import load_drawings

        drawings = load_drawings(args.drawings)
        threshold = predictor.threshold if args.threshold is None else args.threshold
        scores, answers, guesses = evaluate_drawings(
            predictor.predict,
            predictor.files,
            drawings,
            threshold,
            fold_thresholds=args.threshold is None,
            features=predictor.likeness_features,
        )
        result = {"model": args.model, "drawings": Path(args.drawings).name, **scores}
        rows = _drawing_rows(result)
        if args.errors:
            from digitlib.evaluate import misread_drawings
            from digitlib.sheet import contact_sheet, save_sheet

            wrong, captions = misread_drawings(drawings, answers, guesses)
            save_sheet(args.errors, contact_sheet(drawings["images"][wrong], captions))
            rows.append(("errors sheet", f"{len(wrong)} drawings in {args.errors}"))
        if args.save:
            files = predictor.files
            saved = read_json(files.drawn) if files.drawn.is_file() else {}
            write_json(files.drawn, {**saved, drawings["name"]: result})
            rows.append(("saved in", str(files.drawn)))
    if args.json:
        print(json.dumps(result))
    else:
        _print_table(rows)
    return 0


def _predict(args: argparse.Namespace) -> int:
    from digitlib.classes import answer_text
    from digitlib.hints import blocking_hint
    from digitlib.photo import picture_ink
    from digitlib.serving import Predictor

    predictor = Predictor(args.model, args.models)
    results, failed = [], 0
    for path in args.images:
        try:
            read = predictor.read_drawing(picture_ink(Path(path).read_bytes()))
        except (OSError, ValueError) as error:
            failed += 1
            print(f"error: cannot read {path}: {getattr(error, 'strerror', None) or error}", file=sys.stderr)
            continue
        if read is None or read.blocked:
            message = "no ink found" if read is None else blocking_hint(read.hints).message
            results.append({"file": path, "answer": None, "message": message})
            continue
        answer = read.answer
        results.append(
            {
                "file": path,
                "answer": answer_text(answer.verdict),
                "digit": answer.digit,
                "confidence": answer.confidence,
                "sure": answer.sure,
                "probabilities": [round(float(p), 6) for p in answer.probabilities],
            }
        )
    for r in results:
        if args.json:
            print(json.dumps(r))
        elif r["answer"] is None:
            print(f"{r['file']}: {r['message']}")
        elif r["sure"]:
            print(f"{r['file']}: {r['digit']}  confidence {r['confidence']:.1%}")
        else:
            print(f"{r['file']}: {r['answer']} (best guess {r['digit']}, {r['confidence']:.1%})")
    return 1 if failed else 0


def _export(args: argparse.Namespace) -> int:
    declared = [model_files(name, args.models) for name in args.model or MODEL_NAMES]
    files = declared if args.model else [f for f in declared if f.model.is_file()]
    if not files:
        raise UsageError(NO_MODELS)
    missing = next((f.model for f in files if not f.model.is_file()), None)
    if missing is not None:
        raise UsageError(f"model not found: {missing}")
    # Only now: importing TensorFlow prints its own lines before any of ours.
    from digitlib.export import export_onnx

    for f in files:
        print(f"exported {export_onnx(f, args.mnist)}")
    return 0


def _index(args: argparse.Namespace) -> int:
    import numpy as np

    from digitlib.data import load_mnist
    from digitlib.neighbours import build_index, save_index
    from digitlib.serving import Predictor

    (x_train, y_train), _ = load_mnist(args.mnist)
    for name in args.model or _trained_models(args.models):
        predictor = Predictor(name, args.models)
        save_index(
            build_index(predictor.embed(x_train.astype(np.float32) / 255), y_train),
            predictor.files.neighbours,
        )
        print(f"indexed the {len(x_train)} MNIST training images for {name}: {predictor.files.neighbours}")
    return 0


def _bench(args: argparse.Namespace) -> int:
    from digitlib.bench import run_benchmark

    _trained_models(args.models)
    report = run_benchmark(repeats=args.repeats, names=args.model, directory=args.models)
    write_json(Path(args.out), report)
    machine = report["machine"]
    print(f"machine: {machine['cpu']}, {machine['cores']} cores, {machine['memory_gib']} GiB")
    print(
        f"{'model':<9} {'preprocess':>10} {'predict':>9} {'full path':>9} {'after pause':>11} "
        f"{'model.predict':>13} {'speed-up':>8} {'10k batch':>9} {'load':>6}"
    )
    for name, m in report["models"].items():
        print(
            f"{name:<9} {m['preprocess']['p50_ms']:>8.3f}ms {m['predict']['p50_ms']:>7.3f}ms "
            f"{m['full_path']['p50_ms']:>7.3f}ms {m['full_path_after_pause']['p50_ms']:>9.3f}ms "
            f"{m['model_predict']['p50_ms']:>11.2f}ms {m['speedup_vs_model_predict']:>7.0f}x "
            f"{m['batch_10k_s']:>8.2f}s {m['load_s']:>5.2f}s"
        )
    print(
        "(p50 over repeated single-image calls after a warm-up, in a row and after 20 ms pauses; "
        "all figures in the JSON below)"
    )
    print(json.dumps(report))
    return 0


def _calibrate(args: argparse.Namespace) -> int:
    from digitlib.data import DIGITS_SET, LETTERS_SET, drawn_set, load_drawings
    from digitlib.serving import Predictor

    predictor = Predictor(args.model, args.models)
    digits = load_drawings(args.digits) if args.digits else drawn_set(DIGITS_SET, args.data)
    letters = load_drawings(args.nondigits) if args.nondigits else drawn_set(LETTERS_SET, args.data)
    chosen = {
        "model": args.model,
        **calibrate(
            predictor.predict, predictor.files, digits, letters, args.min_answered, args.min_rejected
        ),
    }
    write_json(predictor.files.threshold, chosen)
    print(json.dumps(chosen))
    return 0


def _measure(args: argparse.Namespace) -> int:
    from digitlib.data import DIGITS_SET, LETTERS_SET, drawn_set
    from digitlib.evaluate import evaluate_drawings, evaluate_mnist
    from digitlib.serving import Predictor

    digits, letters = drawn_set(DIGITS_SET, args.data), drawn_set(LETTERS_SET, args.data)
    for name in args.model or _trained_models(args.models):
        predictor = Predictor(name, args.models)
        files = predictor.files
        mnist = evaluate_mnist(predictor.predict, files, args.mnist)
        calibration = calibrate(predictor.predict, files, digits, letters)
        write_json(files.threshold, {"model": name, **calibration})
        drawn = {
            s["name"]: evaluate_drawings(
                predictor.predict,
                files,
                s,
                calibration["threshold"],
                features=predictor.likeness_features,
            )[0]
            for s in (digits, letters)
        }
        write_json(files.drawn, drawn)
        print(
            f"{name}: MNIST {mnist['accuracy']:.2%}; "
            f"drawn digits right {drawn[DIGITS_SET]['readable_accuracy']:.2%} "
            f"(readable, {drawn[DIGITS_SET]['measured']}); "
            f"letters rejected {drawn[LETTERS_SET]['rejection_rate']:.2%}"
        )
        _index(argparse.Namespace(model=[name], models=args.models, mnist=args.mnist))
    return 0


def _export_drawings(args: argparse.Namespace) -> int:
    from digitlib.collection import drawings_db, export_arrays, npz_bytes, opened

    with opened(args.db, create=False) as connection:
        arrays = export_arrays(connection, owner=None)
    if not len(arrays["labels"]):
        raise UsageError(
            f"no drawings saved in {drawings_db(args.db)} yet: save a drawing on the app's Draw page first"
        )
    out = Path(args.out)
    out.write_bytes(npz_bytes(arrays))
    print(
        f"exported {len(arrays['labels'])} drawings to {out} "
        f"(score them with `python -m digitlib evaluate --drawings {out}`)"
    )
    return 0


def _report(args: argparse.Namespace) -> int:
    from digitlib.report import readme_table, results_page, write_readme_table

    names = _trained_models(args.models)
    page = results_page(names, args.models, Path(args.bench))
    if args.write:
        Path(args.write).write_text(page)
        write_readme_table(Path(args.readme), readme_table(names, args.models, Path(args.bench)))
        print(f"wrote {args.write} and the results table of {args.readme}")
    else:
        print(page)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with one sub-command per action."""
    parser = argparse.ArgumentParser(prog="python -m digitlib", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    models_help = "models folder (default: $DIGITLIB_MODELS, else the project's models/)"
    mnist_help = "local mnist.npz (default: $DIGITLIB_MNIST, else download it once)"
    data_help = (
        "folder of drawn_dev.npz and nondigit_dev.npz (default: $DIGITLIB_DATA, else beside $DIGITLIB_MNIST)"
    )

    train = commands.add_parser(
        "train", help="train a model (and fine-tune it on real drawings, if its recipe says so)"
    )
    which = train.add_mutually_exclusive_group()
    which.add_argument("--model", choices=MODEL_NAMES, default=DEFAULT_MODEL)
    which.add_argument("--all", action="store_true", help="train every model, one after the other")
    train.add_argument("--epochs", type=int, help="MNIST epochs (default: the recipe's)")
    train.add_argument("--models", help=models_help)
    train.add_argument("--mnist", help=mnist_help)
    train.add_argument("--data", help=data_help)
    train.add_argument("--limit", type=int, help="train on only this many MNIST images (quick runs)")
    train.add_argument("--seed", type=int)
    train.set_defaults(run=_train)

    evaluate = commands.add_parser(
        "evaluate", help="score a model on MNIST test (saved) or on drawn canvases"
    )
    evaluate.add_argument("--model", choices=MODEL_NAMES, default=DEFAULT_MODEL)
    evaluate.add_argument("--drawings", help="npz of canvases with 'images' and 'labels' or 'letters'")
    evaluate.add_argument(
        "--save", action="store_true", help="with --drawings: keep the result in models/NAME.drawn.json"
    )
    evaluate.add_argument(
        "--threshold", type=float, help="confidence below which there is no answer (default: the model's)"
    )
    evaluate.add_argument("--models", help=models_help)
    evaluate.add_argument("--mnist", help=mnist_help)
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.add_argument(
        "--errors", metavar="SHEET.png", help="with --drawings: a PNG of every drawing misread"
    )
    evaluate.set_defaults(run=_evaluate)

    predict = commands.add_parser(
        "predict", help="read the digit in PNG or JPEG files (drawings, photos or scans)"
    )
    predict.add_argument("images", nargs="+")
    predict.add_argument("--model", choices=MODEL_NAMES, default=DEFAULT_MODEL)
    predict.add_argument("--models", help=models_help)
    predict.add_argument("--json", action="store_true", help="print one JSON object per file")
    predict.set_defaults(run=_predict)

    calibrate = commands.add_parser(
        "calibrate", help="choose the threshold below which the app does not answer"
    )
    calibrate.add_argument("--model", choices=MODEL_NAMES, default=DEFAULT_MODEL)
    calibrate.add_argument("--data", help=data_help)
    calibrate.add_argument("--digits", help="npz of drawn digits (default: drawn_dev.npz in the data folder)")
    calibrate.add_argument(
        "--nondigits", help="npz of drawn non-digits (default: nondigit_dev.npz in the data folder)"
    )
    calibrate.add_argument(
        "--min-answered", type=float, default=MIN_ANSWERED, help="share of readable digits to answer"
    )
    calibrate.add_argument(
        "--min-rejected",
        type=float,
        default=MIN_REJECTED,
        help="share of non-digits to reject, if the digits allow",
    )
    calibrate.add_argument("--models", help=models_help)
    calibrate.set_defaults(run=_calibrate)

    bench = commands.add_parser("bench", help="time preprocessing and prediction on this machine")
    bench.add_argument(
        "--model", action="append", choices=MODEL_NAMES, help="(repeatable; default: every trained model)"
    )
    bench.add_argument("--repeats", type=int, default=2000, help="timed calls per measurement")
    bench.add_argument("--models", help=models_help)
    bench.add_argument(
        "--out", default=str(BENCH_FILE), help="where to keep the report (default: docs/bench.json)"
    )
    bench.set_defaults(run=_bench)

    report = commands.add_parser("report", help="the results tables, from the saved artifacts")
    report.add_argument("--models", help=models_help)
    report.add_argument("--bench", default=str(BENCH_FILE), help="the bench report to include")
    report.add_argument(
        "--write", metavar="RESULTS.md", help="write the page there and the summary table into the README"
    )
    report.add_argument(
        "--readme", default=str(Path(__file__).resolve().parent.parent / "README.md"), help=argparse.SUPPRESS
    )
    report.set_defaults(run=_report)

    export = commands.add_parser("export", help="export models to ONNX, the serving format")
    export.add_argument(
        "--model", action="append", choices=MODEL_NAMES, help="(repeatable; default: every trained model)"
    )
    export.add_argument("--models", help=models_help)
    export.add_argument("--mnist", help=mnist_help)
    export.set_defaults(run=_export)

    index = commands.add_parser("index", help="index the MNIST training images for nearest-neighbour lookup")
    index.add_argument(
        "--model", action="append", choices=MODEL_NAMES, help="(repeatable; default: every trained model)"
    )
    index.add_argument("--models", help=models_help)
    index.add_argument("--mnist", help=mnist_help)
    index.set_defaults(run=_index)

    measure = commands.add_parser(
        "measure",
        help="every model's MNIST test results, threshold, results on the drawn sets and neighbour index",
    )
    measure.add_argument(
        "--model", action="append", choices=MODEL_NAMES, help="(repeatable; default: every trained model)"
    )
    measure.add_argument("--models", help=models_help)
    measure.add_argument("--mnist", help=mnist_help)
    measure.add_argument("--data", help=data_help)
    measure.set_defaults(run=_measure)

    drawings = commands.add_parser(
        "export-drawings", help="write the drawings saved in the app as a drawn_dev-style npz"
    )
    drawings.add_argument("out", help="the .npz file to write")
    drawings.add_argument(
        "--db",
        help="drawings database (default: $DIGITLIB_DRAWINGS_DB, else the project's data/drawings.sqlite3)",
    )
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
