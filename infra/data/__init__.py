"""Data per environment (issue 18): the anonymized copy of prod into staging, dev's seed data, the local stack.

- `masking`: the masking rules (data/masking.yaml) and the deterministic masker;
- `pii`: what looks like PII, by a column's name and by its content;
- `copy`: the pipeline (check, dump, restore, verify, swap) and its CLI, `python -m infra.data.copy`;
- `seed`: dev's fixtures and their loader, `python -m infra.data.seed`.

Pure Python and psycopg: no Pulumi, no component.
"""
