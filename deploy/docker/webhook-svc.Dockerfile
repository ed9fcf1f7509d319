# syntax=docker/dockerfile:1
# Parley webhook-svc: webhook delivery to HTTPS and NATS targets, retries, dead letters.
#
# Built from the REPOSITORY ROOT (the build context must hold uv.lock and the workspace):
#   docker build -f deploy/docker/webhook-svc.Dockerfile -t parley/webhook-svc:0.1.0 .
# One image, three roles: `webhook-svc all` (default: api and worker in one process),
# `webhook-svc worker` (consumes STATUS/INBOUND, delivers; scale these) and `webhook-svc api`.
#
# Stage 1 installs only webhook-svc and its workspace dependencies, exactly as locked in uv.lock,
# into /app/.venv (no dev tools, no other service). Stage 2 is a slim Python with that venv,
# running as an unprivileged user; the source tree is not in the final image.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
# uv from PyPI, in the same range as the Makefile's.
ARG UV_REQUIREMENT="uv>=0.5,<1"
RUN pip install --no-cache-dir --disable-pip-version-check "${UV_REQUIREMENT}"
ENV UV_PROJECT_ENVIRONMENT=/app/.venv \
    UV_PYTHON_DOWNLOADS=never \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy
WORKDIR /src
# Third-party dependencies first (a layer that changes only with uv.lock). uv needs every
# workspace member's pyproject.toml to read the workspace; it installs only webhook-svc's share.
COPY pyproject.toml uv.lock ./
COPY shared/pyproject.toml shared/
COPY shared/runtime/pyproject.toml shared/runtime/
COPY devtools/pyproject.toml devtools/
COPY services/account-svc/pyproject.toml services/account-svc/
COPY services/routing-svc/pyproject.toml services/routing-svc/
COPY services/webhook-svc/pyproject.toml services/webhook-svc/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-workspace --package webhook-svc
# Then the code: parley_shared and the service, installed as regular (non-editable) packages.
COPY shared/src shared/src
COPY shared/runtime/src shared/runtime/src
COPY services/webhook-svc/src services/webhook-svc/src
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --package webhook-svc

FROM ${PYTHON_IMAGE} AS runtime
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="parley-webhook-svc" \
      org.opencontainers.image.description="Parley webhook-svc" \
      org.opencontainers.image.version="${VERSION}"
RUN groupadd --system --gid 10001 parley \
 && useradd --system --uid 10001 --gid parley --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin parley
COPY --from=build /app/.venv /app/.venv
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    WEBHOOK_HTTP_PORT=8082
WORKDIR /app
# Numeric, so Kubernetes can check runAsNonRoot without a passwd lookup.
USER 10001:10001
EXPOSE 8082
# GET /healthz on the service's own port; urllib (no curl in the image), proxies bypassed.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request as u; u.build_opener(u.ProxyHandler({})).open('http://127.0.0.1:%s/healthz' % os.environ.get('WEBHOOK_HTTP_PORT', '8082'), timeout=2)"]
CMD ["webhook-svc", "all"]
