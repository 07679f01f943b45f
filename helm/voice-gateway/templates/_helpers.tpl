{{/* Chart name, truncated to the DNS label limit. */}}
{{- define "voice-gateway.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name: release-chart unless the release already carries the chart name. */}}
{{- define "voice-gateway.fullname" -}}
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

{{- define "voice-gateway.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "voice-gateway.selectorLabels" -}}
app.kubernetes.io/name: {{ include "voice-gateway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "voice-gateway.labels" -}}
helm.sh/chart: {{ include "voice-gateway.chart" . }}
{{ include "voice-gateway.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: gateway
{{- end }}

{{- define "voice-gateway.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "voice-gateway.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret holding the credentials: the user's existing one or the chart's. */}}
{{- define "voice-gateway.secretName" -}}
{{- default (include "voice-gateway.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{/* Name the bitnami redis subchart gives its objects (its own fullname rule). */}}
{{- define "voice-gateway.redisFullname" -}}
{{- if contains "redis" .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-redis" .Release.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/*
Render one setting value as env text: lists are comma-joined, whole numbers print without
an exponent (Helm holds every number as float64), everything else as-is.
*/}}
{{- define "voice-gateway.envText" -}}
{{- $v := . }}
{{- if kindIs "slice" $v }}
{{- join "," $v }}
{{- else if kindIs "float64" $v }}
{{- if eq $v (floor $v) }}{{ int64 $v }}{{ else }}{{ $v }}{{ end }}
{{- else }}
{{- $v }}
{{- end }}
{{- end }}

{{/* values key under `gateway:` -> VOICE_GATEWAY_* setting (gateway/settings.py field). */}}
{{- define "voice-gateway.settingsMap" -}}
port: VOICE_GATEWAY_PORT
logLevel: VOICE_GATEWAY_LOG_LEVEL
logFormat: VOICE_GATEWAY_LOG_FORMAT
drainSeconds: VOICE_GATEWAY_DRAIN_SECONDS
upstreamUrl: VOICE_GATEWAY_UPSTREAM_URL
useEmulator: VOICE_GATEWAY_USE_EMULATOR
upstreamConnectTimeoutSeconds: VOICE_GATEWAY_UPSTREAM_CONNECT_TIMEOUT_S
upstreamStallSeconds: VOICE_GATEWAY_UPSTREAM_STALL_S
maxMessageBytes: VOICE_GATEWAY_MAX_MESSAGE_BYTES
pingIntervalSeconds: VOICE_GATEWAY_PING_INTERVAL_S
pingTimeoutSeconds: VOICE_GATEWAY_PING_TIMEOUT_S
slowClientSeconds: VOICE_GATEWAY_SLOW_CLIENT_SECONDS
classifyHoldMs: VOICE_GATEWAY_CLASSIFY_HOLD_MS
classifyHoldBytes: VOICE_GATEWAY_CLASSIFY_HOLD_BYTES
maxFramesPerSecond: VOICE_GATEWAY_MAX_FRAMES_PER_SECOND
maxRequestBodyBytes: VOICE_GATEWAY_MAX_REQUEST_BODY_BYTES
requestBodyTimeoutSeconds: VOICE_GATEWAY_REQUEST_BODY_TIMEOUT_S
maxSessionUsd: VOICE_GATEWAY_MAX_SESSION_USD
maxSessionSeconds: VOICE_GATEWAY_MAX_SESSION_SECONDS
idleTimeoutSeconds: VOICE_GATEWAY_IDLE_TIMEOUT_SECONDS
capWarnRatio: VOICE_GATEWAY_CAP_WARN_RATIO
storeFailureMode: VOICE_GATEWAY_STORE_FAILURE_MODE
flushIntervalMs: VOICE_GATEWAY_FLUSH_INTERVAL_MS
recordsRetentionDays: VOICE_GATEWAY_RECORDS_RETENTION_DAYS
fallbackUsdPerMinute: VOICE_GATEWAY_FALLBACK_USD_PER_MINUTE
allowedOrigins: VOICE_GATEWAY_ALLOWED_ORIGINS
jaegerUiUrl: VOICE_GATEWAY_JAEGER_UI_URL
traceTranscripts: VOICE_GATEWAY_TRACE_TRANSCRIPTS
policyWatchIntervalSeconds: VOICE_GATEWAY_POLICY_WATCH_INTERVAL_S
upstreamCallsUrl: VOICE_GATEWAY_UPSTREAM_CALLS_URL
webrtcMedia: VOICE_GATEWAY_WEBRTC_MEDIA
sidebandLoss: VOICE_GATEWAY_SIDEBAND_LOSS
sidebandReattachAttempts: VOICE_GATEWAY_SIDEBAND_REATTACH_ATTEMPTS
webhookToleranceSeconds: VOICE_GATEWAY_WEBHOOK_TOLERANCE_S
sipTenant: VOICE_GATEWAY_SIP_TENANT
sipDailyBudgetUsd: VOICE_GATEWAY_SIP_DAILY_BUDGET_USD
webrtcIceServers: VOICE_GATEWAY_WEBRTC_ICE_SERVERS
webrtcTurnUsername: VOICE_GATEWAY_WEBRTC_TURN_USERNAME
webrtcHostAddresses: VOICE_GATEWAY_WEBRTC_HOST_ADDRESSES
webrtcAnnouncedAddress: VOICE_GATEWAY_WEBRTC_ANNOUNCED_ADDRESS
webrtcUdpPorts: VOICE_GATEWAY_WEBRTC_UDP_PORTS
webrtcOpusComplexity: VOICE_GATEWAY_WEBRTC_OPUS_COMPLEXITY
{{- end }}

{{/* Env entries for every gateway setting that is set (null, "" and [] keep the default). */}}
{{- define "voice-gateway.settingsEnv" -}}
{{- $map := include "voice-gateway.settingsMap" . | fromYaml }}
{{- range $key := keys $map | sortAlpha }}
{{- $v := index $.Values.gateway $key }}
{{- if not (or (kindIs "invalid" $v) (and (kindIs "string" $v) (eq $v "")) (and (kindIs "slice" $v) (eq (len $v) 0))) }}
- name: {{ index $map $key }}
  value: {{ include "voice-gateway.envText" $v | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/* Effective policy files as YAML name -> text (newline-terminated so block scalars keep their last line break). */}}
{{- define "voice-gateway.policyFiles" -}}
{{- if .Values.policies.files }}
{{- toYaml .Values.policies.files | printf "%s\n" }}
{{- else }}
{{- $out := dict }}
{{- range $path, $_ := .Files.Glob "files/policies/*.yaml" }}
{{- $_ := set $out (base $path) ($.Files.Get $path) }}
{{- end }}
{{- toYaml $out | printf "%s\n" }}
{{- end }}
{{- end }}

{{/* The model catalog text: values override, else the chart's copy of config/models.yaml. */}}
{{- define "voice-gateway.modelsYaml" -}}
{{- if .Values.catalog.modelsYaml }}
{{- .Values.catalog.modelsYaml }}
{{- else }}
{{- .Files.Get "files/config/models.yaml" }}
{{- end }}
{{- end }}
