"""Command line: thin wrappers that parse options and call the pipeline, batch
runner, gate and reports.  No processing logic lives here."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from sanitize import __version__
from sanitize.config import ExtraModel, Settings
from sanitize.errors import ModelMissing, UsageProblem
from sanitize.policy import PolicyError, load_policy
from sanitize.types import Status

# One exit code per outcome; 3 means nothing was processed: fix the command or machine.
EXIT_SAFE, EXIT_REVIEW, EXIT_ERROR, EXIT_USAGE = 0, 1, 2, 3


class _Cli(click.Group):
    """Turns every usage or environment error into one line on stderr and exit 3
    (click's own usage errors would exit 2, which means "some files failed")."""

    def main(self, args=None, prog_name=None, complete_var=None,
             standalone_mode: bool = True, **extra):
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.UsageError as e:
            hint = f" (see `{e.ctx.command_path} --help`)" if e.ctx is not None else ""
            _fail(e.format_message() + hint)
        except click.ClickException as e:
            _fail(e.format_message())
        except (UsageProblem, PolicyError, ModelMissing) as e:
            _fail(str(e))
        except click.Abort:
            click.echo("sanitize: stopped", err=True)
            sys.exit(130)
        sys.exit(rv if isinstance(rv, int) else 0)


def _fail(message: str) -> None:
    click.echo("sanitize: " + " ".join(message.split()), err=True)
    sys.exit(EXIT_USAGE)


def _settings(mask: str, max_megapixels: float, no_flags: bool, mute: bool,
              policy: Path | None, model: tuple[Path, ...], classes: tuple[Path, ...]) -> Settings:
    """Settings from the options, checked before any file is touched: the policy
    validated, class maps parsed, every model present (else exit 3)."""
    from sanitize.detect.registry import model_digests

    if len(model) != len(classes):
        raise click.UsageError("each --model FILE.onnx needs its own --classes FILE.yaml")
    policy_obj = load_policy(policy)
    if classes:
        from sanitize.detect.yolo import ClassMapError, load_class_map

        for c in classes:
            try:
                cmap = load_class_map(c)
            except ClassMapError as e:
                raise click.UsageError(str(e)) from e
            policy_obj.check_model_kinds(spec.kind for spec in cmap.classes.values())
    settings = Settings(
        mask=mask, max_pixels=int(max_megapixels * 1e6), flags=not no_flags, mute=mute,
        policy_file=policy.resolve() if policy else None,
        extra_models=tuple(ExtraModel(m.resolve(), c.resolve())
                           for m, c in zip(model, classes, strict=True)),
    )
    model_digests(settings)  # ModelMissing → one line, exit 3
    return settings


def _common(f):
    options = [
        click.option("--mask", type=click.Choice(["blur", "pixelate", "solid"]), default="blur",
                     show_default=True, help="How faces and plates are masked."),
        click.option("--max-megapixels", type=float, default=200.0, show_default=True,
                     help="Refuse pictures/frames larger than this (decompression-bomb guard)."),
        click.option("--no-flags", is_flag=True,
                     help="No policy flags (weapons, uniforms, documents, seized items); "
                     "faces and number plates are still masked."),
        click.option("--policy", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                     help="Policy TOML (thresholds, what blocks); default: the packaged one."),
        click.option("--model", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                     multiple=True, help="Extra YOLO-format ONNX detector (repeatable)."),
        click.option("--classes", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                     multiple=True, help="Class map YAML for the matching --model."),
    ]
    for opt in reversed(options):
        f = opt(f)
    return f


@click.group(cls=_Cli, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sanitize")
def main() -> None:
    """Make police photos and videos safe to post (UP Police Social Media Policy 2023)."""


@main.command()
@click.argument("inputs", nargs=-1, required=True,
                type=click.Path(exists=True, path_type=Path))
@click.option("-o", "--out", "out_root", required=True, type=click.Path(path_type=Path),
              help="Output folder: safe/, review/, report.json, report.html, ledger.sqlite.")
@click.option("-j", "--jobs", type=int, default=0, help="Worker processes (default: all cores).")
@click.option("--engine", type=click.Choice(["local", "dask"]), default="local", show_default=True)
@click.option("--scheduler", help="Dask scheduler address (with --engine dask).")
@click.option("--mute", is_flag=True, help="Drop audio from videos.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@_common
def run(inputs: tuple[Path, ...], out_root: Path, jobs: int, engine: str, scheduler: str | None,
        mute: bool, no_progress: bool, mask: str, max_megapixels: float, no_flags: bool,
        policy: Path | None, model: tuple[Path, ...], classes: tuple[Path, ...]) -> None:
    """Sanitize INPUTS (files and folders, recursive) into OUT.

    Exit 0: all safe; 1: some need review; 2: some could not be processed;
    3: usage or environment error (nothing processed)."""
    from sanitize.batch import collect_inputs, run_batch

    if engine == "dask" and not scheduler:
        raise click.UsageError("--engine dask needs --scheduler ADDRESS")
    if scheduler and engine != "dask":
        raise click.UsageError("--scheduler is only used with --engine dask")
    settings = _settings(mask, max_megapixels, no_flags, mute, policy, model, classes)
    out_root = out_root.resolve()
    items = collect_inputs(list(inputs), out_root)
    results = run_batch(items, out_root, settings, jobs=jobs or os.cpu_count() or 1,
                        engine=engine, scheduler=scheduler, progress=not no_progress)
    for r in results:
        if r.status is Status.ERROR:
            click.echo(f"error: {r.input}: {r.error}", err=True)
    click.echo(f"report: {out_root / 'report.html'}")
    statuses = {r.status for r in results}
    sys.exit(EXIT_ERROR if Status.ERROR in statuses else
             EXIT_REVIEW if Status.REVIEW in statuses else EXIT_SAFE)


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@click.option("--ledger", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A run's OUT/ledger.sqlite (default: the run folder a FILE sits in).")
@click.option("--all", "every_reason", is_flag=True,
              help="Search the pixels too when the metadata already makes a file unsafe, "
                   "to list every reason (slower).")
@_common
def check(files: tuple[Path, ...], as_json: bool, ledger: Path | None, every_reason: bool,
          mask: str, max_megapixels: float, no_flags: bool, policy: Path | None,
          model: tuple[Path, ...], classes: tuple[Path, ...]) -> None:
    """Pre-upload gate (read-only): is each FILE safe to post as it is?

    Exit 0: every file is safe; 1: some are not (reasons printed); 2: some could not be
    read; 3: usage or environment error (e.g. a model missing)."""
    from sanitize.check import check_file

    settings = _settings(mask, max_megapixels, no_flags, False, policy, model, classes)
    results = [check_file(f, settings, ledger, every_reason) for f in files]
    if as_json:
        click.echo(json.dumps({"files": [r.to_json() for r in results]}, ensure_ascii=False,
                              indent=1))
    else:
        for r in results:
            if not r.readable:
                click.echo(f"UNREADABLE {r.path}: {r.error}")
            elif r.safe:
                click.echo(f"SAFE       {r.path}")
            else:
                click.echo(f"NOT SAFE   {r.path}")
                for p in r.problems:
                    click.echo(f"           - {p}")
                if not r.looked:
                    click.echo("           (faces and flags not searched: --all to list them)")
    sys.exit(EXIT_ERROR if any(not r.readable for r in results) else
             EXIT_REVIEW if any(not r.safe for r in results) else EXIT_SAFE)


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True)
def inspect(file: Path, as_json: bool) -> None:
    """What FILE carries: metadata classes, faces found.  Read-only."""
    from sanitize.detect.registry import model_digests
    from sanitize.inspect import inspect_file

    settings = Settings(flags=False)
    model_digests(settings)  # ModelMissing → one line, exit 3
    report = inspect_file(file, settings)
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False, indent=1))
        sys.exit(EXIT_ERROR if report.get("error") else EXIT_SAFE)
    for key, value in report.items():
        if isinstance(value, list):
            click.echo(f"{key}:")
            for v in value:
                click.echo(f"  - {v}")
        else:
            click.echo(f"{key}: {value}")
    sys.exit(EXIT_ERROR if report.get("error") else EXIT_SAFE)


@main.command()
@click.argument("inbox", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("-o", "--out", "out_root", required=True, type=click.Path(path_type=Path))
@click.option("--stable-seconds", type=float, default=2.0, show_default=True,
              help="A file is processed once its size has not changed for this long.")
@click.option("-j", "--jobs", type=int, default=1, show_default=True,
              help="Worker processes for files that arrive together.")
@_common
def watch(inbox: Path, out_root: Path, stable_seconds: float, jobs: int, mask: str,
          max_megapixels: float, no_flags: bool, policy: Path | None, model: tuple[Path, ...],
          classes: tuple[Path, ...]) -> None:
    """Watch INBOX and sanitize each file dropped into it (runs until stopped)."""
    import logging

    from sanitize.watch import watch as watch_folder

    # A service's log is its only output: one line per file, with time stamps.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    settings = _settings(mask, max_megapixels, no_flags, False, policy, model, classes)
    try:
        watch_folder(inbox.resolve(), out_root.resolve(), settings,
                     stable_seconds=stable_seconds, jobs=max(1, jobs))
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: a requested stop is a normal end
        logging.getLogger("sanitize.watch").info("watch: stopped")


@main.command()
@click.argument("out_root", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind (the edit view, which shows originals, is served on "
                   "loopback addresses only).")
@click.option("--port", type=int, default=0, show_default=True, help="0: a free port.")
@click.option("--no-browser", is_flag=True, help="Only print the link.")
@click.option("--reviewer", help="Name recorded with every decision (default: the OS user).")
def review(out_root: Path, host: str, port: int, no_browser: bool,
           reviewer: str | None) -> None:
    """Review workstation for the run folder OUT_ROOT: a local web page to keep
    officers' faces, add boxes, resolve flags, mute audio, approve or reject."""
    from sanitize.review.server import serve

    serve(out_root.resolve(), host, port, open_browser=not no_browser, reviewer=reviewer)


@main.command("export-csv")
@click.argument("out_root", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Default: OUT/register.csv")
def export_csv(out_root: Path, output: Path | None) -> None:
    """Export the ledger of OUT_ROOT as CSV for the cell's registers, and the review
    decisions (audit trail) as decisions.csv next to it."""
    from sanitize.csv_export import DECISIONS_NAME, export_decisions_csv
    from sanitize.csv_export import export_csv as export

    dst = output or out_root / "register.csv"
    export(out_root, dst)
    click.echo(str(dst))
    decisions = export_decisions_csv(out_root, dst.with_name(DECISIONS_NAME))
    click.echo(str(decisions))


@main.command()
def doctor() -> None:
    """Is this machine ready?  Every model (sha256, where, OK/MISSING/BAD HASH),
    the video codecs, the tools the tests use, Python and package versions.

    Exit 0: ready; 3: something required is missing (the last line says what to run)."""
    from sanitize.doctor import report

    lines, ready = report()
    click.echo("\n".join(lines))
    sys.exit(EXIT_SAFE if ready else EXIT_USAGE)


if __name__ == "__main__":
    main()
