"""The pytest plugin: one module per job, registered here in the order their hooks depend on."""

pytest_plugins = ["harness.profiles", "harness.targets", "harness.verdicts", "harness.results"]
