"""The `mcu-toolkit` command: a thin click shell over the library functions."""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import click

from .errors import ToolkitError

LOW_CCC = 0.9  # firmware warns below this: the project would build around a broken int8 model

EXIT_CODES = """\b
Exit codes:
  0  done, and every gate passed
  1  a check failed (CCC under --min-ccc, TFLM cannot run the model)
  2  bad input (checkpoint, audio, paths, options)
  3  the conversion toolchain (onnx2tf/TensorFlow) failed
"""


def _one_line_errors(fn):
    """ToolkitError -> one line on stderr and its exit code; never a traceback for bad input."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ToolkitError as e:
            click.echo(f"error: {e}", err=True)
            sys.exit(e.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted; no output written", err=True)
            sys.exit(130)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="mcu-toolkit")
def main() -> None:
    """Put a Wav2Small speech-emotion model on a microcontroller.

    \b
    Typical use:
      mcu-toolkit convert                      # embedded reference model -> ./mcu_out
      mcu-toolkit convert my_ckpt/ --out fw    # your checkpoint (HF folder, .safetensors, .pt)
      mcu-toolkit validate fw --audio clips/ --min-ccc 0.95   # CI gate on quantisation drift
      mcu-toolkit features clip.wav --out clip.npy            # what the device's front end computes

    Each command explains itself: mcu-toolkit COMMAND --help.
    """


@main.command(epilog=EXIT_CODES)
@click.argument("checkpoint", required=False, type=click.Path(path_type=str))
@click.option("--calibration", type=click.Path(path_type=str), metavar="DIR",
              help="Representative audio (.wav/.flac/.ogg) for int8 calibration. "
                   "Default: the packaged calibration_audio/calibration.")
@click.option("--eval", "eval_audio", type=click.Path(path_type=str), metavar="DIR",
              help="Held-out audio for the int8-vs-float CCC check. Default: calibration_audio/heldout.")
@click.option("--out", default="mcu_out", show_default=True, metavar="DIR",
              help="Bundle directory. Written atomically; an existing one is replaced only with --force.")
@click.option("--window-seconds", default=2.0, show_default=True, type=float, metavar="S",
              help="Audio per inference. The arena grows linearly with it (about 350 KiB per second).")
@click.option("--frontend", type=click.Choice(["fixed", "float"]), default="fixed", show_default=True,
              help="Front end for calibration and the drift check: 'fixed' is the integer C front end the "
                   "device runs (emitted as w2s_frontend.*); 'float' is the model's own log-mel.")
@click.option("--min-ccc", type=float, default=None, metavar="X",
              help="Fail (exit 1) if int8-vs-float CCC of any dimension is below X. The bundle is still written.")
@click.option("--force", is_flag=True, help="Replace an existing --out directory.")
@click.option("--verbose", is_flag=True, help="Show onnx2tf's own output.")
@click.option("--quiet", is_flag=True, help="No progress output; print only the summary.")
@_one_line_errors
def convert(checkpoint, calibration, eval_audio, out, window_seconds, frontend, min_ccc, force, verbose, quiet):
    """Convert CHECKPOINT to a full-int8 TFLite proven on TFLM, plus the C bundle firmware needs.

    \b
    Chain: checkpoint -> ONNX (trunk: log-mel -> A/D/V, checked with onnxruntime)
           -> onnx2tf -> int8 TFLite calibrated on front-end features of real audio
           -> TFLM: op list, smallest working arena (bisection), int8-vs-float CCC
    CHECKPOINT is a folder with config.json + model.safetensors, a .safetensors file,
    or a .pt state_dict (loaded with weights_only=True). Omitted: the embedded reference model.

    \b
    Writes into --out: model_int8.tflite, model.onnx, model_data.{h,c}, model_ops.h,
    model_config.h, w2s_frontend.{h,c} + w2s_frontend_tables.{h,c} (fixed front end),
    report.json, report.md.
    """
    from .convert import convert as run

    result = run(checkpoint, calibration=calibration, eval_audio=eval_audio, out=out,
                 window_seconds=window_seconds, frontend=frontend, force=force, min_ccc=min_ccc, verbose=verbose,
                 progress=not quiet)
    r = result.report
    click.echo(f"wrote {result.out}/  tflite {r['tflite_bytes']:,} B  arena {r['arena_bytes']:,} B  "
               f"ops {len(r['ops'])}  {r['timings_s']['total']:.1f} s")
    click.echo("int8 vs float CCC on %d held-out files: %s" % (
        r["eval_files"], "  ".join(f"{k} {v:.4f}" for k, v in r["ccc"].items())))
    if not result.passed:
        worst = min(r["ccc"], key=r["ccc"].get)
        click.echo(f"error: CCC gate failed: {worst} {r['ccc'][worst]:.4f} < --min-ccc {min_ccc}", err=True)
        sys.exit(1)


@main.command(epilog=EXIT_CODES.replace("(CCC under --min-ccc, TFLM cannot run the model)",
                                         "(a dimension under --min-ccc or over --max-drift)"))
@click.argument("target", metavar="BUNDLE_OR_CHECKPOINT", type=click.Path(path_type=str))
@click.option("--audio", required=True, type=click.Path(path_type=str), metavar="DIR",
              help="Audio to compare on (.wav/.flac/.ogg).")
@click.option("--labels", type=click.Path(path_type=str), metavar="CSV",
              help="file,arousal,dominance,valence: adds CCC against labels and the drift.")
@click.option("--min-ccc", type=float, metavar="X", help="Fail if any dimension's CCC is below X.")
@click.option("--max-drift", type=float, metavar="X", help="Fail if any dimension drifts more than X.")
@click.option("--json", "json_path", type=click.Path(path_type=str), metavar="PATH",
              help="Every figure and each file's float and deployed outputs.")
@click.option("--plot", "plot_dir", type=click.Path(path_type=str), metavar="DIR",
              help="PNG scatter of deployed vs float per dimension.")
@click.option("--jobs", type=int, default=1, show_default=True, metavar="N", help="Worker processes.")
@click.option("--layers", is_flag=True,
              help="Also print each int8 tensor's SNR against the float TFLite (where quantisation hurts).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@_one_line_errors
def validate(target, audio, labels, min_ccc, max_drift, json_path, plot_dir, jobs, layers, quiet):
    """Gate quantisation drift: the deployed pipeline against the float model, by CCC.

    \b
    Float model:   float log-mel -> the bundle's float trunk (model.onnx, onnxruntime).
    Deployed:      the bundle's front end (fixed-point, bit-exact with w2s_frontend.c)
                   -> model_int8.tflite on the TFLM interpreter.
    Clips are cut into the bundle's windows as the device runs them (short clips zero-padded,
    a partial last window dropped); a clip's value is the mean over its windows.
    BUNDLE_OR_CHECKPOINT: a convert output folder, or a checkpoint (converted first).

    \b
    Without --labels: CCC(deployed, float), mean and max |error|; drift = 1 - CCC.
    With --labels:    also CCC(float, labels), CCC(deployed, labels);
                      drift = CCC(float, labels) - CCC(deployed, labels),
                      and --min-ccc applies to CCC(deployed, labels).
    """
    import json as _json

    from .validation import plot, table, validate as run

    res = run(target, audio, labels=labels, min_ccc=min_ccc, max_drift=max_drift, jobs=jobs,
              progress=not quiet)
    click.echo(table(res))
    layer_rows = None
    if layers:
        from .validation import layer_errors

        if not (Path(target).is_dir() and (Path(target) / "model_int8.tflite").is_file()):
            raise ToolkitError("--layers needs a bundle folder (run mcu-toolkit convert first)")
        layer_rows = layer_errors(target, audio)
        click.echo("\nper-layer SNR, int8 vs float TFLite (LiteRT), lowest first:")
        for r in sorted(layer_rows, key=lambda r: r["snr_db"])[:12]:
            click.echo(f"  {r['snr_db']:7.1f} dB  {r['tensor'][:70]}  {tuple(r['shape'])}")
    if json_path:
        from .features import atomic_write

        atomic_write((_json.dumps({**res.to_dict(), "layers": layer_rows}, indent=2) + "\n").encode(), json_path)
    if plot_dir:
        for p in plot(res, plot_dir):
            click.echo(f"wrote {p}")
    for f in res.failures:
        click.echo(f"FAIL {f}", err=True)
    sys.exit(0 if res.passed else 1)


@main.command(name="firmware")
@click.option("--board", required=True, type=click.Choice(["nucleo-f411re", "stm32h743", "esp32-s3", "host"]),
              help="Target board.")
@click.option("--bundle", type=click.Path(path_type=str), metavar="DIR",
              help="A convert bundle. Default: convert the embedded model with --window-seconds first.")
@click.option("--out", required=True, metavar="DIR", help="Project folder (written atomically).")
@click.option("--window-seconds", default=2.0, show_default=True, type=float, metavar="S",
              help="Window for the default convert (ignored with --bundle).")
@click.option("--psram", is_flag=True, help="esp32-s3: put the TFLM arena in PSRAM.")
@click.option("--force", is_flag=True, help="Replace an existing --out directory.")
@_one_line_errors
def firmware_cmd(board, bundle, out, window_seconds, psram, force):
    """Generate a board project around a bundle, after checking it fits the board.

    \b
    Boards: nucleo-f411re (Cortex-M4F, 512 KB flash, 128 KB RAM), stm32h743 (Cortex-M7, 2 MB, 1 MB),
            esp32-s3 (Xtensa LX7, 512 KB SRAM, --psram for 8 MB), host (Linux, reads a WAV file).
    Budget: flash = model + front end + TFLM/HAL estimates; RAM = arena + front-end buffers +
    audio ring + an allowance. A project that cannot fit is refused with the numbers and a
    window length that would.
    """
    from .firmware.generate import firmware

    path, b = firmware(board, out, bundle=bundle, window_seconds=window_seconds, psram=psram, force=force,
                       progress=True)
    lim = lambda v: "no limit" if v is None else f"{v / 1024:.0f} KiB"  # noqa: E731
    click.echo(f"wrote {path}/ for {board}: flash {b.flash_used / 1024:.0f} KiB of {lim(b.flash_limit)}, "
               f"RAM {b.ram_used / 1024:.0f} KiB of {lim(b.ram_limit)}")
    if b.ccc and min(b.ccc.values()) < LOW_CCC:
        worst = min(b.ccc, key=b.ccc.get)
        click.echo(f"warning: this bundle's int8 model tracks the float model poorly ({worst} CCC "
                   f"{b.ccc[worst]:.3f} on held-out audio); it fits, but check `mcu-toolkit validate`", err=True)


@main.command(name="features")
@click.argument("audio", type=click.Path(path_type=str))
@click.option("--out", required=True, metavar="FILE.npy", help="Where to write the features (.npy).")
@click.option("--float", "use_float", is_flag=True,
              help="The model's float log-mel (float32 dB) instead of the fixed-point front end.")
@click.option("--window-seconds", default=2.0, show_default=True, type=float, metavar="S",
              help="Window length; each window is normalised on its own, as on the device.")
@click.option("--force", is_flag=True, help="Replace an existing --out file.")
@_one_line_errors
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

    if not out.endswith(".npy"):
        raise ToolkitError("--out must end in .npy")
    arr = features(audio, use_float=use_float, window_seconds=window_seconds)
    save_npy(arr, out, force)
    kind = "float32 dB" if use_float else "int16 dB Q7"
    click.echo(f"wrote {out}: {arr.shape[0]} window(s) x {arr.shape[1]} frames x {arr.shape[2]} mels, {kind}")


if __name__ == "__main__":
    main()
