"""The pytest plugin: one module per job, registered here in the order their hooks depend on."""

# harness.selection before harness.verdicts: its --list-claims answers after verdicts has checked the catalog
# (of two tryfirst pytest_cmdline_main hooks, the later registered runs first).
pytest_plugins = ["harness.profiles", "harness.parallel", "harness.targets", "harness.selection", "harness.verdicts", "harness.results"]
