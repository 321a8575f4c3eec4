{{/* Names, labels and higgins.conf rendering shared by the templates. */}}

{{- define "higgins.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's prefix for every object: the release name, unless it names the chart already. */}}
{{- define "higgins.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "higgins.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels of one component; called with (dict "root" $ "component" "api"). */}}
{{- define "higgins.selectorLabels" -}}
app.kubernetes.io/name: {{ include "higgins.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Every label of one component's objects; called like higgins.selectorLabels. */}}
{{- define "higgins.labels" -}}
helm.sh/chart: {{ include "higgins.chart" .root }}
{{ include "higgins.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- end }}

{{- define "higgins.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/* The config files every process reads, in order: later files win. */}}
{{- define "higgins.configArgs" -}}
- --config-file
- /etc/higgins/higgins.conf
- --config-file
- /etc/higgins/secret.conf
{{- end }}

{{/* The config files of the api and the agents, which also read the agents' call key
(agent.conf) before secret.conf, so secretConfig still wins. */}}
{{- define "higgins.configArgsWithAgentKey" -}}
- --config-file
- /etc/higgins/higgins.conf
- --config-file
- /etc/higgins/agent.conf
- --config-file
- /etc/higgins/secret.conf
{{- end }}

{{/* [agent] auth_key: agent.authKey; else the key of the release's Secret (kept on upgrades);
else a new random one (at install, and at every `helm template`). */}}
{{- define "higgins.agentAuthKey" -}}
{{- $key := .Values.agent.authKey | default "" }}
{{- if not $key }}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "higgins.fullname" .) | default dict }}
{{- $conf := dig "data" "agent.conf" "" $existing | b64dec }}
{{- $key = regexFind "auth_key = \\S+" $conf | trimPrefix "auth_key = " }}
{{- end }}
{{- if not $key }}
{{- $key = randAlphaNum 64 }}
{{- end }}
{{- if or (lt (len $key) 32) (regexMatch "\\s" $key) }}
{{- fail "agent.authKey: give at least 32 characters without spaces (e.g. from openssl rand -hex 32), or leave it empty for a random one" }}
{{- end }}
{{- $key }}
{{- end }}

{{/* Pod annotations that roll the pods when higgins.conf or the Secret changes. */}}
{{- define "higgins.checksums" -}}
checksum/config: {{ include (print .Template.BasePath "/configmap.yaml") . | sha256sum }}
checksum/secret: {{ include (print .Template.BasePath "/secret.yaml") . | sha256sum }}
{{- end }}

{{/* The processors `higgins processor` knows (higgins/runtime/processing.py: Processors.NAMES). */}}
{{- define "higgins.processorNames" -}}
fold scheduler audit webhooks notifier quotas hosts log
{{- end }}

{{/* Whether notifications go somewhere, as Higgins decides it: [notifications] url, else the
bus when it is RabbitMQ; never when enabled is false. "true" or "". */}}
{{- define "higgins.notifying" -}}
{{- $given := .Values.config.notifications | default dict }}
{{- $off := and (hasKey $given "enabled") (eq (toString $given.enabled) "false") }}
{{- $rabbit := or (hasPrefix "amqp://" .Values.bus.url) (and (not .Values.bus.url) (contains "amqp://" .Values.secretConfig)) }}
{{- if and (not $off) (or (index $given "url") $rabbit) -}}
true
{{- end }}
{{- end }}

{{/* higgins.conf's sections from the values, before .Values.config is merged over them. */}}
{{- define "higgins.confSections" -}}
DEFAULT:
  log_level: {{ .Values.logLevel | quote }}
api:
  host_ip: 0.0.0.0
  port: {{ .Values.api.port }}
  threads: {{ .Values.api.threads }}
  auth_strategy: {{ .Values.api.authStrategy | quote }}
bus:
  {{- with .Values.bus.url }}
  url: {{ . | quote }}
  {{- end }}
  partitions: {{ .Values.bus.partitions }}
store:
  url: {{ printf "cassandra://%s:%v/%s" (join "," .Values.cassandra.hosts) .Values.cassandra.port .Values.cassandra.keyspace | quote }}
processor:
  concurrency: {{ .Values.processor.concurrency }}
docker:
  url: unix:///var/run/docker.sock
agent:
  port: {{ .Values.agent.port }}
  concurrency: {{ .Values.agent.concurrency }}
  availability_zone: {{ .Values.agent.availabilityZone | quote }}
  report_interval: {{ .Values.agent.reportInterval }}
{{- if .Values.api.policy }}
oslo_policy:
  policy_file: /etc/higgins/policy.yaml
{{- end }}
{{- end }}

{{/* One INI value: lists comma-separated, whole numbers without a decimal point. */}}
{{- define "higgins.iniValue" -}}
{{- if kindIs "slice" . -}}
{{- $items := list -}}
{{- range . }}{{ $items = append $items (include "higgins.iniValue" .) }}{{ end -}}
{{- join "," $items -}}
{{- else if and (kindIs "float64" .) (eq . (float64 (int64 .))) -}}
{{- int64 . -}}
{{- else -}}
{{- . -}}
{{- end -}}
{{- end }}

{{/* An INI file from a dict of sections, each a dict of options (null options left out). */}}
{{- define "higgins.ini" -}}
{{- range $section, $options := . }}
[{{ $section }}]
{{- range $key, $value := $options }}
{{- if not (kindIs "invalid" $value) }}
{{ $key }} = {{ include "higgins.iniValue" $value }}
{{- end }}
{{- end }}
{{ end }}
{{- end }}
