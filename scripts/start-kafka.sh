#!/usr/bin/env bash
# A single Kafka 4 broker in KRaft mode (broker and controller in one process, node id 1) on
# 127.0.0.1:9092 (controller listener 127.0.0.1:9093), from Maven Central jars, heap 1 GiB.
# Data in $HIGGINS_KAFKA_ROOT (default /var/lib/higgins-kafka)/data, logs in .../logs.
# Idempotent: fetches the jars once (again when kafka/pom.xml changes), formats the storage once
# (fixed cluster id), starts the broker when none answers on 9092, waits until it answers API
# requests as a live (registered, unfenced) broker.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
ROOT=${HIGGINS_KAFKA_ROOT:-/var/lib/higgins-kafka}
LIB=$ROOT/lib
CLUSTER_ID=SGlnZ2luc0thZmthTm9kZQ   # base64url("HigginsKafkaNode"): fixed, so data is kept
listening() { (exec 3<>/dev/tcp/127.0.0.1/9092) 2>/dev/null; }
# answering: the broker is registered and unfenced (so it takes writes),
# checked with Kafka's own kafka-broker-api-versions tool
answering() {
  timeout 30 java -Xmx128m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC \
    -Dlog4j2.configurationFile="$here/kafka/log4j2-tools.xml" -cp "$LIB/*" \
    org.apache.kafka.tools.BrokerApiVersionsCommand --bootstrap-server 127.0.0.1:9092 \
    2>>"$ROOT/logs/ready-check.log" | grep '^127.0.0.1:9092 (id: 1 .*isFenced: false' >/dev/null
}

if listening; then exit 0; fi
mkdir -p "$ROOT/data" "$ROOT/logs"
# .complete is a copy of the pom the jars came from: a changed pom fetches them anew
if ! cmp -s "$here/kafka/pom.xml" "$LIB/.complete"; then
  echo "==> fetching Kafka jars from Maven Central (mvn dependency:copy-dependencies)"
  rm -rf "$LIB"
  mvn -q -B -f "$here/kafka/pom.xml" dependency:copy-dependencies -DoutputDirectory="$LIB" \
    >"$ROOT/logs/mvn.log" 2>&1 || { tail -20 "$ROOT/logs/mvn.log" >&2; exit 1; }
  cp "$here/kafka/pom.xml" "$LIB/.complete"
fi
sed "s#@LOGDIR@#$ROOT/data#g" "$here/kafka/server.properties.in" >"$ROOT/server.properties"

log4j=(-Dkafka.logs.dir="$ROOT/logs" -Dlog4j2.configurationFile="$here/kafka/log4j2.xml")
if [ ! -f "$ROOT/data/meta.properties" ]; then
  echo "==> formatting Kafka storage in $ROOT/data (cluster id $CLUSTER_ID)"
  java -Xmx256m "${log4j[@]}" -cp "$LIB/*" kafka.tools.StorageTool format --standalone \
    --ignore-formatted --cluster-id "$CLUSTER_ID" --config "$ROOT/server.properties" \
    >"$ROOT/logs/format.log" 2>&1 || { cat "$ROOT/logs/format.log" >&2; exit 1; }
fi

# The JVM options of Kafka's own kafka-server-start.sh / kafka-run-class.sh.
jvm=(-Xms1g -Xmx1g -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35
     -XX:+ExplicitGCInvokesConcurrent -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true
     -Djava.net.preferIPv4Stack=true "${log4j[@]}")
echo "==> starting Kafka on 127.0.0.1:9092 (logs: $ROOT/logs)"
nohup java "${jvm[@]}" -cp "$LIB/*" kafka.Kafka "$ROOT/server.properties" \
  >"$ROOT/logs/stdout.log" 2>&1 &
pid=$!
: >"$ROOT/logs/ready-check.log"
deadline=$((SECONDS + 120))
while [ "$SECONDS" -lt "$deadline" ]; do
  if listening && answering; then exit 0; fi
  kill -0 "$pid" 2>/dev/null || { echo "Kafka exited" >&2; break; }
  sleep 1
done
echo "Kafka did not answer within 120 s; see $ROOT/logs" >&2
tail -20 "$ROOT/logs/server.log" "$ROOT/logs/stdout.log" >&2 || true
exit 1
