#!/usr/bin/env bash
# MariaDB (Debian's mariadb-server) on 127.0.0.1:3306 for the OpenStack services that need a real
# database (Neutron, Cinder, Heat...), with a data directory of its own. Idempotent: installs when
# missing (without letting the package start a daemon), starts when nothing answers, waits.
# With arguments `DATABASE USER PASSWORD` it also makes that database and a user owning it.
set -euo pipefail
DATA=${HIGGINS_MARIADB_DATA:-/var/lib/higgins-mariadb}
SOCKET=/run/higgins-mariadb/mysqld.sock
answering() { mariadb-admin --socket="$SOCKET" -uroot ping >/dev/null 2>&1; }

if ! command -v mariadbd >/dev/null 2>&1; then
  echo "==> apt-get install mariadb-server"
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mariadb-server >/dev/null
  rm -f /usr/sbin/policy-rc.d
fi
mkdir -p "$DATA" /run/higgins-mariadb /var/log/higgins-mariadb
chown mysql:mysql /run/higgins-mariadb /var/log/higgins-mariadb
if [ ! -d "$DATA/mysql" ]; then
  echo "==> initialising MariaDB in $DATA"
  chown mysql:mysql "$DATA"
  mariadb-install-db --user=mysql --datadir="$DATA" --auth-root-authentication-method=socket \
    >/var/log/higgins-mariadb/install.log 2>&1
fi
if ! answering; then
  echo "==> starting MariaDB on 127.0.0.1:3306 (log: /var/log/higgins-mariadb/error.log)"
  nohup mariadbd --user=mysql --datadir="$DATA" --socket="$SOCKET" --bind-address=127.0.0.1 \
    --port=3306 --pid-file=/run/higgins-mariadb/mysqld.pid --skip-name-resolve \
    --innodb-buffer-pool-size=256M --max-connections=500 --character-set-server=utf8mb4 \
    --log-error=/var/log/higgins-mariadb/error.log >/dev/null 2>&1 &
  for _ in $(seq 1 120); do answering && break; sleep 0.5; done
  answering || { tail -20 /var/log/higgins-mariadb/error.log >&2; exit 1; }
fi
if [ $# -eq 3 ]; then
  mariadb --socket="$SOCKET" -uroot <<SQL
CREATE DATABASE IF NOT EXISTS \`$1\` CHARACTER SET utf8mb4;
CREATE USER IF NOT EXISTS '$2'@'127.0.0.1' IDENTIFIED BY '$3';
CREATE USER IF NOT EXISTS '$2'@'localhost' IDENTIFIED BY '$3';
GRANT ALL PRIVILEGES ON \`$1\`.* TO '$2'@'127.0.0.1';
GRANT ALL PRIVILEGES ON \`$1\`.* TO '$2'@'localhost';
SQL
fi
