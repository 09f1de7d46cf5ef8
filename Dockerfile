# The anonymized copy's image (infra/components/data_copy.py, docs/data.md): Python with the
# copy's own requirements (requirements-image.txt: the suite's versions, with hashes) and psql
# of RDS's major (the roles script, infra/dbroles.py). AWS (IAM database tokens, S3) is boto3's,
# in infra/data/job.py: no AWS CLI. Built and pushed by
# .github/workflows/data-image.yml to the production account's ECR repository platform-data;
# each stack runs the tag its platform:data_copy.image_tag names.
FROM public.ecr.aws/docker/library/python:3.11-slim-bookworm

# PostgreSQL's own apt repository: Debian bookworm ships psql 15, RDS runs 17.
ARG PG_MAJOR=17
RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends ca-certificates curl; \
    install -d /usr/share/postgresql-common/pgdg; \
    curl -fsSL -o /usr/share/postgresql-common/pgdg/apt.postgresql.org.asc https://www.postgresql.org/media/keys/ACCC4CF8.asc; \
    echo "deb [signed-by=/usr/share/postgresql-common/pgdg/apt.postgresql.org.asc] https://apt.postgresql.org/pub/repos/apt bookworm-pgdg main" > /etc/apt/sources.list.d/pgdg.list; \
    apt-get update; \
    apt-get install -y --no-install-recommends "postgresql-client-${PG_MAJOR}"; \
    apt-get purge -y curl; \
    apt-get autoremove -y; \
    rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements-image.txt /tmp/requirements-image.txt
# Exactly what the suite ran (tests/test_data_job.py keeps the file equal to its venv), nothing resolved here.
RUN pip install --no-cache-dir --no-deps --require-hashes -r /tmp/requirements-image.txt && rm /tmp/requirements-image.txt

COPY infra/__init__.py infra/dbroles.py infra/
COPY infra/data/ infra/data/
COPY data/masking.yaml data/masking.yaml

# Non-root (Pod Security restricted); the Job mounts its only writable directory at /work.
USER 10001:10001
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 HOME=/work
ENTRYPOINT []
CMD ["python", "-m", "infra.data.job", "--help"]
