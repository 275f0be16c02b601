"""`lookalike eval` (retrieval quality and speed of several models on a labelled folder) and
`lookalike bench index` (vector index speed/recall trade-offs)."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..output import OutputFormat
from .common import (
    BackendOption,
    BatchOption,
    CliTyper,
    DeviceOption,
    FormatOption,
    MegapixelsOption,
    PrecisionOption,
    QuietOption,
    WorkersOption,
    app,
    check_picture_outputs,
    emit,
    progress_bar,
    service_for,
)

if TYPE_CHECKING:
    from ..service import EvalOutcome

bench_app = CliTyper(help="Benchmarks you can run on your own machine and data.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")


class Protocol(str, Enum):
    """Which images are queried."""

    all = "all"
    unseen = "unseen"


@app.command("eval")
def eval_command(
    folder: Annotated[Path, typer.Argument(help="Labelled images: class sub-folders or a labels.csv.")],
    models: Annotated[list[str] | None, typer.Option("--model", "-m", help="A model to evaluate (repeatable).")]
    = None,
    labels: Annotated[Path | None, typer.Option(help="CSV with path,label (paths relative to FOLDER).")] = None,
    protocol: Annotated[Protocol, typer.Option(help="all images, or only the held-out (unseen) classes.")]
    = Protocol.all,
    holdout: Annotated[float, typer.Option(help="Share of classes held out with --protocol unseen.")] = 0.1,
    seed: Annotated[int, typer.Option(help="Seed for the class split and --limit sampling.")] = 0,
    split: Annotated[Path | None, typer.Option(help="Split file: reused when it exists, else written.")] = None,
    limit: Annotated[int | None, typer.Option(min=2, help="Evaluate on a seeded sample of this many images.")]
    = None,
    plot: Annotated[Path | None, typer.Option(help="PNG of precision@k curves, one per model.")] = None,
    report: Annotated[Path | None, typer.Option(help="Self-contained HTML report: the table and the curves.")]
    = None,
    as_json: Annotated[bool, typer.Option("--json", help="Same as --format json.")] = False,
    as_markdown: Annotated[bool, typer.Option("--markdown", help="Same as --format markdown.")] = False,
    fmt: FormatOption = OutputFormat.table,
    precision: PrecisionOption = None,
    backend: BackendOption = None,
    device: DeviceOption = None,
    batch_size: BatchOption = None,
    workers: WorkersOption = None,
    max_megapixels: MegapixelsOption = None,
    quiet: QuietOption = False,
) -> None:
    """Retrieval quality (precision/recall@k, mAP, all-match@k, UKBench N-S) and images/s per model.

    lookalike eval ../shared/data/ukbench-a -m efficientnet-lite0 -m histogram
    lookalike eval photos/ --protocol unseen --holdout 0.3 -m efficientnet-lite0 --markdown
    lookalike eval photos/ -m efficientnet-lite0 -m histogram --plot curves.png --report eval.html
    """
    check_picture_outputs(plot=plot, report=report)
    with service_for(folder, device, precision, batch_size, workers, max_megapixels, backend=backend) as service:
        outcome = service.evaluate(folder, models, labels, limit, seed,
                                   holdout if protocol is Protocol.unseen else None, split,
                                   progress_bar("embedding", quiet))
    for note in outcome.notes:
        typer.echo(note, err=True)
    results = outcome.results
    for result in results:
        for skipped in result.skipped:
            typer.echo(f"skipped ({result.model}): {skipped}", err=True)
    chosen_format = OutputFormat.json if as_json else OutputFormat.markdown if as_markdown else fmt
    if chosen_format is OutputFormat.json:
        typer.echo(json.dumps([r.record() for r in results], indent=2))
    else:
        emit(*outcome.table(), chosen_format)
    if plot is not None or report is not None:
        _eval_pictures(outcome, folder, plot, report)


@app.command("quantize")
def quantize_command(
    folder: Annotated[Path, typer.Argument(help="Labelled images: class sub-folders or a labels.csv.")],
    model: Annotated[str | None, typer.Option("--model", "-m", help="The model to quantise (default: the "
                                              "configured one).")] = None,
    labels: Annotated[Path | None, typer.Option(help="CSV with path,label (paths relative to FOLDER).")] = None,
    batch_size: BatchOption = None,
    workers: WorkersOption = None,
    quiet: QuietOption = False,
) -> None:
    """Make a model's int8 ONNX export and measure it against fp32 on a labelled folder: --precision int8
    is allowed for the model only when recall@10 against fp32 >= 0.99 and N-S stays within 0.02.

    lookalike quantize ../shared/data/ukbench-a -m efficientnet-lite0
    """
    if not folder.is_dir():
        from ..errors import InvalidArgumentError

        raise InvalidArgumentError("no such folder", path=folder, argument="folder")
    with service_for(folder, batch_size=batch_size, workers=workers) as service:
        record = service.quantize(folder, model, labels, progress_bar("embedding", quiet))
    measured = record["measurement"]
    assert isinstance(measured, dict)
    emit(["model", "recall_vs_fp32", f"{measured['metric']}_fp32", f"{measured['metric']}_int8", "img_s_fp32",
          "img_s_int8", "int8_allowed"],
         [[record["model"], measured["recall_vs_fp32"], measured["ns_fp32"], measured["ns_int8"],
           measured["images_per_s_fp32"], measured["images_per_s_int8"], "yes" if record["allowed"] else "no"]],
         OutputFormat.table)
    if not record["allowed"]:
        typer.echo(f"int8 stays refused: {record['reason']}", err=True)


def _eval_pictures(outcome: EvalOutcome, folder: Path, plot: Path | None, report: Path | None) -> None:
    """`eval --plot` and `eval --report`: the curves PNG and/or the HTML report embedding them."""
    import tempfile

    from ..viz.charts import precision_curves
    from ..viz.report import command_line, write_report

    results = outcome.results
    scores = {result.model: result.scores for result in results}
    with tempfile.TemporaryDirectory() as scratch:
        curves = precision_curves(scores, plot if plot is not None else Path(scratch) / "curves.png",
                                  title=f"precision@k on {folder.name}")
        if plot is not None:
            typer.echo(f"wrote {plot}", err=True)
        if report is not None:
            columns, rows = outcome.table()
            images = max((result.images for result in results), default=0)
            write_report(report, f"Evaluation on {folder}", columns, rows, command=command_line(), figures=[curves],
                         notes=[f"{images:,} labelled images; each queries all the others (leave-one-out)."])
            typer.echo(f"wrote {report}", err=True)


@bench_app.command("index")
def bench_index(
    dim: Annotated[int, typer.Option(min=2, help="Dimension of the synthetic vectors.")] = 768,
    sizes: Annotated[str, typer.Option(help="Comma-separated vector counts.")] = "100,1000,10000,100000",
    vectors: Annotated[Path | None, typer.Option(help="Real vectors: .npy, a Parquet export or a library.")]
    = None,
    queries: Annotated[int, typer.Option(min=1, help="Queries per size.")] = 200,
    plot: Annotated[Path | None, typer.Option(help="PNG of recall vs latency.")] = Path("bench-index.png"),
    seed: Annotated[int, typer.Option(help="Seed for synthetic vectors and query sampling.")] = 0,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Brute force vs FAISS Flat, IVF (several nprobe) and HNSW (several efSearch): build time, size,
    latency p50/p95, batch QPS and recall@10."""
    from ..viz.charts import plot_recall_latency

    counts = [int(s) for s in sizes.split(",") if s.strip()]
    with service_for(None) as service:
        rows = service.bench_index(counts, dim, vectors, queries, seed, note=lambda line: typer.echo(line, err=True))
    columns = ["size", "method", "params", "build_s", "memory_mb", "p50_ms", "p95_ms", "batch_qps", "recall@10"]
    emit(columns, [[r.size, r.method, r.params, r.build_s, r.memory_mb, r.p50_ms, r.p95_ms, r.batch_qps,
                    r.recall] for r in rows], fmt)
    if plot is not None:
        plot_recall_latency(rows, plot)
        typer.echo(f"wrote {plot}", err=True)


__all__ = ["bench_index", "eval_command"]
