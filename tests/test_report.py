"""The results in Markdown, built only from the models' saved artifacts and the bench report."""

from __future__ import annotations

import shutil

from conftest import ROOT

from digitlib.artifacts import available_models, model_files, write_json
from digitlib.report import README_END, README_START, readme_table, results_page, write_readme_table

BENCH = {
    "machine": {"cpu": "a bench CPU", "cores": 4},
    "models": {
        "inknet": {
            "backend": "onnxruntime",
            "preprocess": {"p50_ms": 0.4, "p95_ms": 0.5, "n": 100},
            "predict": {"p50_ms": 0.25},
            "full_path": {"p50_ms": 1.234},
            "full_path_after_pause": {"p50_ms": 1.5},
            "model_predict": {"p50_ms": 80.0},
            "batch_10k_s": 1.0,
            "load_s": 0.01,
        },
    },
}


def write_artifacts(tmp_path) -> None:
    """inknet trained, evaluated and measured on both drawn sets; cnn only on the letters; mlp not at all."""
    inknet = model_files("inknet", tmp_path)
    write_json(inknet.training, {"wall_time_s": 1800, "machine": {"cpu": "a CPU", "cores": 2}})
    write_json(inknet.metrics, {"accuracy": 0.9951})
    digits = {
        "n": 50, "measured": "out of institution", "accuracy": 0.95, "readable_accuracy": 0.975,
        "readable_answered_rate": 0.99, "readable_accuracy_before_threshold": 0.98,
        "per_institution": {"val": {"n": 30, "score": 0.9}, "ibm": {"n": 20, "score": 1.0}},
        "per_institution_readable": {"val": {"n": 28, "score": 0.95}, "ibm": {"n": 20, "score": 1.0}},
        "per_digit": {"0": {"n": 50, "score": 0.96}},
    }  # fmt: skip
    per_letter = {"b": {"n": 1, "score": 0.0}, "A": {"n": 2, "score": 1.0}}
    letters = {"n": 3, "rejection_rate": 0.96, "not_a_digit_rate": 0.4, "per_letter": per_letter}
    write_json(inknet.drawn, {"drawn_dev": digits, "nondigit_dev": letters})
    cnn_letters = {"A": {"n": 2, "score": 0.5}}
    cnn = {"n": 3, "rejection_rate": 0.5, "not_a_digit_rate": 0.0, "per_letter": cnn_letters}
    write_json(model_files("cnn", tmp_path).drawn, {"nondigit_dev": cnn})


def test_the_readme_table_has_one_row_per_model_and_a_dash_for_what_is_missing(tmp_path):
    write_artifacts(tmp_path)
    write_json(tmp_path / "bench.json", BENCH)
    table = readme_table(["inknet", "mlp"], tmp_path, tmp_path / "bench.json").splitlines()
    assert "| stroke to probabilities (a bench CPU, 4 cores) |" in table[0]
    assert table[2:] == [
        "| inknet | default | 99.51% | 97.50% (95.00%) | 96.00% | 1.23 ms | 30 min | a CPU, 2 cores |",
        "| mlp | reference | – | – (–) | – | – | 0 min | ?, ? cores |",
    ]


def test_the_results_page_summarises_the_drawn_sets_and_tables_each_group(tmp_path):
    write_artifacts(tmp_path)
    page = results_page(["inknet", "cnn", "mlp"], tmp_path, tmp_path / "no-bench.json")
    lines = page.splitlines()
    assert "| inknet | out of institution | 97.50% | 99.00% | 98.00% | 95.00% | 96.00% | 40.00% |" in lines
    assert "| cnn | – | – | – | – | – | 50.00% | 0.00% |" in lines
    assert "inknet learnt from these sets" in page, "only inknet is fine-tuned on drawings"
    assert "drawn_dev holds 50 digits" in page and "nondigit_dev 3 letters" in page, "sizes as measured"

    def table_after(heading: str) -> list[str]:
        start = lines.index(heading) + 2
        return lines[start : lines.index("", start)]

    assert table_after("### Readable digits right and answered, per institution") == [
        "| institution | n | inknet |",
        "|---|---:|---:|",
        "| ibm | 20 | 100.00% |",
        "| val | 28 | 95.00% |",
    ]
    assert table_after("### Letters rejected, per letter") == [
        "| letter | n | inknet | cnn |",
        "|---|---:|---:|---:|",
        "| A | 2 | 100.00% | 50.00% |",
        "| b | 1 | 0.00% | – |",
    ]
    assert "No bench report yet: run `python -m digitlib bench`." in lines


def test_the_results_page_shows_the_bench_timings(tmp_path):
    write_json(tmp_path / "bench.json", BENCH)
    lines = results_page(["inknet"], tmp_path, tmp_path / "bench.json").splitlines()
    assert (
        "`python -m digitlib bench` on a bench CPU, 4 cores; p50 of single-image calls. A stroke's path is "
        "the Draw page's work for it: draw the strokes on the 280x280 canvas, preprocess them and predict."
    ) in lines
    assert "| inknet | 0.400 ms | 0.250 ms | 1.234 ms | 1.500 ms | 80.0 ms | 1.00 s | 0.01 s |" in lines
    assert not any("companion" in line for line in lines), "the bench timed no companion"


def test_the_results_page_times_an_image_each_companion_is_asked_about(tmp_path):
    unsure = {
        "companion_asked_rate": 0.095,
        "predict_asking_companion": {"p50_ms": 0.155},
        "predict_asking_both": {"p50_ms": 0.2},
    }
    bench = {**BENCH, "models": {"inknet": {**BENCH["models"]["inknet"], **unsure}}}
    write_json(tmp_path / "bench.json", bench)
    lines = results_page(["inknet"], tmp_path, tmp_path / "bench.json").splitlines()
    assert (
        "inknet asks its companion where it is unsure (9.5% of MNIST's test digits): predicting such an "
        "image takes 0.155 ms. Where it is still unsure, it also asks its drawn copy: 0.200 ms. The stroke "
        "above is one it is sure of."
    ) in lines


def test_writing_the_readme_table_replaces_only_what_is_between_the_markers(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# digit studio\n\n{README_START}\n| old | table |\n{README_END}\n\nMore.\n")
    write_readme_table(readme, "| new | table |")
    expected = f"# digit studio\n\n{README_START}\n| new | table |\n{README_END}\n\nMore.\n"
    assert readme.read_text() == expected
    write_readme_table(readme, "| new | table |")
    assert readme.read_text() == expected, "writing it again changes nothing"


def test_the_committed_results_are_what_report_writes_from_the_committed_artifacts(tmp_path):
    models, bench = ROOT / "models", ROOT / "docs" / "bench.json"
    names = available_models(models)
    assert (ROOT / "docs" / "results.md").read_text() == results_page(names, models, bench), (
        "docs/results.md is out of date: run `python -m digitlib report --write docs/results.md`"
    )
    readme = tmp_path / "README.md"
    shutil.copy(ROOT / "README.md", readme)
    write_readme_table(readme, readme_table(names, models, bench))
    assert readme.read_text() == (ROOT / "README.md").read_text(), "the README's results table is out of date"
