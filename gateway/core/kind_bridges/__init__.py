"""The kind bridges (issue #18, item 3): one module per (client kind, upstream kind) pair; entry point
:func:`gateway.core.kind_bridge.bridge_for`."""
