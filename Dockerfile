# kasuhara scoring service: `docker compose up` (compose.yaml) or
#   docker build -t kasuhara . && docker run -e KASUHARA_API_KEYS=... -p 8000:8000 kasuhara
# Everything (model, dictionaries, word vectors) is in the image: nothing downloads at run time.

# -- build: wheels for the project and every dependency (a compiler for any without a wheel)
FROM python:3.11-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY kasuhara ./kasuhara
COPY nlp ./nlp
COPY models ./models
COPY service ./service
COPY training ./training
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

# -- run: the wheels only, a non-root user
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    KASUHARA_DATABASE_URL=sqlite:////var/lib/kasuhara/kasuhara.db \
    KASUHARA_REGISTRY=/var/lib/kasuhara/registry
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels kasuhara \
    && rm -rf /wheels \
    && useradd --system --uid 10001 --home-dir /var/lib/kasuhara --create-home kasuhara \
    && install -d -o kasuhara /var/lib/kasuhara/registry  # a volume mounted here starts with this owner
USER kasuhara
WORKDIR /var/lib/kasuhara
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=4).status != 200)"]
# KASUHARA_API_KEYS is required: without it `serve` refuses any address but loopback and exits
CMD ["kasuhara", "serve", "--host", "0.0.0.0", "--port", "8000"]
