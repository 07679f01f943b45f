"""Credentials are read from headers or the browser subprotocol, and never routed on."""

from gateway.inbound.credentials import choose_subprotocol, read_credential, routing_headers


def test_bearer_header() -> None:
    """The Authorization bearer form is read."""
    c = read_credential({"authorization": "Bearer vg_abc"}, [])
    assert c is not None and c.secret == "vg_abc" and not c.from_browser


def test_browser_subprotocol() -> None:
    """Browsers pass the key as a subprotocol and are marked for the Origin check."""
    c = read_credential({}, ["realtime", "openai-insecure-api-key.ek_123"])
    assert c is not None and c.secret == "ek_123" and c.from_browser


def test_missing_credential() -> None:
    """No credential → None (the endpoint refuses with 401)."""
    assert read_credential({"authorization": "Basic x"}, ["realtime"]) is None


def test_selected_subprotocol_is_one_the_client_offered() -> None:
    """The handshake echoes 'realtime' so browsers accept it, never the key."""
    assert choose_subprotocol(["openai-insecure-api-key.k", "realtime"]) == "realtime"
    assert choose_subprotocol(["openai-insecure-api-key.k"]) is None


def test_routing_headers_drop_secrets() -> None:
    """Authorization, api-key and cookies never reach the router."""
    h = routing_headers({"authorization": "Bearer x", "api-key": "y", "cookie": "z", "x-team": "a"})
    assert h == {"x-team": "a"}
