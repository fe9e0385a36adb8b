package simulator_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/partnerbilling/partner-account-operator/internal/partnerapi/simulator"
)

// BenchmarkServe64Clients runs the simulator behind a real HTTP server and hits
// it from 64 concurrent clients: 70% GET, 20% PATCH, 10% create. It reports
// requests per second; with latency and faults off it must manage 2,000.
func BenchmarkServe64Clients(b *testing.B) {
	for _, d := range []simulator.Dialect{simulator.DialectContract, simulator.DialectPublished} {
		b.Run(string(d), func(b *testing.B) { benchServe(b, d) })
	}
}

func benchServe(b *testing.B, dialect simulator.Dialect) {
	const clients, seeded = 64, 512
	sim, err := simulator.New(simulator.Options{Dialect: dialect, Tokens: []string{testToken}})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients, MaxIdleConns: clients}}
	defer client.CloseIdleConnections()

	send := func(method, path string, body []byte) (int, error) {
		req, err := http.NewRequest(method, srv.URL+path, bytes.NewReader(body))
		if err != nil {
			return 0, err
		}
		req.Header.Set("Authorization", "Bearer "+testToken)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		return resp.StatusCode, nil
	}
	createReq := func(uid string) []byte {
		body, _ := json.Marshal(createBody(uid, "I", "b5test.com", "2050-02-05T13:00:00.000Z"))
		return body
	}
	for i := range seeded {
		if code, err := send(http.MethodPost, accountsPath, createReq("seed-"+strconv.Itoa(i))); err != nil || code != http.StatusCreated {
			b.Fatalf("seed: %d %v", code, err)
		}
	}
	patch := []byte(`{"ends_at":"2051-03-04T05:06:07.000Z"}`)

	var next, failures atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	t0 := time.Now()
	for range clients {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				uid := "seed-" + strconv.Itoa(int(i%seeded))
				var code int
				var err error
				switch i % 10 {
				case 0:
					code, err = send(http.MethodPost, accountsPath, createReq(fmt.Sprintf("bench-%d", i)))
					if code == http.StatusCreated {
						code = http.StatusOK
					}
				case 1, 2:
					code, err = send(http.MethodPatch, accountPath(uid), patch)
				default:
					code, err = send(http.MethodGet, accountPath(uid), nil)
				}
				if err != nil || code != http.StatusOK {
					failures.Add(1)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(t0)
	b.StopTimer()
	if n := failures.Load(); n > 0 {
		b.Fatalf("%d of %d requests failed", n, b.N)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
}
