"""The lpr command and the tools around the graph: evaluation, benchmarks, bags, the Foxglove live view, model installation, crash tests."""
