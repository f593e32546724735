"""mcu-toolkit: Wav2Small from checkpoint to int8 TFLite on TFLM, with the C bundle firmware needs."""

__version__ = "0.1.0"
