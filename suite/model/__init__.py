"""The model-based test: a reference model of one file and its mappings (reference.py), the state machine that
runs random operation sequences against it on a real file (machine.py), the Hypothesis property that draws
those sequences and shrinks a failing one (sequences.py), the platform's alternatives it takes from the
expectations (platform_choice.py), and a shrunk failure as a script (reproduction.py)."""
