// Command fetch makes one HTTPS GET from inside a pod, as curl -k would, and prints
// the status code on its first line, then the body. It does not verify the server's
// certificate: the operator's metrics endpoint serves a self-signed one.
//
//	fetch [-token-file FILE] URL
//
// With -token-file, the token in FILE (- for stdin) is sent as a bearer token.
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

func main() {
	tokenFile := flag.String("token-file", "", "file holding a bearer token to send; - for stdin")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: fetch [-token-file FILE] URL")
		os.Exit(2)
	}
	if err := fetch(flag.Arg(0), *tokenFile); err != nil {
		fmt.Fprintln(os.Stderr, "fetch:", err)
		os.Exit(1)
	}
}

func fetch(url, tokenFile string) error {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if tokenFile != "" {
		var token []byte
		if tokenFile == "-" {
			token, err = io.ReadAll(os.Stdin)
		} else {
			token, err = os.ReadFile(tokenFile)
		}
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	}
	insecure := &tls.Config{InsecureSkipVerify: true} //nolint:gosec // see the package comment
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: insecure}}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	fmt.Println(resp.StatusCode)
	_, err = io.Copy(os.Stdout, resp.Body)
	return err
}
