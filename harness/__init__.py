"""mmapconf's pytest harness: the plugins that turn claim tests into verdicts, and the library they share.

``harness.plugin`` is the entry point (tox.ini's ``-p harness.plugin``: loaded before any conftest.py);
it registers one module per job. The library modules (catalog, expectations, findings) are what claim
tests and scenarios use of the harness.
"""
