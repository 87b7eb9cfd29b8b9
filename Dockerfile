# poche-api container image.
#
#   docker build -t poche-api .
#   docker run ... poche-api                      # the API on :8000 (default CMD)
#   docker run ... poche-api poche-api worker     # durable jobs and schedules
#   docker run ... poche-api poche-api db upgrade # migrations (shipped in the wheel)
#
# Production needs POCHE_DATABASE_URL, POCHE_REDIS_URL and a real POCHE_SECRET_KEY: the
# settings refuse to start otherwise (see compose.yaml).

# --- builder: build the wheel and install it with its dependencies into /opt/venv ---------
FROM python:3.11-slim-bookworm AS builder

# Bytecode is compiled at install time on purpose: the runtime user cannot write to /opt/venv.
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONUNBUFFERED=1

# gcc and libc6-dev compile the GTFS-RT TripUpdates reader (a Cython extension, hatch_build.py);
# they stay in this stage, the runtime image gets the built module only.
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/* \
 && python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --upgrade pip

WORKDIR /src
# Only what the wheel is built from: the package, the migrations (force-included as
# poche_api/_migrations) and the README the metadata points at.
COPY pyproject.toml README.md hatch_build.py ./
COPY src ./src
COPY migrations ./migrations

RUN /opt/venv/bin/pip wheel --no-cache-dir --no-deps --wheel-dir /wheels . \
 && /opt/venv/bin/pip install --no-cache-dir /wheels/*.whl \
 && /opt/venv/bin/python -c "import poche_api.migrate as m; assert m.migrations_dir().name == '_migrations', m.migrations_dir()"

# --- runtime: the interpreter and the installed venv, nothing else -------------------------
FROM python:3.11-slim-bookworm AS runtime

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    POCHE_ENV=production \
    POCHE_DATA_DIR=/var/lib/poche

RUN groupadd --system --gid 10001 poche \
 && useradd --system --uid 10001 --gid poche --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin poche \
 && install -d -o poche -g poche -m 0750 /var/lib/poche

COPY --from=builder /opt/venv /opt/venv

WORKDIR /var/lib/poche
USER 10001:10001

EXPOSE 8000

# Liveness only (no dependency checks): /readyz is for the load balancer. The worker runs
# the same image without HTTP: disable this healthcheck there (compose.yaml does).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/livez', timeout=4).status == 200 else 1)"]

CMD ["poche-api", "serve", "--host", "0.0.0.0", "--port", "8000"]
