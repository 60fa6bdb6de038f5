"""OCR node: reads plate crops (PP-OCR through ONNX Runtime) and normalises them to region formats."""
