"""The results of the models as Markdown, built only from their saved artifacts and the bench report."""

from __future__ import annotations

import os
from pathlib import Path

from digitlib.artifacts import model_files, read_json
from digitlib.data import DIGITS_SET, LETTERS_SET
from digitlib.registry import spec

README_START, README_END = (
    "<!-- results: python -m digitlib report --write docs/results.md -->",
    "<!-- /results -->",
)


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.2%}"


def _read_optional(path: Path) -> dict:
    return read_json(path) if path.is_file() else {}


def _artifacts(name: str, directory: str | os.PathLike | None) -> tuple[dict, dict, dict]:
    """A model's training record, MNIST metrics and results on drawn sets ({} for those it lacks)."""
    files = model_files(name, directory)
    return _read_optional(files.training), _read_optional(files.metrics), _read_optional(files.drawn)


def _machine(training: dict) -> str:
    machine = training.get("machine", {})
    return f"{machine.get('cpu', '?')}, {machine.get('cores', '?')} cores"


def readme_table(names: list[str], directory: str | os.PathLike | None, bench_file: Path) -> str:
    """One row per model: MNIST, real drawings and letters out of institution, speed and training time."""
    bench_report = _read_optional(bench_file)
    bench = bench_report.get("models", {})
    timed_on = f" ({_machine(bench_report)})" if bench else ""
    lines = [
        "| model | role | MNIST test | drawn digits right, readable (all) | letters rejected "
        f"| stroke to probabilities{timed_on} | training time | trained on |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for name in names:
        training, metrics, drawn = _artifacts(name, directory)
        digits, letters = drawn.get(DIGITS_SET, {}), drawn.get(LETTERS_SET, {})
        speed = bench.get(name, {}).get("full_path", {}).get("p50_ms")
        lines.append(
            f"| {name} | {spec(name).role} | {_percent(metrics.get('accuracy'))} "
            f"| {_percent(digits.get('readable_accuracy'))} ({_percent(digits.get('accuracy'))}) "
            f"| {_percent(letters.get('rejection_rate'))} | {'–' if speed is None else f'{speed:.2f} ms'} "
            f"| {training.get('wall_time_s', 0) / 60:.0f} min | {_machine(training)} |"
        )
    return "\n".join(lines)


def _group_table(drawn: dict[str, dict], dataset: str, key: str, group: str) -> list[str]:
    """A Markdown table of one drawn set's score per group (institution, letter) for every model."""
    names = [n for n, d in drawn.items() if key in d.get(dataset, {})]
    if not names:
        return []
    groups = sorted({g for n in names for g in drawn[n][dataset][key]})
    lines = [f"| {group} | n | " + " | ".join(names) + " |", "|---|---:|" + "---:|" * len(names)]
    for g in groups:
        n = drawn[names[0]][dataset][key].get(g, {}).get("n", "–")
        lines.append(
            f"| {g} | {n} | "
            + " | ".join(_percent(drawn[m][dataset][key].get(g, {}).get("score")) for m in names)
            + " |"
        )
    return lines


def _drawn_summary(names: list[str], drawn: dict[str, dict]) -> list[str]:
    lines = [
        "| model | measured | readable right and answered | readable answered | best guess right (readable) "
        '| all right and answered | letters rejected | said "not a digit" |',
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name in names:
        digits, letters = drawn[name].get(DIGITS_SET, {}), drawn[name].get(LETTERS_SET, {})
        lines.append(
            f"| {name} | {digits.get('measured', '–')} | {_percent(digits.get('readable_accuracy'))} "
            f"| {_percent(digits.get('readable_answered_rate'))} "
            f"| {_percent(digits.get('readable_accuracy_before_threshold'))} "
            f"| {_percent(digits.get('accuracy'))} | {_percent(letters.get('rejection_rate'))} "
            f"| {_percent(letters.get('not_a_digit_rate'))} |"
        )
    return lines


def _with_kept(names: list[str], drawn: dict[str, dict]) -> list[str]:
    """The readable digits right and answered when each writer's come beside the drawings they kept."""
    names = [name for name in names if "with_kept" in drawn[name].get(DIGITS_SET, {})]
    if not names:
        return []
    big = [
        group
        for group, score in drawn[names[0]][DIGITS_SET]["per_institution_readable"].items()
        if score["n"] > 100
    ]
    lines = [
        "### Read beside the writer's kept drawings",
        "",
        "The Draw page reads a new drawing beside the ones its visitor kept with their right digits: a near "
        "copy of a kept drawing gets its digit (`digitlib/kept.py`). Here each writer's digits (a file of "
        f"{DIGITS_SET}) come in the order they were drawn, answered as above, the writer keeping with "
        "the right digit the ones the app got wrong, each digit the first time they draw it (as the Draw "
        "page's teaching asks), or every one. Likeness is read in a network trained on "
        "MNIST alone, so these answers too come from models that never saw the drawing's institution.",
        "",
        "| model | writers keep | readable right and answered | " + " | ".join(big) + " |",
        "|---|---|---:|" + "---:|" * len(big),
    ]
    for name in names:
        digits = drawn[name][DIGITS_SET]
        rows = [("nothing", digits), *digits["with_kept"].items()]
        for way, scores in rows:
            per = scores["per_institution_readable"]
            lines.append(
                f"| {name} | {way} | {_percent(scores['readable_accuracy'])} | "
                + " | ".join(_percent(per[group]["score"]) for group in big)
                + " |"
            )
    return ["", *lines]


def _speed(bench: dict) -> list[str]:
    if not bench:
        return ["No bench report yet: run `python -m digitlib bench`."]
    machine = bench["machine"]
    lines = [
        f"`python -m digitlib bench` on {machine['cpu']}, {machine['cores']} cores; "
        "p50 of single-image calls. A stroke's path is the Draw page's work for it: draw the strokes on the "
        "280x280 canvas, preprocess them and predict.",
        "",
        "| model | draw and preprocess | predict one image | stroke to probabilities | after a 20 ms pause "
        "| `model.predict` | 10,000 test images | load |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in bench["models"].items():
        lines.append(
            f"| {name} | {r['preprocess']['p50_ms']:.3f} ms | {r['predict']['p50_ms']:.3f} ms "
            f"| {r['full_path']['p50_ms']:.3f} ms "
            f"| {r['full_path_after_pause']['p50_ms']:.3f} ms | {r['model_predict']['p50_ms']:.1f} ms "
            f"| {r['batch_10k_s']:.2f} s | {r['load_s']:.2f} s |"
        )
    for name, r in bench["models"].items():
        if "predict_asking_companion" in r:
            both = (
                " Where it is still unsure, it also asks its drawn copy: "
                f"{r['predict_asking_both']['p50_ms']:.3f} ms."
                if "predict_asking_both" in r
                else ""
            )
            lines += [
                "",
                f"{name} asks its companion where it is unsure ({r['companion_asked_rate']:.1%} of MNIST's "
                f"test digits): predicting such an image takes {r['predict_asking_companion']['p50_ms']:.3f} "
                f"ms.{both} The stroke above is one it is sure of.",
            ]
    return lines


def results_page(names: list[str], directory: str | os.PathLike | None, bench_file: Path) -> str:
    """docs/results.md: every figure of the models, from their artifacts."""
    drawn = {name: _artifacts(name, directory)[2] for name in names}
    trained = [name for name in names if spec(name).drawings is not None]
    sizes = {s: next((d[s]["n"] for d in drawn.values() if s in d), 0) for s in (DIGITS_SET, LETTERS_SET)}
    sections = [
        "# Results",
        "",
        "Generated by `python -m digitlib report --write docs/results.md` from the artifacts in `models/`; "
        "do not edit by hand.",
        "",
        "## Summary",
        "",
        readme_table(names, directory, bench_file),
        "",
        "## Real drawings, out of institution",
        "",
        f"{DIGITS_SET} holds {sizes[DIGITS_SET]:,} digits drawn with a pen at nine institutions (UNIPEN), "
        f"{LETTERS_SET} {sizes[LETTERS_SET]:,} letters. "
        "Every answer counted here comes from a model and a threshold that never saw the drawing's "
        "institution (folds: each large institution alone, the small ones together). "
        f"{', '.join(trained) or 'No model'} learnt from these sets through its fold models; "
        "the others never saw them, and only their threshold is chosen per fold. "
        '"Readable" leaves out the drawings that `docs/drawn_dev_review.csv` marks unreadable; '
        '"not sure" and "not a digit" count as wrong for a digit.',
        "",
        *_drawn_summary(names, drawn),
        *_with_kept(names, drawn),
        "",
        "### Readable digits right and answered, per institution",
        "",
        *_group_table(drawn, DIGITS_SET, "per_institution_readable", "institution"),
        "",
        "### All digits right and answered, per institution",
        "",
        *_group_table(drawn, DIGITS_SET, "per_institution", "institution"),
        "",
        "### Readable digits right and answered, per digit",
        "",
        *_group_table(drawn, DIGITS_SET, "per_digit", "digit"),
        "",
        "### Letters rejected, per letter",
        "",
        *_group_table(drawn, LETTERS_SET, "per_letter", "letter"),
        "",
        "## Speed",
        "",
        *_speed(_read_optional(bench_file)),
        "",
        "## The app",
        "",
        *_app(bench_file.parent),
        "",
    ]
    return "\n".join(sections)


def _app(folder: Path) -> list[str]:
    """The app's own benchmarks (scripts/bench_strokes.py and bench_load.py with --out), if they were run."""
    strokes, load = _read_optional(folder / "app_strokes.json"), _read_optional(folder / "app_load.json")
    lines = []
    if strokes:
        latency = strokes["stroke_end_to_answer_ms"]
        lines += [
            f"One person drawing in headless Chromium (`python scripts/bench_strokes.py --strokes "
            f"{strokes['strokes']} --out docs/app_strokes.json`, {_machine(strokes)}, "
            f"model {strokes['model']}): the server spends "
            f"{strokes['server_cpu_ms_per_stroke']} ms of CPU per stroke over {strokes['strokes']} strokes; "
            f"stroke end to answer p50 {latency['p50']} ms, p95 {latency['p95']} ms; the canvas is on screen "
            f"{strokes['start_up_s']['canvas_visible']} s after `streamlit run` starts.",
            "",
        ]
    if load:
        latency, rss = load["stroke_end_to_answer_ms"], load["server_rss_mib"]
        lines += [
            f"{load['sessions']} people drawing at once, a stroke every {load['interval_s']} s each "
            f"(`python scripts/bench_load.py --out docs/app_load.json`, {_machine(load)}): "
            f"{load['strokes']} strokes, {load['right']} answered right, {load['wrong']} wrong, "
            f"{load['missing']} missing; stroke end to answer p50 {latency['p50']} ms, "
            f"p95 {latency['p95']} ms, max {latency['max']} ms; "
            f"{load['server_cpu_ms_per_stroke_with_clear']} ms of server CPU per stroke and its Clear; "
            f"server memory {rss['idle']} MiB idle, {rss['after_warm_up']} MiB once a first session has "
            f"drawn (the model loaded), {rss['sessions_open']} MiB with the sessions open, "
            f"{rss['after_load']} MiB after the load; "
            f"{len(load['server_log_problems'])} errors in the server's log.",
        ]
    return lines or [
        "No app benchmark yet: run `python scripts/bench_strokes.py --out docs/app_strokes.json`."
    ]


def write_readme_table(readme: Path, table: str) -> None:
    """Replace the results table between the README's markers."""
    text = readme.read_text()
    start, end = text.index(README_START) + len(README_START), text.index(README_END)
    readme.write_text(f"{text[:start]}\n{table}\n{text[end:]}")
