"""FastAPI/Starlette endpoints, kept thin: authenticate → request → route → admit → connect → relay."""
