"""The model-based test: a reference model of one file and its mappings (reference.py) and the Hypothesis
state machine that runs random operation sequences against it on a real file (machine.py)."""
