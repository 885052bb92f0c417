# The image `mlkube install --kubernetes` names: the operator, and every pod it starts (a
# step's `python -m mlkube.executor`, a training worker, a model replica) run from it.
#
#   docker build -t ghcr.io/mlkube/mlkube:$(python -c 'import mlkube; print(mlkube.__version__)') .
#
# Steps run user code: build FROM this image and add your packages and modules, then give
# `mlkube install --kubernetes --image` (or the operator's --image) your tag.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /opt/mlkube
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install ".[kubernetes,s3,serving,ml]" && rm -rf /opt/mlkube/src

# The restricted Pod Security Standard: a non-root user (the uid the manifests name).
RUN useradd --uid 65532 --user-group --home-dir /home/mlkube --create-home mlkube
USER 65532:65532
WORKDIR /home/mlkube
ENTRYPOINT []
CMD ["mlkube", "operator"]
