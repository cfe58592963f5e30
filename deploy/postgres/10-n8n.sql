-- n8n keeps its workflows, credentials and executions in its own database on the stack's Postgres
-- (run once, when the postgres volume is first initialised).
CREATE DATABASE n8n;
