{{/*
The Partnership API URL for partnerAPI.url: production and test name 1Password's
servers, anything else must be a URL.
*/}}
{{- define "partner-account-operator.partnerAPIURL" -}}
{{- $url := .Values.partnerAPI.url | default "production" -}}
{{- if eq $url "production" -}}
https://billing.1password.com/api/v1
{{- else if eq $url "test" -}}
https://billing.b5test.eu/api/v1
{{- else if or (hasPrefix "https://" $url) (hasPrefix "http://" $url) -}}
{{- $url -}}
{{- else -}}
{{- fail (printf "partnerAPI.url is %q: use production, test, or a URL" $url) -}}
{{- end -}}
{{- end }}
