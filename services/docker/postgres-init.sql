-- Run by the postgres image on its first start only (an empty data volume): one database per
-- service. The schema comes from each service's Alembic history (the migrate-* services).
CREATE DATABASE members;
CREATE DATABASE claims;
