"""Trunk -> ONNX -> TensorFlow (onnx2tf) -> full-int8 TFLite."""
