"""mmapconf's pytest plugin (harness/) for every test run from this checkout."""

pytest_plugins = ["harness.plugin"]
