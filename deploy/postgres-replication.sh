#!/bin/sh
# docker-compose.yml: the official postgres image runs this once, when it creates the
# database. `all` in pg_hba.conf does not cover replication connections: the
# `postgres-replica` service (profile `cluster`) needs this rule for its base backup
# and its WAL stream. Same password authentication as every other connection.
set -e
echo "host replication all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
