{{- define "sidecache.injectorConfig" -}}
{{- $v := .Values -}}
image: {{ include "sidecache.image" . }}
imagePullPolicy: {{ $v.image.pullPolicy }}
nativeSidecar: {{ include "sidecache.native" . }}
port: {{ $v.port }}
adminPort: {{ $v.adminPort }}
unixSocket:
  enabled: {{ $v.unixSocket.enabled }}
  dir: {{ $v.unixSocket.dir }}
  name: {{ $v.unixSocket.name }}
  perm: {{ $v.unixSocket.perm | quote }}
  {{- with $v.unixSocket.medium }}
  medium: {{ . }}
  {{- end }}
  sizeLimit: {{ $v.unixSocket.sizeLimit }}
fsGroup: {{ $v.fsGroup }}
maxmemory: {{ $v.maxmemory | quote }}
maxmemoryClients: {{ $v.maxmemoryClients | quote }}
maxmemoryPolicy: {{ $v.maxmemoryPolicy }}
databases: {{ $v.databases }}
maxclients: {{ $v.maxclients }}
shutdownDelay: {{ $v.shutdown.delay | quote }}
legacyShutdownDelay: {{ $v.shutdown.legacyDelay | quote }}
shutdownTimeout: {{ $v.shutdown.timeout | quote }}
metricsAnnotations: {{ $v.metrics.annotations }}
resources:
  {{- toYaml $v.resources | nindent 2 }}
securityContext:
  {{- toYaml $v.securityContext | nindent 2 }}
{{- include "sidecache.probes" . }}
{{- with $v.extraEnv }}
env:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.injector.skipNamespaces }}
skipNamespaces:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}
