{{/*
The Partnership API URL for partnerAPI.url: production and test name 1Password's
servers, anything else must be a URL. An http:// URL on a host other than loopback
fails here, as the operator would refuse it and exit, unless
partnerAPI.allowInsecureHTTP is true.
*/}}
{{- define "partner-account-operator.partnerAPIURL" -}}
{{- $url := .Values.partnerAPI.url | default "production" -}}
{{- if eq $url "production" -}}
https://billing.1password.com/api/v1
{{- else if eq $url "test" -}}
https://billing.b5test.eu/api/v1
{{- else if hasPrefix "https://" $url -}}
{{- $url -}}
{{- else if hasPrefix "http://" $url -}}
{{- $host := (urlParse $url).hostname | lower -}}
{{- $loopback := or (eq $host "localhost") (hasPrefix "127." $host) (regexMatch "^(0{0,4}:){2,7}0{0,4}1$" $host) (hasPrefix "::ffff:127." $host) -}}
{{- if not (or $loopback .Values.partnerAPI.allowInsecureHTTP) -}}
{{- fail (printf "partnerAPI.url is %q: the operator refuses http:// on a host other than loopback, as it would send the partner token in clear text. Use https:// (with partnerAPI.caBundle for a private CA), or set partnerAPI.allowInsecureHTTP=true" $url) -}}
{{- end -}}
{{- $url -}}
{{- else -}}
{{- fail (printf "partnerAPI.url is %q: use production, test, or a URL" $url) -}}
{{- end -}}
{{- end }}

{{/*
The path at which the manager reads partnerAPI.caBundle: the ConfigMap
partner-api-ca.yaml, mounted by the Deployment.
*/}}
{{- define "partner-account-operator.partnerAPICADir" -}}
/etc/partner-api-ca
{{- end }}

{{/*
The ConfigMap of partnerAPI.caBundle, which must hold a PEM certificate: a path
given with --set instead of --set-file fails here, not in the pod.
*/}}
{{- define "partner-account-operator.partnerAPICAConfigMap" -}}
{{- if not (contains "-----BEGIN CERTIFICATE-----" .Values.partnerAPI.caBundle) -}}
{{- fail "partnerAPI.caBundle holds no PEM certificate (-----BEGIN CERTIFICATE-----): give the file's content, e.g. helm install --set-file partnerAPI.caBundle=./ca.crt" -}}
{{- end -}}
{{- include "partner-account-operator.resourceName" (dict "suffix" "partner-api-ca" "context" .) -}}
{{- end }}
