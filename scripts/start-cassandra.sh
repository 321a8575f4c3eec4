#!/usr/bin/env bash
# A single Cassandra 5 node on 127.0.0.1:9042, from Maven Central jars, heap 1 GiB.
# Idempotent: fetches the jars once, starts the node when none answers, waits until CQL listens.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
ROOT=${HIGGINS_CASSANDRA_ROOT:-/var/lib/higgins-cassandra}
LIB=$ROOT/lib
listening() { (exec 3<>/dev/tcp/127.0.0.1/9042) 2>/dev/null; }

if listening; then exit 0; fi
mkdir -p "$ROOT/data" "$ROOT/logs"
if [ ! -f "$LIB/.complete" ]; then
  echo "==> fetching Cassandra jars from Maven Central (mvn dependency:copy-dependencies)"
  mvn -q -B -f "$here/cassandra/pom.xml" dependency:copy-dependencies -DoutputDirectory="$LIB" \
    >"$ROOT/logs/mvn.log" 2>&1 || { tail -20 "$ROOT/logs/mvn.log" >&2; exit 1; }
  touch "$LIB/.complete"
fi
sed "s#@DATA@#$ROOT/data#g" "$here/cassandra/cassandra.yaml.in" >"$ROOT/cassandra.yaml"

# What Cassandra's own jvm17-server.options opens up on Java 17.
opens="java.base/java.lang.module java.base/jdk.internal.loader java.base/jdk.internal.ref
java.base/jdk.internal.reflect java.base/jdk.internal.math java.base/jdk.internal.module
java.base/jdk.internal.util.jar jdk.management/com.sun.management.internal java.base/sun.nio.ch
java.base/java.io java.base/java.nio java.base/java.util.concurrent java.base/java.util
java.base/java.util.concurrent.atomic java.base/java.lang java.base/java.math
java.base/java.lang.reflect java.base/java.net"
exports="java.base/jdk.internal.misc java.base/jdk.internal.ref java.base/sun.nio.ch
java.management.rmi/com.sun.jmx.remote.internal.rmi java.rmi/sun.rmi.registry
java.rmi/sun.rmi.server java.sql/java.sql java.base/java.lang.ref jdk.unsupported/sun.misc"
jvm=(-Xms1g -Xmx1g -XX:+ExitOnOutOfMemoryError -Djava.net.preferIPv4Stack=true
     -Dcassandra.config="file://$ROOT/cassandra.yaml" -Dcassandra.storagedir="$ROOT/data"
     -Dcassandra.logdir="$ROOT/logs" -Dlogback.configurationFile="$here/cassandra/logback.xml"
     -Dcassandra.jmx.local.port=7199 -Dcassandra-foreground=yes)
for m in $opens; do jvm+=(--add-opens "$m=ALL-UNNAMED"); done
for m in $exports; do jvm+=(--add-exports "$m=ALL-UNNAMED"); done

echo "==> starting Cassandra on 127.0.0.1:9042 (logs: $ROOT/logs)"
nohup java "${jvm[@]}" -cp "$LIB/*" org.apache.cassandra.service.CassandraDaemon \
  >"$ROOT/logs/stdout.log" 2>&1 &
for _ in $(seq 1 240); do
  listening && exit 0
  sleep 0.5
done
echo "Cassandra did not start listening within 120 s; see $ROOT/logs" >&2
tail -20 "$ROOT/logs/system.log" >&2 || true
exit 1
