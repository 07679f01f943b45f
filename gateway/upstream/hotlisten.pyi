"""Types of the compiled listener ``gateway/upstream/hotlisten.pyx`` (present when built at install)."""

from gateway.upstream.hot_listener import PyHotListener

BUILT_WITH_PICOWS: str

class HotListener(PyHotListener): ...
