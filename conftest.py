"""mmapconf's pytest plugins: targets, Hypothesis profiles, per-claim verdicts and the run report."""

pytest_plugins = ["suite.profiles", "suite.targets", "suite.verdicts", "suite.results"]
