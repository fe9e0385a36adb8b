{{/*
manager.logLevel as --zap-log-level takes it: debug, info, error, panic, or a
number above 0 for more than debug.
*/}}
{{- define "partner-account-operator.logLevel" -}}
{{- $level := toString .Values.manager.logLevel -}}
{{- if not (regexMatch "^(debug|info|error|panic|[1-9][0-9]*)$" $level) -}}
{{- fail (printf "manager.logLevel is %q: use debug, info, error, panic, or a number above 0" $level) -}}
{{- end -}}
{{- $level -}}
{{- end }}

{{/*
manager.logFormat as --zap-encoder takes it: json or console.
*/}}
{{- define "partner-account-operator.logFormat" -}}
{{- $format := toString .Values.manager.logFormat -}}
{{- if not (has $format (list "json" "console")) -}}
{{- fail (printf "manager.logFormat is %q: use json or console" $format) -}}
{{- end -}}
{{- $format -}}
{{- end }}

{{/*
Fails on values this chart no longer has, when set to true: they did nothing, or
broke the install.
*/}}
{{- define "partner-account-operator.removedValues" -}}
{{- if and .Values.rbac .Values.rbac.namespaced -}}
{{- fail "rbac.namespaced was removed: the operator watches PartnerAccounts in every namespace, so it needs its ClusterRole and ClusterRoleBinding" -}}
{{- end -}}
{{- if and .Values.webhook .Values.webhook.enabled -}}
{{- fail "webhook.enabled was removed: the operator has no webhook; the CRD's schema and CEL rules refuse bad PartnerAccounts" -}}
{{- end -}}
{{- if and .Values.certManager .Values.certManager.enabled -}}
{{- fail "certManager.enabled was removed: it pointed the ServiceMonitor at a Secret that nothing creates. The metrics are served over HTTPS with a self-signed certificate, and read with a ServiceAccount token (metrics.readers)" -}}
{{- end -}}
{{- end }}
