# One image for the gateway and the raster worker (the command picks which).
FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends postgresql-client && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY api_gateway api_gateway
COPY raster_worker raster_worker
COPY scripts scripts
COPY db db
RUN pip install --no-cache-dir -e .
ENV STAPI_DATA_DIR=/data
EXPOSE 8080 8081
CMD ["uvicorn", "api_gateway.app:app", "--host", "0.0.0.0", "--port", "8080", "--proxy-headers"]
