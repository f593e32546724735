"""mcu-toolkit: Wav2Small from checkpoint to int8 TFLite on TFLM, with the C bundle firmware needs."""

__version__ = "0.1.0"


def validate(*args, **kwargs):
    """mcu_toolkit.validate(bundle_or_checkpoint, audio, labels=None, min_ccc=None, max_drift=None,
    jobs=1) -> ValidationResult with .ccc, .drift, .passed, .failures. See mcu_toolkit.verify.validation."""
    from .verify.validation import validate as _validate

    return _validate(*args, **kwargs)
