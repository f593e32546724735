"""Our own streaming int8 engine: generated from the int8 TFLite, bit-exact with TFLM through the trunk."""
