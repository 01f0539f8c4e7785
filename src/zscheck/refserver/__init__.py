"""The embedded reference ZStack server: the default target, faithful to the real REST layer.

It never imports the harness's checks (and they never import it): the tests only mean something if
the oracle and the server were written independently.
"""

from zscheck.refserver.server import RunningServer, ServeError, ServerConfig, serve, start_in_thread

__all__ = ["RunningServer", "ServeError", "ServerConfig", "serve", "start_in_thread"]
