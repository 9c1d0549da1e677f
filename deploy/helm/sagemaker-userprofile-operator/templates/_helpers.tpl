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

{{/*
The plurals of the managed kinds this release manages, as a JSON list: every managed kind (the CRDs of
files/crds/ in category aws) when `kinds` is "all", else those `kinds` names by any of their CRD's names
(kind, plural, singular, short names; any case). A name no CRD has fails the install, naming the known
ones. The operator's --kinds, its CRDs, RBAC and guardrails follow it.
*/}}
{{- define "smup.kinds" -}}
{{- $wanted := list }}
{{- if kindIs "slice" .Values.kinds }}
{{- range .Values.kinds }}
{{- $wanted = append $wanted (lower .) }}
{{- end }}
{{- end }}
{{- $chosen := list }}
{{- $known := list }}
{{- $matched := dict }}
{{- range $path, $_ := .Files.Glob "files/crds/*.yaml" }}
{{- $names := ($.Files.Get $path | fromYaml).spec.names }}
{{- if has "aws" ($names.categories | default list) }}
{{- $known = concat $known (list $names.plural) ($names.shortNames | default list) }}
{{- $hit := not $wanted }}
{{- range concat (list (lower $names.kind) $names.plural $names.singular) ($names.shortNames | default list) }}
{{- if has . $wanted }}
{{- $hit = true }}
{{- $_ := set $matched . true }}
{{- end }}
{{- end }}
{{- if $hit }}
{{- $chosen = append $chosen $names.plural }}
{{- end }}
{{- end }}
{{- end }}
{{- $unknown := list }}
{{- range $wanted }}
{{- if not (hasKey $matched .) }}
{{- $unknown = append $unknown (quote .) }}
{{- end }}
{{- end }}
{{- if $unknown }}
{{- $noun := ternary "kinds" "kind" (gt (len $unknown) 1) }}
{{- fail (printf "kinds: unknown %s %s; known: %s, or all" $noun (join ", " $unknown) (join ", " $known)) }}
{{- end }}
{{- toJson $chosen }}
{{- end }}

{{/*
The resources of the CRDs in files/crds/, read from the files themselves, as JSON {group: [plural, ...]}:
"smup.managedResources", the managed AWS kinds this release manages (the CRDs in category aws:
SageMakerUserProfile, SageMakerSpace, ..., those "smup.kinds" chooses), so a new kind's CRD brings its
RBAC with it; "smup.tenantPolicyResources", the parameters of the tenant guardrails
(SageMakerTenantPolicy), which the operator never reads or writes.
*/}}
{{- define "smup.managedResources" -}}
{{- $kinds := include "smup.kinds" . | fromJsonArray }}
{{- $byGroup := dict }}
{{- range $path, $_ := .Files.Glob "files/crds/*.yaml" }}
{{- $spec := ($.Files.Get $path | fromYaml).spec }}
{{- if and (has "aws" ($spec.names.categories | default list)) (has $spec.names.plural $kinds) }}
{{- $_ := set $byGroup $spec.group (append (get $byGroup $spec.group | default list) $spec.names.plural) }}
{{- end }}
{{- end }}
{{- toJson $byGroup }}
{{- end }}

{{- define "smup.tenantPolicyResources" -}}
{{- $byGroup := dict }}
{{- range $path, $_ := .Files.Glob "files/crds/*.yaml" }}
{{- $spec := ($.Files.Get $path | fromYaml).spec }}
{{- if eq $spec.names.kind "SageMakerTenantPolicy" }}
{{- $_ := set $byGroup $spec.group (append (get $byGroup $spec.group | default list) $spec.names.plural) }}
{{- end }}
{{- end }}
{{- toJson $byGroup }}
{{- end }}

{{/* RBAC rules on the resources of a {group: [plural, ...]} dict ("resources") with "verbs". */}}
{{- define "smup.rulesOn" -}}
{{- range $group, $plurals := .resources }}
- apiGroups: [{{ $group | quote }}]
  resources: {{ toJson $plurals }}
  verbs: {{ toJson $.verbs }}
{{- end }}
{{- end }}

{{/*
Rules on the namespaced resources the operator reconciles: the same in a ClusterRole or a Role. The
resources of every managed kind ("smup.managedResources"): the plural and its /status, per API group.
Starts with a newline: callers trim it.
*/}}
{{- define "smup.namespacedRules" -}}
{{- $byGroup := include "smup.managedResources" . | fromJson }}
{{- if not $byGroup }}
{{- fail "files/crds/ holds no CRD: run deploy/render-kustomize.sh" }}
{{- end }}
{{- range $group, $plurals := $byGroup }}
- apiGroups: [{{ $group | quote }}]
  resources: [{{ range $i, $p := $plurals }}{{ if $i }}, {{ end }}{{ $p | quote }}{{ end }}]
  verbs: ["get", "list", "watch", "patch", "update"]
- apiGroups: [{{ $group | quote }}]
  resources: [{{ range $i, $p := $plurals }}{{ if $i }}, {{ end }}{{ printf "%s/status" $p | quote }}{{ end }}]
  verbs: ["get", "patch", "update"]
{{- end }}
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

{{/*
The name of the leader election Lease (--leader-election-id), in the release namespace: the release's
full name, so two releases in one namespace never share a Lease.
*/}}
{{- define "smup.leaseName" -}}
{{- include "smup.fullname" . }}
{{- end }}

{{/*
Checks across values that values.schema.json cannot state with a clear message. Renders nothing.
Without leader election two pods would reconcile the same profiles at once (double Cloud Control
calls, status patches fighting), so it allows at most one. The timings follow the operator's own
check (settings.py, the same rules as client-go): leaseDuration > renewDeadline > 1.2 × retryPeriod.
*/}}
{{- define "smup.checkValues" -}}
{{- $le := .Values.leaderElection }}
{{- if and (not $le.enabled) (gt (int .Values.replicaCount) 1) }}
{{- fail (printf "replicaCount=%v needs leaderElection.enabled=true: without leader election at most 1 pod may run, or two would reconcile the same profiles at once" .Values.replicaCount) }}
{{- end }}
{{- if $le.enabled }}
{{- if le (float64 $le.leaseDuration) (float64 $le.renewDeadline) }}
{{- fail (printf "leaderElection.leaseDuration (%v) must be greater than leaderElection.renewDeadline (%v)" $le.leaseDuration $le.renewDeadline) }}
{{- end }}
{{- if le (float64 $le.renewDeadline) (mulf 1.2 $le.retryPeriod) }}
{{- fail (printf "leaderElection.renewDeadline (%v) must be greater than 1.2 times leaderElection.retryPeriod (%v)" $le.renewDeadline $le.retryPeriod) }}
{{- end }}
{{- end }}
{{- end }}

{{/* Pod anti-affinity across nodes between the operator's pods (podAntiAffinity: soft or hard). */}}
{{- define "smup.podAntiAffinity" -}}
{{- $term := dict "topologyKey" "kubernetes.io/hostname" "labelSelector" (dict "matchLabels" (include "smup.selectorLabels" . | fromYaml)) }}
{{- $preset := .Values.podAntiAffinity | default "soft" }}
{{- if eq $preset "hard" }}
podAntiAffinity:
  requiredDuringSchedulingIgnoredDuringExecution:
    {{- list $term | toYaml | nindent 4 }}
{{- else if eq $preset "soft" }}
podAntiAffinity:
  preferredDuringSchedulingIgnoredDuringExecution:
    {{- list (dict "weight" 100 "podAffinityTerm" $term) | toYaml | nindent 4 }}
{{- end }}
{{- end }}

{{/* The image: by digest when image.digest is set, else by tag (default: the chart's appVersion). */}}
{{- define "smup.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/*
The cluster's name in the ownership tags (SMUP_CLUSTER_NAME): config.clusterName, else "kubernetes", the
operator's own default, which NOTES.txt then warns about.
*/}}
{{- define "smup.clusterName" -}}
{{- .Values.config.clusterName | default "kubernetes" }}
{{- end }}
