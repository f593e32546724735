"""Checks of the deployed pipeline: CCC, and the TFLM proof."""
