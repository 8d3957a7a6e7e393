# allhands in a container: `docker build -t allhands .`, then see compose.yaml.
# The store lives on the /data volume; the playbooks are mounted read-only at /playbooks.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY connectors ./connectors
RUN pip install . && rm -rf /app/bot /app/connectors

# A user of its own, without a login or a home with secrets in it.
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin allhands \
    && mkdir -p /data /playbooks \
    && chown allhands /data
USER allhands
WORKDIR /data

ENV ALLHANDS_DB=/data/allhands.db \
    ALLHANDS_PLAYBOOKS=/playbooks \
    PORT=8080
VOLUME ["/data"]
EXPOSE 8080

HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '8080') + '/healthz', timeout=4)"]

CMD ["allhands", "run"]
