"""Waveform -> log-mel: the float reference and the fixed-point front end the device runs."""
