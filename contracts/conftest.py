"""The conformance suites run under zscheck's pytest plugin: `pytest contracts --zs-target URL ...`."""

pytest_plugins = ["zscheck.conformance.plugin"]
