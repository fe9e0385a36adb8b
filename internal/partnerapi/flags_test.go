package partnerapi

import (
	"flag"
	"io"
	"reflect"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func TestBindFlags(t *testing.T) {
	defaults := Config{
		BaseURL:           ProductionBaseURL,
		Timeout:           30 * time.Second,
		RequestsPerSecond: 10,
		Burst:             20,
	}
	for _, tc := range []struct {
		name  string
		start Config // cfg before binding: its values are the defaults
		args  []string
		want  Config
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
			want: Config{
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
			start: Config{TokenFile: "/var/run/secrets/partnerbilling.io/token", BaseURL: TestBaseURL, UserAgent: "ua"},
			args:  []string{"--partner-api-rps=1"},
			want: Config{
				BaseURL:           TestBaseURL,
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
			pcfg.BindFlags(pfs)
			if err := pfs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(pcfg, tc.want) {
				t.Errorf("pflag: got %+v, want %+v", pcfg, tc.want)
			}

			gcfg := tc.start
			gfs := flag.NewFlagSet("operator", flag.ContinueOnError)
			gfs.SetOutput(io.Discard)
			gcfg.BindFlags(gfs)
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
	cfg := Config{}
	fs := pflag.NewFlagSet("plugin", pflag.ContinueOnError)
	cfg.BindFlags(fs)
	token := writeTokenFile(t, testToken)
	if err := fs.Parse([]string{"--partner-api-url=http://127.0.0.1:1/api/v1", "--partner-api-token-file=" + token}); err != nil {
		t.Fatal(err)
	}
	c, err := New(cfg)
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
	if _, err := New(cfg); err == nil {
		t.Error("an http:// URL on another host was accepted without --partner-api-allow-insecure-http")
	}
	if err := fs.Parse([]string{"--partner-api-allow-insecure-http"}); err != nil {
		t.Fatal(err)
	}
	if _, err := New(cfg); err != nil {
		t.Errorf("with --partner-api-allow-insecure-http: %v", err)
	}
}
