{{/* Names and labels shared by every template. */}}

{{- define "smup.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "smup.fullname" -}}
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

{{- define "smup.selectorLabels" -}}
app.kubernetes.io/name: {{ include "smup.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "smup.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "smup.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: sagemaker-userprofile-operator
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "smup.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "smup.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The watched namespaces, checked against the RBAC scope (values.schema.json checks it too). */}}
{{- define "smup.watchNamespaces" -}}
{{- if and (eq .Values.rbac.scope "namespaced") (empty .Values.watchNamespaces) }}
{{- fail "rbac.scope=namespaced needs watchNamespaces: the namespaces to watch and grant access in" }}
{{- end }}
{{- toJson (.Values.watchNamespaces | uniq) }}
{{- end }}

{{/* Rules on the namespaced resources the operator reconciles: the same in a ClusterRole or a Role. */}}
{{- define "smup.namespacedRules" -}}
- apiGroups: ["sagemaker.awscc.dev"]
  resources: ["sagemakeruserprofiles"]
  verbs: ["get", "list", "watch", "patch", "update"]
- apiGroups: ["sagemaker.awscc.dev"]
  resources: ["sagemakeruserprofiles/status"]
  verbs: ["get", "patch", "update"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "patch"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}

{{/* Rules on cluster-scoped resources: namespace annotations (region, role) and the CRD scan of kopf. */}}
{{- define "smup.clusterRules" -}}
- apiGroups: [""]
  resources: ["namespaces"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["apiextensions.k8s.io"]
  resources: ["customresourcedefinitions"]
  verbs: ["get", "list", "watch"]
{{- end }}
