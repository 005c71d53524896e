# syntax=docker/dockerfile:1
# Multi-stage: wheels are built in a full image; the runtime image has no compiler and runs as
# an unprivileged user.

FROM python:3.11-slim AS build
WORKDIR /src
RUN apt-get update && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md ./
COPY backend ./backend
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    ORCA_ENV=production \
    ORCA_API_HOST=0.0.0.0 \
    ORCA_HOME=/var/lib/orca
RUN groupadd --system orca && useradd --system --gid orca --home-dir /var/lib/orca \
        --create-home --shell /usr/sbin/nologin orca
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
WORKDIR /app
# Migrations run from here (`orca migrate` finds ./alembic.ini).
COPY alembic.ini ./
COPY alembic ./alembic
USER orca
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["orca", "healthcheck", "api"]
CMD ["orca", "api"]
