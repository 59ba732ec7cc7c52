# The Topolab image: the web, the control consumer, beat and the lab host all run it
# (docker-compose.yml). tests/web/test_compose_file.py runs the frontend stage's commands
# under Node.js 18 and checks they produce frontend/dist.

# The frontend, built with Debian 12's own Node.js 18 and npm, as `make run` builds it.
FROM debian:bookworm-slim AS frontend
RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src/frontend
COPY frontend/package.json frontend/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY frontend/ ./
RUN npm run build

FROM python:3.11-slim-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends \
      iproute2 iputils-ping tcpdump util-linux libcap2-bin \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY . /app
# frontend/dist is git-ignored (and docker-ignored): the web serves the stage's build.
COPY --from=frontend /src/frontend/dist /app/frontend/dist
RUN pip install --no-cache-dir -e ".[postgres]"
