"""The checkout's pytest plugin is harness.plugin. tox.ini loads it with -p (addopts), before the command line is
read, so that no option's value is ever taken for a test path; naming it here too changes nothing then (pytest
registers a plugin once), and keeps it loaded where this checkout's tests run under another configuration."""

pytest_plugins = ["harness.plugin"]
