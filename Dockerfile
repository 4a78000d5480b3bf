# syntax=docker/dockerfile:1.7
# Two images from one file:  --target airflow  (api-server, scheduler, dag-processor, triggerer, workers, MLflow)
#                            --target serving  (the BentoML endpoint)
# Dependencies come from the lock before the code, so a code change rebuilds only the last layers.

FROM python:3.11-slim-bookworm AS deps
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
COPY requirements.txt /tmp/requirements.txt
# torch is pinned to its CPU build, published on PyTorch's own CPU index.
RUN /opt/venv/bin/pip install --extra-index-url https://download.pytorch.org/whl/cpu -r /tmp/requirements.txt

# The Bootstrap, jQuery, Font Awesome and Vega files the Data Docs pages load, from web/package-lock.json: the
# Airflow plugin serves them (gyre.validation.web), so the pages need no CDN.
FROM node:20-bookworm-slim AS web
WORKDIR /web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts

FROM python:3.11-slim-bookworm AS base
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgomp1 tini \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 50000 --gid 0 --create-home --home-dir /home/gyre gyre
COPY --from=deps /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    GYRE_HOME=/var/lib/gyre \
    AIRFLOW_HOME=/opt/airflow \
    GYRE_PROJECT_ROOT=/opt/gyre
WORKDIR /opt/gyre
COPY pyproject.toml README.md ./
COPY include include
RUN pip install --no-deps . \
 && mkdir -p /var/lib/gyre /opt/airflow \
 && chown -R gyre:0 /var/lib/gyre /opt/airflow
COPY sql sql
COPY feature_repo feature_repo

FROM base AS airflow
COPY dags dags
COPY plugins plugins
COPY --from=web /web/node_modules web/node_modules
ENV AIRFLOW__CORE__DAGS_FOLDER=/opt/gyre/dags \
    AIRFLOW__CORE__PLUGINS_FOLDER=/opt/gyre/plugins \
    AIRFLOW__CORE__LOAD_EXAMPLES=False
USER gyre
EXPOSE 8080
# The api-server's health; compose gives each other component a check of its own.
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=5 \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/api/v2/monitor/health', timeout=5)"
ENTRYPOINT ["tini", "--", "airflow"]
CMD ["api-server"]

FROM base AS serving
COPY bentos bentos
USER gyre
EXPOSE 3000
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=5 \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:3000/healthz', timeout=3)"
# BentoML's CLI with its circus controller on a private Unix socket, not a TCP port (gyre.services.bento_serve).
ENTRYPOINT ["tini", "--", "python", "-m", "gyre.services.bento_serve", "serve", "bentos/fraud_scorer", "--host", "0.0.0.0", "--port", "3000"]
