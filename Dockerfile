# syntax=docker/dockerfile:1
# voice-gateway container image.
#   builder: compiles every wheel (the gateway and its dependencies) with build tools present.
#   runtime: slim Python plus the prebuilt wheels only; no compiler, no pip cache, non-root.
# The data directories live at /app/config and /app/policies so they can be mounted over
# (docker-compose bind mounts, Helm ConfigMaps); policies there are hot-reloaded on change.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY gateway/ gateway/
COPY routers/ routers/
RUN pip wheel --wheel-dir /wheels .

FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VOICE_GATEWAY_CONFIG_DIR=/app/config \
    VOICE_GATEWAY_POLICY_FILES=/app/policies/default.yaml
RUN groupadd --system --gid 10001 voicegw \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin voicegw
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels voice-gateway
WORKDIR /app
COPY config/ /app/config/
COPY policies/ /app/policies/
USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=4s --start-period=10s --retries=3 \
  CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('VOICE_GATEWAY_PORT', '8080') + '/healthz', timeout=3)"
ENTRYPOINT ["voice-gateway"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]
