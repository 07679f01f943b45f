"""OpenTelemetry for the gateway: session/turn spans, metrics, JSON logs (the only home of opentelemetry)."""

from gateway.telemetry.factory import TelemetryObserverFactory
from gateway.telemetry.logs import (
    RedactingFilter,
    SecretRedactor,
    configure_logging,
    register_secret,
)
from gateway.telemetry.observer import TelemetryObserver
from gateway.telemetry.setup import Telemetry, setup_telemetry

__all__ = [
    "RedactingFilter",
    "SecretRedactor",
    "Telemetry",
    "TelemetryObserver",
    "TelemetryObserverFactory",
    "configure_logging",
    "register_secret",
    "setup_telemetry",
]
