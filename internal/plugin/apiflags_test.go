package plugin

import (
	"flag"
	"io"
	"reflect"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/partnerbilling/partner-account-operator/internal/partnerapi"
)

func TestBindPartnerAPIFlags(t *testing.T) {
	defaults := partnerapi.Config{
		BaseURL:           partnerapi.ProductionBaseURL,
		Timeout:           30 * time.Second,
		RequestsPerSecond: 10,
		Burst:             20,
	}
	for _, tc := range []struct {
		name  string
		start partnerapi.Config // cfg before binding: its values are the defaults
		args  []string
		want  partnerapi.Config
	}{
		{name: "the operator's defaults", want: defaults},
		{
			name: "every flag",
			args: []string{
				"--partner-api-url=http://127.0.0.1:8080/api/v1",
				"--partner-api-token-file=/tmp/token",
				"--partner-api-ca-file=/tmp/ca.pem",
				"--partner-api-timeout=5s",
				"--partner-api-rps=2.5",
				"--partner-api-burst=3",
				"--partner-api-allow-insecure-http",
			},
			want: partnerapi.Config{
				BaseURL:           "http://127.0.0.1:8080/api/v1",
				TokenFile:         "/tmp/token",
				CAFile:            "/tmp/ca.pem",
				Timeout:           5 * time.Second,
				RequestsPerSecond: 2.5,
				Burst:             3,
				AllowInsecureHTTP: true,
			},
		},
		{
			name:  "defaults from the Config given",
			start: partnerapi.Config{TokenFile: "/var/run/secrets/partnerbilling.io/token", BaseURL: partnerapi.TestBaseURL, UserAgent: "ua"},
			args:  []string{"--partner-api-rps=1"},
			want: partnerapi.Config{
				BaseURL:           partnerapi.TestBaseURL,
				TokenFile:         "/var/run/secrets/partnerbilling.io/token",
				Timeout:           30 * time.Second,
				RequestsPerSecond: 1,
				Burst:             20,
				UserAgent:         "ua",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The plugin's flag set (pflag, as cobra's) and the operator's (flag).
			pcfg := tc.start
			pfs := pflag.NewFlagSet("plugin", pflag.ContinueOnError)
			BindPartnerAPIFlags(pfs, &pcfg)
			if err := pfs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(pcfg, tc.want) {
				t.Errorf("pflag: got %+v, want %+v", pcfg, tc.want)
			}

			gcfg := tc.start
			gfs := flag.NewFlagSet("operator", flag.ContinueOnError)
			gfs.SetOutput(io.Discard)
			BindPartnerAPIFlags(gfs, &gcfg)
			if err := gfs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(gcfg, tc.want) {
				t.Errorf("flag: got %+v, want %+v", gcfg, tc.want)
			}
		})
	}
}

func TestPartnerAPIFlagsMakeAClient(t *testing.T) {
	cfg := partnerapi.Config{}
	fs := pflag.NewFlagSet("plugin", pflag.ContinueOnError)
	BindPartnerAPIFlags(fs, &cfg)
	token := writeToken(t, "tok")
	if err := fs.Parse([]string{"--partner-api-url=http://127.0.0.1:1/api/v1", "--partner-api-token-file=" + token}); err != nil {
		t.Fatal(err)
	}
	c, err := partnerapi.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if c.Endpoint() != "http://127.0.0.1:1/api/v1" || c.Timeout() != 30*time.Second {
		t.Errorf("client: %s, timeout %s", c.Endpoint(), c.Timeout())
	}

	// An http:// URL elsewhere than loopback needs the flag that allows it.
	if err := fs.Parse([]string{"--partner-api-url=http://billing.example.com/api/v1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := partnerapi.New(cfg); err == nil {
		t.Error("an http:// URL on another host was accepted without --partner-api-allow-insecure-http")
	}
	if err := fs.Parse([]string{"--partner-api-allow-insecure-http"}); err != nil {
		t.Fatal(err)
	}
	if _, err := partnerapi.New(cfg); err != nil {
		t.Errorf("with --partner-api-allow-insecure-http: %v", err)
	}
}
