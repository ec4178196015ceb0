# syntax=docker/dockerfile:1
# digit studio's server: Streamlit + ONNX Runtime + OpenCV, no TensorFlow.
#   docker build -t digit-studio .
#   docker run -p 8501:8501 -v digit-drawings:/data digit-studio
# BuildKit (the default builder) is needed for ADD --checksum/--chmod below.
FROM python:3.11-slim

# No .pyc files written at run time (the app folder is read-only to the server user), logs straight
# to `docker logs`, and no pip cache or version check kept in the image.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, in their own layer, so editing the app does not reinstall them. Wheels only:
# the slim image has no compiler, and a dependency that needed one should fail the build, not pull one in.
COPY requirements.txt .
RUN pip install --only-binary=:all: -r requirements.txt

# MNIST (the Dataset, Evaluation and Misclassified pages read it), baked in so the server never downloads
# at run time. The checksum is Keras's for this file: a changed download fails the build.
ADD --checksum=sha256:731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1 --chmod=444 \
    https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz /opt/mnist/mnist.npz

# Only what serving needs; root owns it and the server user can only read it.
# (.dockerignore leaves out models/*.keras: the server runs the .onnx exports.)
COPY app.py ./
COPY .streamlit/ .streamlit/
COPY pages/ pages/
COPY ui/ ui/
COPY digitlib/ digitlib/
COPY models/ models/

# The one writable place: the visitors' drawings (SQLite in WAL mode), on a volume so they outlive the
# container and can be shared by replicas on the same host (see deploy/compose.yaml).
RUN groupadd --gid 10001 digit \
    && useradd --create-home --uid 10001 --gid 10001 digit \
    && mkdir /data \
    && chown 10001:10001 /data
VOLUME /data

ENV DIGITLIB_MNIST=/opt/mnist/mnist.npz \
    DIGITLIB_MODELS=/app/models \
    DIGITLIB_DRAWINGS_DB=/data/drawings.sqlite3

# Numeric, so that a runtime (Kubernetes' runAsNonRoot) can tell it is not root without reading /etc/passwd.
USER 10001:10001
EXPOSE 8501

# Healthy when Streamlit's health endpoint answers "ok" (slim has no curl). urlopen raises (exit 1) on a
# refused connection, a timeout or an error status such as the 503 of a runtime that is not ready.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4).read() != b'ok')"]

# .streamlit/config.toml already sets headless mode and no usage statistics.
CMD ["streamlit", "run", "app.py", "--server.address=0.0.0.0", "--server.port=8501"]
