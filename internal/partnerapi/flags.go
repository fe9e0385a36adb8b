package partnerapi

import "time"

// FlagSet is what BindFlags needs of a flag set. The standard library's
// *flag.FlagSet (the operator's) and pflag's *pflag.FlagSet (cobra's, the
// plugin's) both have these methods.
type FlagSet interface {
	StringVar(p *string, name string, value string, usage string)
	BoolVar(p *bool, name string, value bool, usage string)
	DurationVar(p *time.Duration, name string, value time.Duration, usage string)
	Float64Var(p *float64, name string, value float64, usage string)
	IntVar(p *int, name string, value int, usage string)
}

// Names of the Partnership API flags, the operator's and the plugin's.
const (
	FlagPartnerAPIURL               = "partner-api-url"
	FlagPartnerAPITokenFile         = "partner-api-token-file"
	FlagPartnerAPICAFile            = "partner-api-ca-file"
	FlagPartnerAPITimeout           = "partner-api-timeout"
	FlagPartnerAPIRPS               = "partner-api-rps"
	FlagPartnerAPIBurst             = "partner-api-burst"
	FlagPartnerAPIAllowInsecureHTTP = "partner-api-allow-insecure-http"
)

// BindFlags defines the Partnership API flags on fs, each writing to its field of
// cfg, for the operator and the kubectl plugin alike: --partner-api-url, --partner-api-token-file,
// --partner-api-ca-file, --partner-api-timeout, --partner-api-rps,
// --partner-api-burst and --partner-api-allow-insecure-http. A flag's default is
// the field's value in cfg when it is set, otherwise the operator's default: the
// production URL, a 30 s timeout, 10 requests per second with a burst of 20, no
// token file (New then refuses the Config, naming the field).
func (cfg *Config) BindFlags(fs FlagSet) {
	url := cfg.BaseURL
	if url == "" {
		url = ProductionBaseURL
	}
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	rps := cfg.RequestsPerSecond
	if rps == 0 {
		rps = DefaultRequestsPerSecond
	}
	burst := cfg.Burst
	if burst == 0 {
		burst = DefaultBurst
	}
	fs.StringVar(&cfg.BaseURL, FlagPartnerAPIURL, url,
		"Base URL of the 1Password Partnership API. The test server is "+TestBaseURL+".")
	fs.StringVar(&cfg.TokenFile, FlagPartnerAPITokenFile, cfg.TokenFile,
		"File holding the partner's bearer token (nothing else; surrounding whitespace is ignored).")
	fs.StringVar(&cfg.CAFile, FlagPartnerAPICAFile, cfg.CAFile,
		"Optional PEM bundle of extra certificate authorities to trust for the Partnership API.")
	fs.DurationVar(&cfg.Timeout, FlagPartnerAPITimeout, timeout, "Timeout of each Partnership API request.")
	fs.Float64Var(&cfg.RequestsPerSecond, FlagPartnerAPIRPS, rps,
		"Requests per second sent to the Partnership API at most.")
	fs.IntVar(&cfg.Burst, FlagPartnerAPIBurst, burst,
		"Requests that may be sent at once above --"+FlagPartnerAPIRPS+".")
	fs.BoolVar(&cfg.AllowInsecureHTTP, FlagPartnerAPIAllowInsecureHTTP, cfg.AllowInsecureHTTP,
		"Accept an http:// --"+FlagPartnerAPIURL+" on a host other than loopback, sending the partner token in clear text.")
}
