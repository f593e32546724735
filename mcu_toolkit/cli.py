"""The `mcu-toolkit` command: a thin click shell over the library functions.

`main()` is the console script. It turns every ToolkitError and every usage error into one line on
stderr with the exit code from `ExitCode`, and makes SIGTERM clean up like Ctrl-C.
"""

from __future__ import annotations

import inspect
import os
import signal
import sys
import textwrap

import click

from . import bundle as bundle_mod
from . import options as opt
from . import spec
from .errors import ExitCode, Terminated, ToolkitError
from .firmware.boards import BOARDS, summary
from .firmware.speed import MARGIN
from .verify.ccc import low_ccc_warning



@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
             epilog=opt.epilog())
@click.version_option(package_name="mcu-toolkit")
def cli() -> None:
    """Put a Wav2Small speech-emotion model on a microcontroller.

    \b
    Typical use:
      mcu-toolkit convert                      # embedded reference model -> ./mcu_out
      mcu-toolkit convert my_ckpt/ --out fw    # your checkpoint (HF folder, .safetensors, .pt)
      mcu-toolkit validate fw --audio clips/ --min-ccc 0.95   # CI gate on quantisation drift
      mcu-toolkit features clip.wav --out clip.npy            # what the device's front end computes
      mcu-toolkit firmware --board host --bundle fw --out proj # a board project around a bundle

    Each command explains itself: mcu-toolkit COMMAND --help.
    """


@cli.command(epilog=opt.epilog())
@click.argument("checkpoint", required=False, type=click.Path(path_type=str))
@click.option("--calibration", type=click.Path(path_type=str), metavar="DIR",
              help="Representative audio (.wav/.flac/.ogg) for int8 calibration. "
                   "Default: the packaged calibration_audio/calibration.")
@click.option("--eval", "eval_audio", type=click.Path(path_type=str), metavar="DIR",
              help="Held-out audio for the int8-vs-float CCC check, at least 2 files that the model "
                   "responds to differently. Default: calibration_audio/heldout.")
@opt.out("Bundle directory. Written atomically; an existing one is replaced only with --force.",
         default="mcu_out")
@opt.window_seconds(f"Audio per inference. The TFLM arena grows linearly with it (about "
                    f"{opt.ARENA_KIB_PER_SECOND} KiB per second); the fixed front end takes up to 60 s.")
@click.option("--frontend", type=click.Choice(spec.FRONTENDS), default=spec.FRONTENDS[0], show_default=True,
              help="Front end for calibration and the drift check: 'fixed' is the integer C front end the "
                   "device runs (emitted as w2s_frontend.*); 'float' is the model's own log-mel.")
@opt.min_ccc
@opt.force
@opt.jobs(min(2, opt.usable_cores()), "Processes for the TFLM evaluation (TFLM holds the GIL).")
@click.option("--verbose", is_flag=True, help="Show onnx2tf's own output.")
@opt.quiet
def convert(checkpoint, calibration, eval_audio, out, window_seconds, frontend, min_ccc, force, jobs, verbose,
            quiet):
    """Convert CHECKPOINT to a full-int8 TFLite proven on TFLM, plus the C bundle firmware needs.

    \b
    Chain: checkpoint -> ONNX (trunk: log-mel -> A/D/V, checked with onnxruntime)
           -> onnx2tf -> int8 TFLite calibrated on front-end features of real audio
           -> TFLM: op list, smallest working arena, int8-vs-float CCC
           -> the w2s streaming engine generated from that TFLite: its trunk checked
              against TFLM's tensors, exact pooling tail, CCC (the gate's figures)
    CHECKPOINT is a folder with config.json + model.safetensors, a .safetensors file,
    or a .pt state_dict (loaded with weights_only=True). Omitted: the embedded reference model.
    A model whose outputs are NaN, or constant whatever the audio, is refused (exit 1).
    """
    from .convert import convert as run

    result = run(checkpoint, calibration=calibration, eval_audio=eval_audio, out=out,
                 window_seconds=window_seconds, frontend=frontend, force=force, min_ccc=min_ccc, verbose=verbose,
                 progress=not quiet, jobs=jobs)
    r = result.report
    click.echo(f"wrote {result.out}/  tflite {r.tflite_bytes:,} B  arena {r.arena_bytes:,} B  "
               f"ops {len(r.ops)}  {r.timings_s['total']:.1f} s")
    no_engine = r.engine is not None and not r.engine.available
    if no_engine:
        click.echo(f"warning: no w2s engine for this model ({r.engine.reason}); TFLM path only", err=True)
    else:
        click.echo("w2s engine vs float CCC on %d held-out files: %s" % (
            r.eval_files, "  ".join(f"{k} {v:.4f}" for k, v in r.ccc.items())))
    if r.tflm is not None:
        click.echo("TFLM int8  vs float CCC on %d held-out files: %s" % (
            r.eval_files, "  ".join(f"{k} {v:.4f}" for k, v in r.tflm.ccc.items())))
    paths = ([] if no_engine else [("w2s engine", r.ccc)]) + ([("TFLM path", r.tflm.ccc)] if r.tflm else [])
    for name, ccc in paths:  # one line per path: either can be the one a project is built on
        warning = low_ccc_warning(name, ccc)
        if warning:
            click.echo(warning, err=True)
    if not result.passed:
        worst = min(r.ccc, key=r.ccc.get)
        raise ToolkitError(f"CCC gate failed: {worst} {r.ccc[worst]:.4f} < --min-ccc {min_ccc}",
                           ExitCode.CHECK_FAILED)


convert.help = inspect.cleandoc(convert.help) + "\n\n\b\n" + "\n".join(
    textwrap.wrap("Writes into --out: " + bundle_mod.files_help() + ".", 96))


@cli.command(epilog=opt.epilog())
@click.argument("target", metavar="BUNDLE_OR_CHECKPOINT", type=click.Path(path_type=str))
@click.option("--audio", required=True, type=click.Path(path_type=str), metavar="DIR",
              help="Audio to compare on (.wav/.flac/.ogg), at least 2 files.")
@click.option("--labels", type=click.Path(path_type=str), metavar="CSV",
              help="file,arousal,dominance,valence (UTF-8, one row per file): adds CCC against labels and the "
                   "drift.")
@opt.min_ccc
@opt.max_drift
@click.option("--json", "json_path", type=click.Path(path_type=str), metavar="PATH",
              help="Every figure and each file's float and deployed outputs (an earlier one is replaced; never "
                   "a file inside the bundle).")
@click.option("--plot", "plot_dir", type=click.Path(path_type=str), metavar="DIR",
              help="PNG scatter of deployed vs float per dimension (arousal.png, dominance.png, valence.png).")
@opt.jobs(what="Worker processes, a file at a time; each runs onnxruntime and BLAS on one thread.")
@click.option("--engine", type=click.Choice(spec.ENGINES), default=spec.ENGINES[0], show_default=True,
              help="The deployed model step: w2s (our streaming engine, as firmware --engine w2s) or tflm "
                   "(model_int8.tflite on the TFLM interpreter).")
@click.option("--device", type=click.Choice(spec.DEVICES), default=spec.DEVICES[0], show_default=True,
              help="Where the w2s engine runs: host (the bundle's C front end and engine compiled for this machine "
                   "with cc -O3 -march=native, once, into ~/.cache/mcu-toolkit; the numpy mirror, the same numbers, "
                   "if no C compiler) or an emulated "
                   "board whose firmware image QEMU runs, every output checked bit for bit against the host: "
                   "qemu-m4 (the qemu-f411 image on a Cortex-M4; needs arm-none-eabi-gcc and qemu-system-arm); "
                   "qemu-rv32 (the qemu-rv32 image on rv32imc, the ESP32-C3's core; needs riscv64-unknown-elf-gcc, "
                   "picolibc and qemu-system-riscv32).")
@opt.clock_mhz
@opt.cpi
@click.option("--layers", is_flag=True,
              help="Also print each int8 tensor's SNR against the float TFLite (where quantisation hurts).")
@opt.quiet
def validate(target, audio, labels, min_ccc, max_drift, json_path, plot_dir, jobs, engine, device, clock_mhz, cpi,
             layers, quiet):
    """Gate quantisation drift: the deployed pipeline against the float model, by CCC.

    \b
    Float model:   float log-mel -> the bundle's float trunk (model.onnx, onnxruntime).
    Deployed:      the bundle's front end (fixed-point, bit-exact with w2s_frontend.c)
                   -> the w2s engine (--engine w2s, default; --device qemu-m4 runs the real
                      firmware image in QEMU) or model_int8.tflite on TFLM (--engine tflm).
    Clips are cut into the bundle's windows as the device runs them (short clips zero-padded,
    a partial last window dropped); a clip's value is the mean over its windows.
    --clock-mhz (with --device qemu-m4): the image hears each clip live, 16 kHz of a board at that
    clock and --cpi; it reports dropped samples, partial windows (not analysed), coverage, CPU load
    and latency, and a clip's value is the mean over the windows it analysed.
    BUNDLE_OR_CHECKPOINT: a convert output folder, or a checkpoint (converted first).

    \b
    Without --labels: CCC(deployed, float), mean and max |error|; drift = 1 - CCC.
    With --labels:    also CCC(float, labels), CCC(deployed, labels);
                      drift = CCC(float, labels) - CCC(deployed, labels),
                      and --min-ccc applies to CCC(deployed, labels).
    A CCC that is undefined (outputs that do not vary) fails any gate set on it.
    """
    from .verify import layers as layers_mod
    from .verify.validation import check_outputs, plot, table, validate as run

    check_outputs(target, json_path=json_path, plot_dir=plot_dir, layers=layers, audio=audio, labels=labels)
    res = run(target, audio, labels=labels, min_ccc=min_ccc, max_drift=max_drift, jobs=jobs,
              progress=not quiet, engine=engine, device=device, clock_mhz=clock_mhz, cpi=cpi)
    for w in res.warnings:
        click.echo(f"warning: {w}", err=True)
    click.echo(table(res))
    layer_rows = None
    if layers:
        layer_rows = layers_mod.layer_errors(target, audio)
        click.echo("\n" + layers_mod.table(layer_rows))
    if json_path:
        from .outputs import atomic_write

        atomic_write(bundle_mod.json_text({**res.to_dict(), "layers": layer_rows}), json_path)
    if plot_dir:
        for p in plot(res, plot_dir):
            click.echo(f"wrote {p}")
    for f in res.failures:
        click.echo(f"FAIL {f}", err=True)
    return ExitCode.OK if res.passed else ExitCode.CHECK_FAILED


FIRMWARE_HELP = """Generate a board project around a bundle, after checking it fits the board.

\b
Boards:
{boards}
Budget, w2s: engine + front end (exact) + HAL estimate; RAM = engine state + the front end's
window store (68 B per frame) + audio ring + an allowance.
Budget, tflm: model + front end + TFLM/HAL estimates; RAM = arena + front-end buffers +
audio ring + an allowance. A project that cannot fit is refused with the numbers and a
window length that would fit (or none).
Then the schedule the firmware runs (w2s), printed in one line: a window's engine work runs while
the next window is collected if it and the front end fit in {margin} of a window's cycles
(pipelined: every sample; CPU load and latency printed); else the audio after each window is
skipped until they do (duty-cycled: whole windows; the share of the audio printed). No board is
refused for speed. Cycles are estimated: instructions counted on an emulated
Cortex-M4 times its cycles per instruction (the M4 TRM's timings); they leave out flash wait
states, unaligned loads and bus contention (the DMA), and the project prints the real ones.
"""


@cli.command(name="firmware", epilog=opt.epilog(),
             help=FIRMWARE_HELP.format(boards="\n".join("  " + summary(b) for b in BOARDS.values()),
                                       margin=MARGIN))
@click.option("--board", required=True, type=click.Choice(list(BOARDS)), help="Target board.")
@click.option("--engine", type=click.Choice(spec.ENGINES), default=spec.ENGINES[0], show_default=True,
              help="w2s: our streaming int8 engine (no TFLM; RAM independent of the window). "
                   "tflm: the int8 TFLite on TensorFlow Lite Micro (you build TFLM for the board).")
@click.option("--bundle", type=click.Path(path_type=str), metavar="DIR",
              help="A convert bundle. Default: convert the embedded model with --window-seconds first.")
@opt.out("Project folder (written atomically).")
@opt.window_seconds("Window for the default convert (cannot be combined with --bundle: the bundle's "
                    "window is fixed when it is converted).", default=None)
@click.option("--psram", is_flag=True,
              help=", ".join(n for n, b in BOARDS.items() if b.psram) + ": put the TFLM arena in PSRAM.")
@click.option("--allow-dropped-audio", is_flag=True, hidden=True)  # old scripts: accepted, ignored, with a note
@opt.force
def firmware_cmd(board, engine, bundle, out, window_seconds, psram, allow_dropped_audio, force):
    from .firmware.generate import firmware

    if bundle is not None and window_seconds is not None:
        raise ToolkitError("--window-seconds and --bundle conflict: a bundle's window is fixed when it is "
                           "converted (mcu-toolkit convert --window-seconds S --out DIR)")
    if allow_dropped_audio:
        opt.NOTES.append("--allow-dropped-audio is no longer needed: a board too slow for every window gets a "
                         "duty-cycled schedule (whole windows, clean gaps) instead of a refusal; ignored")
    path, b = firmware(board, out, bundle=bundle, window_seconds=window_seconds or opt.WINDOW_DEFAULT_S,
                       psram=psram, force=force, progress=True, engine=engine)
    if bundle is not None:  # what could not be checked (a bundle from before per-file hashes)
        opt.NOTES.extend(bundle_mod.Bundle.open(bundle, ("report.json",)).notes)
    lim = lambda v: "no limit" if v is None else f"{v / 1024:.0f} KiB"  # noqa: E731
    click.echo(f"wrote {path}/ for {board}: flash {b.flash_used / 1024:.0f} KiB of {lim(b.flash_limit)}, "
               f"RAM {b.ram_used / 1024:.0f} KiB of {lim(b.ram_limit)}")
    click.echo(b.verdict.note)
    if b.verdict.warning:
        click.echo(b.verdict.warning, err=True)
    warning = low_ccc_warning("w2s engine" if engine == "w2s" else "TFLM path", b.ccc)  # the engine generated
    if warning:
        click.echo(warning + "; the project fits, but check `mcu-toolkit validate`", err=True)


@cli.command(name="features", epilog=opt.epilog())
@click.argument("audio", type=click.Path(path_type=str))
@opt.out("Where to write the features (.npy).", metavar="FILE.npy")
@click.option("--float", "use_float", is_flag=True,
              help="The model's float log-mel (float32 dB) instead of the fixed-point front end.")
@opt.window_seconds("Window length; each window is normalised on its own, as on the device.")
@opt.force
def features_cmd(audio, out, use_float, window_seconds, force):
    """Write the log-mel features of one AUDIO file, as the device computes them.

    \b
    Output: an array of shape (windows, frames, 26).
      default  int16, dB in Q7 (divide by 128 for dB), from the integer front end
               that w2s_frontend.c runs on the device (bit-exact);
      --float  float32 dB from the float front end of the model.
    The clip is cut into consecutive windows; a clip shorter than one window is zero-padded.
    """
    from .features import features, save_npy
    from .outputs import check_file_target, starts_with

    if not out.endswith(".npy"):
        raise ToolkitError("--out must end in .npy")
    check_file_target(out, force, inputs={"the audio file": audio}, ours=starts_with(b"\x93NUMPY"),
                      what="features file")
    arr = features(audio, use_float=use_float, window_seconds=window_seconds)
    save_npy(arr, out, force)
    kind = "float32 dB" if use_float else "int16 dB Q7"
    click.echo(f"wrote {out}: {arr.shape[0]} window(s) x {arr.shape[1]} frames x {arr.shape[2]} mels, {kind}")


def _raise_terminated(signum, frame):
    raise Terminated(signum)


def _stop_handlers() -> dict:
    """SIGTERM and SIGHUP end a run like Ctrl-C does: an exception in the main thread, so that every cleanup
    runs. The first stop signal wins; later ones (a second Ctrl-C, the terminal's SIGHUP after it) are
    ignored while the cleanup, which kills the children and is quick, finishes. A signal that was ignored
    when we started (nohup, a shell's background job) stays ignored. Returns the handlers replaced."""
    def stop(signum, frame):
        for s in replaced:
            signal.signal(s, lambda *_: None)  # a handler, not SIG_IGN: nothing for children to inherit
        _raise_terminated(signum, frame)  # not KeyboardInterrupt, for which click prints an empty line

    replaced = {}
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        old = signal.getsignal(s)
        if old in (signal.SIG_DFL, signal.default_int_handler):
            replaced[s] = old
            signal.signal(s, stop)
    return replaced


def _fail(message: str, code: int) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(int(code))


# click >= 8.2 raises this for a bare group; 8.1 prints the help itself
_NO_ARGS_IS_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())


def main(argv: list[str] | None = None) -> None:
    """Console script: exit codes and one-line errors decided here, for every command.

    As the console script (argv None) it leaves without the interpreter's teardown: with torch loaded
    that alone takes half a second, after every output is written and flushed."""
    try:
        _main(argv)
    except SystemExit as e:
        if argv is not None:
            raise
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        if isinstance(e.code, str):
            print(e.code, file=sys.stderr)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _main(argv: list[str] | None) -> None:
    replaced = _stop_handlers()
    try:
        _run(argv)
    finally:
        if argv is not None:  # called in-process: leave the caller's handlers as they were
            for s, old in replaced.items():
                signal.signal(s, old)


def _run(argv: list[str] | None) -> None:
    opt.NOTES.clear()
    try:
        rv = cli.main(args=argv, prog_name="mcu-toolkit", standalone_mode=False)
        for note in opt.NOTES:
            click.echo(f"note: {note}", err=True)
    except ToolkitError as e:
        _fail(str(e), e.exit_code)
    except _NO_ARGS_IS_HELP as e:
        click.echo(e.ctx.get_help() if e.ctx else str(e))
        sys.exit(int(ExitCode.BAD_INPUT))
    except click.UsageError as e:
        hint = f" (see {e.ctx.command_path} --help)" if e.ctx else ""
        _fail(e.format_message().replace("\n", " ") + hint, ExitCode.BAD_INPUT)
    except click.ClickException as e:
        _fail(e.format_message().replace("\n", " "), ExitCode.BAD_INPUT)
    except (KeyboardInterrupt, click.Abort):
        _fail("interrupted; no output written", ExitCode.INTERRUPTED)
    except Terminated as e:
        if e.exit_code == ExitCode.INTERRUPTED and sys.stderr.isatty():
            click.echo(err=True)  # off the terminal's ^C
        _fail(e.message, e.exit_code)
    sys.exit(rv if isinstance(rv, int) else 0)


if __name__ == "__main__":
    main()
