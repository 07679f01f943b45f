"""The one exception tree of the gateway.

Every error carries an OpenAI-shaped error code and type, a WebSocket close code, an HTTP
status for handshake/API refusals, and a client-safe message. Internal detail travels only
in ``__cause__`` (logged), never in what the peer sees.
"""

from __future__ import annotations

from typing import ClassVar


class CloseCode:
    """WebSocket close codes the gateway uses (documented in the README)."""

    NORMAL = 1000
    GOING_AWAY = 1001  # drain / shutdown
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003  # binary frame where text is expected
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    INTERNAL_ERROR = 1011
    TRY_AGAIN_LATER = 1013  # upstream unavailable / overloaded
    BAD_GATEWAY = 1014  # upstream refused, dropped or stalled
    INVALID_REQUEST = 4000  # same as OpenAI's invalid_model close
    UNAUTHORIZED = 4001
    FORBIDDEN = 4003  # policy deny, origin refused, route not allowed for key
    RATE_LIMITED = 4029
    COST_CAP = 4100
    DURATION_CAP = 4101
    IDLE_TIMEOUT = 4102
    BUDGET_EXHAUSTED = 4103
    SLOW_CLIENT = 4104
    ENDED_BY_ADMIN = 4105


class GatewayError(Exception):
    """Base of every error the gateway reports to a peer."""

    code: ClassVar[str] = "gateway_error"
    error_type: ClassVar[str] = "server_error"
    close_code: ClassVar[int] = CloseCode.INTERNAL_ERROR
    http_status: ClassVar[int] = 500
    default_message: ClassVar[str] = "The gateway hit an internal error."
    #: whether the session stays open after this error is reported on a live session
    fatal: ClassVar[bool] = True

    def __init__(self, message: str | None = None, *, param: str | None = None) -> None:
        self.client_message = message or self.default_message
        self.param = param
        super().__init__(self.client_message)

    def error_body(self, client_event_id: str | None = None) -> dict[str, object]:
        """The ``error`` object of OpenAI's shape (``type``, ``code``, ``message``, ``param``, ``event_id``)."""
        return {
            "type": self.error_type,
            "code": self.code,
            "message": self.client_message,
            "param": self.param,
            "event_id": client_event_id,
        }

    def http_body(self) -> dict[str, object]:
        """JSON body for an HTTP refusal, as OpenAI's REST errors are shaped."""
        return {"error": self.error_body()}

    @property
    def close_reason(self) -> str:
        """Close reason: the code, short enough for the 123-byte close-frame limit."""
        return self.code[:120]


# --- request errors: the session stays open --------------------------------------------------


class InvalidRequest(GatewayError):
    code = "invalid_request_error"
    error_type = "invalid_request_error"
    close_code = CloseCode.INVALID_REQUEST
    http_status = 400
    default_message = "The request is invalid."
    fatal = False


class ToolsNotAllowed(InvalidRequest):
    code = "tools_not_allowed"
    default_message = "These tools are not allowed on this session."


class InvalidJson(InvalidRequest):
    code = "invalid_json"
    default_message = "The frame is not valid JSON."


class MissingEventType(InvalidRequest):
    code = "invalid_event"
    default_message = "The event has no 'type' field."


class RetiredParameter(InvalidRequest):
    """A field OpenAI has shut down (the saved-prompt ``prompt`` field, 2026-11-30): refused, not forwarded."""

    code = "unknown_parameter"
    default_message = "This parameter is no longer supported."


class UnknownEventType(InvalidRequest):
    code = "invalid_event"
    default_message = "The event type is not known."


class NotServedByKind(InvalidRequest):
    """A client event the model kind now serving the session cannot serve (a voice-agent client on a
    translation model asking for a response, a conversation item, tools…); the session goes on."""

    code = "unsupported_for_session_kind"
    default_message = "This event is not available while the session is served by a model of another kind."


class ResponseCancelNotActive(InvalidRequest):
    """``response.cancel`` with no response in progress (the API's own code for it)."""

    code = "response_cancel_not_active"
    default_message = "Cancellation failed: no active response found."


class BinaryFrameNotSupported(InvalidRequest):
    code = "invalid_event"
    default_message = "Binary frames are not supported; send events as JSON text frames."


class FrameTooLarge(InvalidRequest):
    code = "message_too_large"
    close_code = CloseCode.MESSAGE_TOO_BIG
    http_status = 413
    default_message = "The frame exceeds the gateway's message size limit."
    fatal = True


class FrameRateExceeded(InvalidRequest):
    code = "rate_limit_exceeded"
    close_code = CloseCode.POLICY_VIOLATION
    default_message = "Too many frames per second on this session."
    fatal = True


class AllowanceCommitted(InvalidRequest):
    """What the session's cost cap or the tenant's budget leaves is already promised to replies still running."""

    code = "allowance_committed"
    default_message = (
        "What is left of this session's cost cap or budget is committed to responses still in progress; "
        "send response.create again once they are done."
    )


class HeldFramesExceeded(InvalidRequest):
    """The client sent more than the gateway holds while it switches upstreams (a handoff) or meters a reply."""

    code = "rate_limit_exceeded"
    close_code = CloseCode.POLICY_VIOLATION
    default_message = "Too much data sent while the session was switching; slow down."
    fatal = True


# --- handshake refusals ------------------------------------------------------------------------


class HeadersTooLarge(GatewayError):
    code = "request_header_fields_too_large"
    error_type = "invalid_request_error"
    close_code = CloseCode.POLICY_VIOLATION
    http_status = 431
    default_message = "The request's headers are too large or too many."


class BodyTooLarge(GatewayError):
    code = "request_too_large"
    error_type = "invalid_request_error"
    close_code = CloseCode.POLICY_VIOLATION
    http_status = 413
    default_message = "The request body exceeds the gateway's size limit."


class BodyTimeout(GatewayError):
    code = "request_timeout"
    error_type = "invalid_request_error"
    close_code = CloseCode.POLICY_VIOLATION
    http_status = 408
    default_message = "The request body did not arrive in time."


class UnknownModel(GatewayError):
    code = "invalid_model"
    error_type = "invalid_request_error"
    close_code = CloseCode.INVALID_REQUEST
    http_status = 400
    default_message = "The requested model is not served by this gateway."


class NotFound(GatewayError):
    code = "not_found"
    error_type = "invalid_request_error"
    close_code = CloseCode.POLICY_VIOLATION
    http_status = 404
    default_message = "Not found."


class MethodNotAllowed(GatewayError):
    code = "method_not_allowed"
    error_type = "invalid_request_error"
    close_code = CloseCode.POLICY_VIOLATION
    http_status = 405
    default_message = "This method is not allowed on this path."


class UnprocessableRequest(InvalidRequest):
    """A request FastAPI could not validate against an endpoint's declared parameters or body."""

    code = "invalid_request_error"
    http_status = 422


class AuthenticationFailed(GatewayError):
    code = "invalid_api_key"
    error_type = "invalid_request_error"
    close_code = CloseCode.UNAUTHORIZED
    http_status = 401
    default_message = "Missing or invalid gateway API key."


class Forbidden(GatewayError):
    code = "forbidden"
    error_type = "invalid_request_error"
    close_code = CloseCode.FORBIDDEN
    http_status = 403
    default_message = "This request is not allowed."


class PolicyDenied(Forbidden):
    code = "policy_denied"
    default_message = "The routing policy refused this session."


class RateLimited(GatewayError):
    code = "rate_limit_exceeded"
    error_type = "rate_limit_error"
    close_code = CloseCode.RATE_LIMITED
    http_status = 429
    default_message = "Too many requests; slow down."


class ConcurrencyLimited(RateLimited):
    code = "concurrent_sessions_exceeded"
    default_message = "Too many concurrent sessions for this key."


class BudgetExhausted(GatewayError):
    code = "budget_exceeded"
    error_type = "insufficient_quota"
    close_code = CloseCode.BUDGET_EXHAUSTED
    http_status = 402
    default_message = "The spend budget for this key is exhausted."


class StoreUnavailable(GatewayError):
    code = "store_unavailable"
    close_code = CloseCode.TRY_AGAIN_LATER
    http_status = 503
    default_message = "The gateway cannot check budgets right now; try again shortly."


class Draining(GatewayError):
    code = "server_shutting_down"
    close_code = CloseCode.GOING_AWAY
    http_status = 503
    default_message = "This gateway instance is shutting down; reconnect."


# --- upstream ----------------------------------------------------------------------------------


class UpstreamError(GatewayError):
    code = "upstream_error"
    close_code = CloseCode.BAD_GATEWAY
    http_status = 502
    default_message = "The model endpoint failed."


class UpstreamUnavailable(UpstreamError):
    code = "upstream_unavailable"
    close_code = CloseCode.TRY_AGAIN_LATER
    http_status = 503
    default_message = "No model endpoint could be reached for this session."


class UpstreamRefused(UpstreamError):
    code = "upstream_refused"
    default_message = "The model endpoint refused the session."


class UpstreamDropped(UpstreamError):
    code = "upstream_disconnected"
    default_message = "The model endpoint closed the connection unexpectedly."


class SidebandLost(UpstreamError):
    """Fail-closed: the call was hung up because the gateway could no longer observe it."""

    code = "sideband_lost"
    default_message = "The gateway lost its control connection to the call; the call was ended."


class SidebandLostOpen(UpstreamError):
    """Fail-open: the call was left running, unobserved (no more metering, caps or traces for it)."""

    code = "sideband_lost_open"
    default_message = "The gateway lost its control connection to the call; the call was left running."


class UpstreamStalled(UpstreamError):
    code = "upstream_stalled"
    default_message = "The model endpoint stopped responding."


# --- caps: the session is cut off ----------------------------------------------------------------


class CapReached(GatewayError):
    error_type = "invalid_request_error"
    http_status = 402


class CostCapReached(CapReached):
    code = "session_cost_cap_reached"
    close_code = CloseCode.COST_CAP
    default_message = "This session reached its cost cap."


class DurationCapReached(CapReached):
    code = "session_duration_cap_reached"
    close_code = CloseCode.DURATION_CAP
    default_message = "This session reached its maximum duration."


class IdleTimeout(CapReached):
    code = "session_idle_timeout"
    close_code = CloseCode.IDLE_TIMEOUT
    default_message = "This session was idle for too long."


class BudgetCapReached(CapReached):
    code = "budget_exceeded"
    error_type = "insufficient_quota"
    close_code = CloseCode.BUDGET_EXHAUSTED
    default_message = "The spend budget for this key was exhausted during the session."


class SlowClient(GatewayError):
    code = "client_too_slow"
    close_code = CloseCode.SLOW_CLIENT
    default_message = "The client did not keep up with the audio stream."


class EndedByOperator(GatewayError):
    code = "session_ended_by_operator"
    close_code = CloseCode.ENDED_BY_ADMIN
    default_message = "An operator ended this session."


class CallHungUp(GatewayError):
    """The call's owner hung it up through the gateway's calls API (``POST /v1/realtime/calls/{id}/hangup``)."""

    code = "call_hung_up"
    error_type = "invalid_request_error"
    close_code = CloseCode.NORMAL
    default_message = "The call was hung up."


class CallControlledByGateway(GatewayError):
    """A calls-API action the gateway takes itself, by policy (accepting or rejecting an incoming call)."""

    code = "call_controlled_by_gateway"
    error_type = "invalid_request_error"
    close_code = CloseCode.POLICY_VIOLATION
    http_status = 409
    default_message = "The gateway accepts and rejects incoming calls itself, by routing policy."


class TooManyWatchers(GatewayError):
    """A call already has as many of its owner's sideband connections as the gateway lets it have."""

    code = "too_many_sideband_connections"
    error_type = "invalid_request_error"
    close_code = CloseCode.TRY_AGAIN_LATER
    http_status = 409
    default_message = "This call already has as many sideband connections through the gateway as it may."


class CallOnAnotherReplica(GatewayError):
    """A sideband for a call another gateway replica follows (its relay, and so its sideband, live there)."""

    code = "call_on_another_replica"
    error_type = "invalid_request_error"
    close_code = CloseCode.TRY_AGAIN_LATER
    http_status = 409
    default_message = ("Another gateway replica serves this call: route sideband connections for a call to the "
                       "replica that placed it (for example by the call id).")


class SidebandUnavailable(GatewayError):
    """A sideband for a call whose media the gateway terminates itself (no upstream call to watch)."""

    code = "sideband_unavailable"
    error_type = "invalid_request_error"
    close_code = CloseCode.POLICY_VIOLATION
    http_status = 409
    default_message = ("The gateway terminates this call's media itself: there is no call sideband to attach to. "
                       "Use direct media for calls a server should watch.")


class InvalidTransition(RuntimeError):
    """A lifecycle moved out of order: a programming error, never shown to a peer."""


class StoreError(Exception):
    """A store port's backend could not be reached or answered badly (detail in ``__cause__``).

    Internal: never reaches a client. The domain packages turn it into :class:`StoreUnavailable`
    (or fail open) as their rules say; only ``gateway.store`` raises it.
    """
