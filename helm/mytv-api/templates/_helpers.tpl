{{/* Names, labels and shared pod pieces of the mytv-api chart. */}}

{{- define "mytv-api.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "mytv-api.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains (include "mytv-api.name" .) .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "mytv-api.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "mytv-api.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The image tag is required: a deploy names the commit it ships (helm lint does not check this; helm template does). */}}
{{- define "mytv-api.image" -}}
{{- $tag := required "image.tag is required: the git commit `make build` tagged (make deploy-prod sets it)" .Values.image.tag }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}

{{/* Standard labels (as Bitnami's common.labels.standard); selectors use name + instance only. */}}
{{- define "mytv-api.labels" -}}
helm.sh/chart: {{ include "mytv-api.chart" . }}
{{ include "mytv-api.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: mytelevision
{{- end }}

{{- define "mytv-api.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mytv-api.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "mytv-api.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "mytv-api.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Environment variables read from the existing Secret (names only; values never in the chart). */}}
{{- define "mytv-api.secretEnv" -}}
{{- $secret := .Values.app.existingSecret }}
{{- range $name := list "DATABASE_URL" "REDIS_URL" "R2_ACCESS_KEY_ID" "R2_SECRET_ACCESS_KEY" "JWT_SECRET" }}
- name: {{ $name }}
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $name }}
{{- end }}
- name: JWT_SECRET_PREVIOUS
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: JWT_SECRET_PREVIOUS
      optional: true
{{- end }}

{{/* Shutdown timing in the app's units; the grace period covers pre-stop delay + drain + margin. */}}
{{- define "mytv-api.terminationGracePeriodSeconds" -}}
{{- add .Values.shutdown.preStopDelaySeconds .Values.shutdown.drainTimeoutSeconds .Values.shutdown.marginSeconds }}
{{- end }}
