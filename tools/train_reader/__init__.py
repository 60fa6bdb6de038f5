"""Training pipeline for the project's own fixed-slot plate reader (issue 13).

A development tool, not a runtime dependency: it runs in its own virtual
environment (``setup.sh`` makes ``.venv-train``) and writes an ONNX model plus
the ``<name>_plate_config.yaml`` that ``lpr_ocr.plate_model`` reads.
"""
