"""Detector node: licence-plate (and vehicle) boxes with ONNX Runtime or a Hailo-8."""
