"""Transports: the code that adapts uvicorn's (ASGI) and picows' protocols to the core's socket ports."""
