{{/* Names: the release name when it already says sidecache, else <release>-sidecache. */}}
{{- define "sidecache.fullname" -}}
{{- if contains "sidecache" .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-sidecache" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "sidecache.injectorName" -}}
{{- printf "%s-injector" (include "sidecache.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "sidecache.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/name: sidecache
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Selector labels; the argument is (list $ "component"). */}}
{{- define "sidecache.selectorLabels" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: sidecache
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "sidecache.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{/* "true" or "false": nativeSidecar, with auto resolved from the cluster's version. */}}
{{- define "sidecache.native" -}}
{{- if eq (toString .Values.nativeSidecar) "auto" -}}
{{- semverCompare ">=1.29.0-0" .Capabilities.KubeVersion.Version | toString -}}
{{- else -}}
{{- toString .Values.nativeSidecar -}}
{{- end -}}
{{- end -}}

{{/* Bytes of a Redis size (config.ParseSize): k = 1000, kb = 1024, m, mb, g, gb. */}}
{{- define "sidecache.redisBytes" -}}
{{- $s := lower (toString .) -}}
{{- $num := regexFind "^[0-9]+" $s -}}
{{- $unit := trimPrefix $num $s -}}
{{- $mul := get (dict "" 1 "b" 1 "k" 1000 "kb" 1024 "m" 1000000 "mb" 1048576 "g" 1000000000 "gb" 1073741824) $unit -}}
{{- mul (int64 $num) $mul -}}
{{- end -}}

{{/* Bytes of a Kubernetes quantity as the schema allows it: digits and an optional unit. */}}
{{- define "sidecache.quantityBytes" -}}
{{- $s := toString . -}}
{{- $num := regexFind "^[0-9]+" $s -}}
{{- $unit := trimPrefix $num $s -}}
{{- $mul := get (dict "" 1 "k" 1000 "M" 1000000 "G" 1000000000 "T" 1000000000000 "Ki" 1024 "Mi" 1048576 "Gi" 1073741824 "Ti" 1099511627776) $unit -}}
{{- mul (int64 $num) $mul -}}
{{- end -}}

{{/*
The sidecar's memory limit for maxmemory (the argument: (list $ maxmemory)). With "auto" it
is resources.limits.memory, which the server sizes itself from. With a size it holds the RSS
bound of DESIGN.md invariant 5, 1.1 x maxmemory + maxmemoryClients + 32 MiB (rounded up to
a MiB): a lower or missing limit is raised to the bound. The injector does the same.
*/}}
{{- define "sidecache.memoryLimit" -}}
{{- $root := index . 0 -}}
{{- $maxmemory := toString (index . 1) -}}
{{- $limit := dig "limits" "memory" "" $root.Values.resources | toString -}}
{{- if eq $maxmemory "auto" -}}
{{- if not $limit -}}
{{- fail "maxmemory auto sizes the cache from the container's memory limit: set resources.limits.memory (or maxmemory)" -}}
{{- end -}}
{{- $limit -}}
{{- else -}}
{{- $mm := include "sidecache.redisBytes" $maxmemory | int64 -}}
{{- $mcs := toString $root.Values.maxmemoryClients -}}
{{- $mc := 0 -}}
{{- if hasSuffix "%" $mcs -}}
{{- $mc = div (mul $mm (trimSuffix "%" $mcs | int64)) 100 -}}
{{- else -}}
{{- $mc = include "sidecache.redisBytes" $mcs | int64 -}}
{{- end -}}
{{- if eq $mm 0 -}}
{{- fail "maxmemory 0 (unlimited) has no memory bound: use auto or a size" -}}
{{- end -}}
{{- if eq $mc 0 -}}
{{- fail "maxmemoryClients 0 (unlimited) leaves RSS unbounded: set a size or a percentage" -}}
{{- end -}}
{{- $boundMi := div (add (div (add (mul $mm 11) 9) 10) $mc 33554432 1048575) 1048576 -}}
{{- if and $limit (ge (include "sidecache.quantityBytes" $limit | int64) (mul $boundMi 1048576)) -}}
{{- $limit -}}
{{- else -}}
{{- printf "%dMi" $boundMi -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* resources of the sidecar, the memory limit resolved; a request above it is lowered. */}}
{{- define "sidecache.resources" -}}
{{- $res := deepCopy .Values.resources -}}
{{- $limit := include "sidecache.memoryLimit" (list . .Values.maxmemory) -}}
{{- $limits := deepCopy (default dict $res.limits) -}}
{{- $_ := set $limits "memory" $limit -}}
{{- $_ = set $res "limits" $limits -}}
{{- $req := dig "requests" "memory" "" $res | toString -}}
{{- if and $req (gt (include "sidecache.quantityBytes" $req | int64) (include "sidecache.quantityBytes" $limit | int64)) -}}
{{- $_ = set $res.requests "memory" $limit -}}
{{- end -}}
{{- toYaml $res -}}
{{- end -}}

{{- define "sidecache.shutdownDelay" -}}
{{- $root := index . 0 -}}
{{- $native := index . 1 -}}
{{- if ne (toString $root.Values.shutdown.delay) "auto" -}}
{{- $root.Values.shutdown.delay -}}
{{- else if $native -}}
0
{{- else -}}
{{- $root.Values.shutdown.legacyDelay -}}
{{- end -}}
{{- end -}}

{{/* Probes: startup runs the binary's own ping; liveness and readiness ask the admin port. */}}
{{- define "sidecache.probes" -}}
{{- $p := .Values.probes -}}
{{- if $p.startup.enabled }}
startupProbe:
  exec:
    command: [/usr/local/bin/sidecache, ping]
  periodSeconds: {{ $p.startup.periodSeconds }}
  failureThreshold: {{ $p.startup.failureThreshold }}
  timeoutSeconds: {{ $p.startup.timeoutSeconds }}
{{- end }}
{{- if $p.liveness.enabled }}
livenessProbe:
  httpGet:
    path: /health
    port: {{ .Values.adminPort }}
  periodSeconds: {{ $p.liveness.periodSeconds }}
  failureThreshold: {{ $p.liveness.failureThreshold }}
  timeoutSeconds: {{ $p.liveness.timeoutSeconds }}
{{- end }}
{{- if $p.readiness.enabled }}
readinessProbe:
  httpGet:
    path: /ready
    port: {{ .Values.adminPort }}
  periodSeconds: {{ $p.readiness.periodSeconds }}
  failureThreshold: {{ $p.readiness.failureThreshold }}
  timeoutSeconds: {{ $p.readiness.timeoutSeconds }}
{{- end }}
{{- end -}}

{{- define "sidecache.authSecretName" -}}
{{- .Values.auth.existingSecret | default (printf "%s-auth" (include "sidecache.fullname" .)) -}}
{{- end -}}

{{/*
The sidecache container. Argument: (dict "root" $ "native" bool "nodeLocal" bool).
nodeLocal (daemonset): RESP on all interfaces with requirepass, no socket.
*/}}
{{- define "sidecache.container" -}}
{{- $root := .root -}}
{{- $v := $root.Values -}}
{{- $socket := and $v.unixSocket.enabled (not .nodeLocal) -}}
{{- $auth := or $v.auth.enabled .nodeLocal -}}
name: sidecache
image: {{ include "sidecache.image" $root }}
imagePullPolicy: {{ $v.image.pullPolicy }}
{{- if .native }}
restartPolicy: Always
{{- end }}
env:
- name: SIDECACHE_PORT
  value: {{ $v.port | quote }}
- name: SIDECACHE_BIND
  value: {{ ternary "0.0.0.0" "127.0.0.1" .nodeLocal | quote }}
{{- if $socket }}
- name: SIDECACHE_UNIXSOCKET
  value: {{ printf "%s/%s" $v.unixSocket.dir $v.unixSocket.name | quote }}
- name: SIDECACHE_UNIXSOCKETPERM
  value: {{ $v.unixSocket.perm | quote }}
{{- end }}
- name: SIDECACHE_MAXMEMORY
  value: {{ $v.maxmemory | quote }}
- name: SIDECACHE_MAXMEMORY_CLIENTS
  value: {{ $v.maxmemoryClients | quote }}
- name: SIDECACHE_MAXMEMORY_POLICY
  value: {{ $v.maxmemoryPolicy | quote }}
- name: SIDECACHE_DATABASES
  value: {{ $v.databases | quote }}
- name: SIDECACHE_MAXCLIENTS
  value: {{ $v.maxclients | quote }}
- name: SIDECACHE_ADMIN_ADDR
  value: {{ printf "0.0.0.0:%d" (int $v.adminPort) | quote }}
- name: SIDECACHE_SHUTDOWN_DELAY
  value: {{ include "sidecache.shutdownDelay" (list $root .native) | quote }}
- name: SIDECACHE_SHUTDOWN_TIMEOUT
  value: {{ $v.shutdown.timeout | quote }}
{{- if $auth }}
- name: SIDECACHE_REQUIREPASS
  valueFrom:
    secretKeyRef:
      name: {{ include "sidecache.authSecretName" $root }}
      key: {{ $v.auth.secretKey }}
{{- end }}
{{- with $v.extraEnv }}
{{ toYaml . }}
{{- end }}
ports:
- name: sidecache-admin
  containerPort: {{ $v.adminPort }}
  protocol: TCP
{{- if and .nodeLocal (gt (int $v.port) 0) }}
- name: redis
  containerPort: {{ $v.port }}
  protocol: TCP
{{- end }}
resources:
  {{- include "sidecache.resources" $root | nindent 2 }}
securityContext:
  {{- toYaml $v.securityContext | nindent 2 }}
{{- include "sidecache.probes" $root }}
{{- if $socket }}
volumeMounts:
- name: sidecache-socket
  mountPath: {{ $v.unixSocket.dir }}
{{- end }}
terminationMessagePolicy: FallbackToLogsOnError
{{- end -}}

{{- define "sidecache.socketVolume" -}}
- name: sidecache-socket
  emptyDir:
    {{- with .Values.unixSocket.medium }}
    medium: {{ . }}
    {{- end }}
    sizeLimit: {{ .Values.unixSocket.sizeLimit }}
{{- end -}}

{{- define "sidecache.metricsAnnotations" -}}
{{- if .Values.metrics.annotations }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .Values.adminPort | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- end -}}
