package partnerapi

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// bearer returns the token the last request carried.
func bearer(t *testing.T, srv *scripted) string {
	t.Helper()
	return strings.TrimPrefix(srv.last(t).Header.Get("Authorization"), "Bearer ")
}

// sameStat makes path's modification time that of ref, so only the inode tells
// the two versions apart.
func sameStat(t *testing.T, path string, ref os.FileInfo) {
	t.Helper()
	if err := os.Chtimes(path, ref.ModTime(), ref.ModTime()); err != nil {
		t.Fatal(err)
	}
}

func TestTokenRotation(t *testing.T) {
	srv := newScripted(t)
	srv.set(answer(200, []byte(`{"account_uid":"acct-1"}`)))
	ctx := testCtx(t)

	get := func(t *testing.T, c *HTTPClient) {
		t.Helper()
		_, err := c.Get(ctx, "acct-1")
		rememberErr(err)
		if err != nil {
			t.Fatal(err)
		}
	}

	t.Run("file rewritten in place", func(t *testing.T) {
		c := newTestClient(t, srv.apiURL())
		get(t, c)
		if got := bearer(t, srv); got != testToken {
			t.Fatalf("first request carried the wrong token (%d bytes)", len(got))
		}
		if err := os.WriteFile(c.tokenFile, []byte("\t "+testTokenRotated+"\r\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		get(t, c)
		if got := bearer(t, srv); got != testTokenRotated {
			t.Fatalf("request after the rewrite carried the wrong token (%d bytes)", len(got))
		}
	})

	t.Run("file replaced by one of the same size and time", func(t *testing.T) {
		c := newTestClient(t, srv.apiURL())
		get(t, c)
		old, err := os.Stat(c.tokenFile)
		if err != nil {
			t.Fatal(err)
		}
		// testTokenSwapped has testToken's length, and the new file gets the old
		// one's modification time: only the inode differs.
		tmp := c.tokenFile + ".new"
		if err := os.WriteFile(tmp, []byte(testTokenSwapped+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		sameStat(t, tmp, old)
		if err := os.Rename(tmp, c.tokenFile); err != nil {
			t.Fatal(err)
		}
		if fi, _ := os.Stat(c.tokenFile); fi.Size() != old.Size() || !fi.ModTime().Equal(old.ModTime()) {
			t.Fatal("test setup: the new file differs in size or time")
		}
		get(t, c)
		if got := bearer(t, srv); got != testTokenSwapped {
			t.Fatalf("request after the replacement carried the wrong token (%d bytes)", len(got))
		}
	})

	t.Run("Kubernetes Secret volume ..data swap", func(t *testing.T) {
		dir := t.TempDir()
		writeVersion := func(name, token string) {
			if err := os.Mkdir(filepath.Join(dir, name), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, name, "token"), []byte(token), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		// The layout kubelet's atomic writer makes: token -> ..data/token,
		// ..data -> ..<timestamp>.
		writeVersion("..2026_11_27_10_00_00.1", testToken)
		must(t, os.Symlink("..2026_11_27_10_00_00.1", filepath.Join(dir, "..data")))
		must(t, os.Symlink(filepath.Join("..data", "token"), filepath.Join(dir, "token")))

		c := newTestClient(t, srv.apiURL(), func(cfg *Config) { cfg.TokenFile = filepath.Join(dir, "token") })
		get(t, c)
		if got := bearer(t, srv); got != testToken {
			t.Fatalf("first request carried the wrong token (%d bytes)", len(got))
		}

		old, err := os.Stat(filepath.Join(dir, "token"))
		must(t, err)
		writeVersion("..2026_11_27_11_00_00.2", testTokenSwapped)
		sameStat(t, filepath.Join(dir, "..2026_11_27_11_00_00.2", "token"), old)
		must(t, os.Symlink("..2026_11_27_11_00_00.2", filepath.Join(dir, "..data_tmp")))
		must(t, os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")))
		must(t, os.RemoveAll(filepath.Join(dir, "..2026_11_27_10_00_00.1")))

		get(t, c)
		if got := bearer(t, srv); got != testTokenSwapped {
			t.Fatalf("request after the swap carried the wrong token (%d bytes)", len(got))
		}
	})

	t.Run("unchanged stat means no read", func(t *testing.T) {
		c := newTestClient(t, srv.apiURL())
		get(t, c)
		// Rewrite the file in place with a token of the same length and put the
		// old modification time back: size, time and inode are unchanged, so the
		// client keeps the cached token instead of reading the file per request.
		old, err := os.Stat(c.tokenFile)
		must(t, err)
		must(t, os.WriteFile(c.tokenFile, []byte(testTokenSwapped+"\n"), 0o600))
		sameStat(t, c.tokenFile, old)
		get(t, c)
		if got := bearer(t, srv); got != testToken {
			t.Fatalf("request carried a token read again from an unchanged file (%d bytes)", len(got))
		}
		// Any change to the time is noticed.
		must(t, os.Chtimes(c.tokenFile, old.ModTime().Add(time.Second), old.ModTime().Add(time.Second)))
		get(t, c)
		if got := bearer(t, srv); got != testTokenSwapped {
			t.Fatalf("request after touching the file carried the old token (%d bytes)", len(got))
		}
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestTokenFileProblems(t *testing.T) {
	srv := newScripted(t)
	srv.set(answer(200, []byte(`{"account_uid":"acct-1"}`)))
	ctx := testCtx(t)

	for _, tc := range []struct {
		name      string
		breakFile func(path string) error
	}{
		{"removed", os.Remove},
		{"emptied", func(p string) error { return os.WriteFile(p, []byte(" \n"), 0o600) }},
		{"token with a space inside", func(p string) error { return os.WriteFile(p, []byte(testToken+" x\n"), 0o600) }},
		{"directory", func(p string) error {
			if err := os.Remove(p); err != nil {
				return err
			}
			return os.Mkdir(p, 0o700)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestClient(t, srv.apiURL())
			before := len(srv.all())
			must(t, tc.breakFile(c.tokenFile))
			_, err := c.Get(ctx, "acct-1")
			rememberErr(err)
			var e *Error
			if !errors.Is(err, ErrUnauthorized) || !errors.As(err, &e) || e.StatusCode != 0 {
				t.Fatalf("err = %v (%s), want ErrUnauthorized without a request", err, kindOf(err))
			}
			if !strings.Contains(err.Error(), c.tokenFile) {
				t.Errorf("error %q does not name the token file", err)
			}
			if n := len(srv.all()) - before; n != 0 {
				t.Errorf("%d requests were sent without a usable token", n)
			}

			// Repairing the file is enough; the broken state was not remembered.
			_ = os.Remove(c.tokenFile)
			must(t, os.WriteFile(c.tokenFile, []byte(testTokenRotated), 0o600))
			_, err = c.Get(ctx, "acct-1")
			rememberErr(err)
			if err != nil {
				t.Fatal(err)
			}
			if got := bearer(t, srv); got != testTokenRotated {
				t.Errorf("request after the repair carried the wrong token (%d bytes)", len(got))
			}
		})
	}
}

// TestTokenConcurrentRotation runs many requests while the token is swapped the
// way kubelet does it; under -race this also checks the token source's locking.
func TestTokenConcurrentRotation(t *testing.T) {
	valid := map[string]bool{testToken: true, testTokenRotated: true, testTokenSwapped: true}
	var mu sync.Mutex
	seenTokens := map[string]int{}
	srv := newScripted(t)
	srv.set(func(w http.ResponseWriter, r *http.Request, rec recorded) {
		tok := strings.TrimPrefix(rec.Header.Get("Authorization"), "Bearer ")
		mu.Lock()
		seenTokens[tok]++
		mu.Unlock()
		if !valid[tok] {
			answer(401, []byte(`{"status":401,"message":"bad token","code":"unauthorized"}`))(w, r, rec)
			return
		}
		answer(200, []byte(`{"account_uid":"acct-1"}`))(w, r, rec)
	})
	ctx := testCtx(t)
	c := newTestClient(t, srv.apiURL())
	path := c.tokenFile

	stop := make(chan struct{})
	rotated := make(chan struct{})
	go func() {
		defer close(rotated)
		tokens := []string{testTokenRotated, testTokenSwapped, testToken}
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			tmp := fmt.Sprintf("%s.%d", path, i)
			if err := os.WriteFile(tmp, []byte(tokens[i%len(tokens)]+"\n"), 0o600); err != nil {
				t.Error(err)
				return
			}
			if err := os.Rename(tmp, path); err != nil {
				t.Error(err)
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()

	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 40 {
				_, err := c.Get(ctx, "acct-1")
				rememberErr(err)
				if err != nil {
					t.Errorf("Get during rotation: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	<-rotated

	mu.Lock()
	defer mu.Unlock()
	distinct := 0
	for tok := range seenTokens {
		if !valid[tok] {
			t.Errorf("a request carried a token that was never in the file (%d bytes)", len(tok))
		}
		distinct++
	}
	if distinct < 2 {
		t.Errorf("requests carried %d distinct tokens; the rotation was not picked up", distinct)
	}
}

// TestTokenRedaction has the server echo the bearer token back in every field of
// either error shape; the error must carry [REDACTED] instead.
func TestTokenRedaction(t *testing.T) {
	srv := newScripted(t)
	ctx := testCtx(t)
	echo := func(shape string) func(http.ResponseWriter, *http.Request, recorded) {
		return func(w http.ResponseWriter, r *http.Request, rec recorded) {
			auth := rec.Header.Get("Authorization")
			body := fmt.Sprintf(shape, auth, strings.TrimPrefix(auth, "Bearer "))
			answer(403, []byte(body))(w, r, rec)
		}
	}
	for name, shape := range map[string]string{
		"contract":  `{"status":403,"message":"token '%s' rejected","code":"bad-%s"}`,
		"published": `{"description":"token '%s' rejected","code":"%s","error":"forbidden"}`,
	} {
		t.Run(name, func(t *testing.T) {
			// A client per case: a 401, 403 or Retry-After holds back the client's later calls.
			c := newTestClient(t, srv.apiURL())
			srv.set(echo(shape))
			_, err := c.Get(ctx, "acct-1")
			rememberErr(err)
			var e *Error
			if !errors.Is(err, ErrUnauthorized) || !errors.As(err, &e) {
				t.Fatalf("err = %v, want ErrUnauthorized", err)
			}
			for what, s := range map[string]string{"text": err.Error(), "Message": e.Message, "Code": e.Code, "%#v": fmt.Sprintf("%#v", e)} {
				if strings.Contains(s, testToken) {
					t.Errorf("%s carries the token", what)
				}
			}
			if !strings.Contains(e.Message, redacted) || !strings.Contains(e.Code, redacted) {
				t.Errorf("Message %q / Code %q do not show the redaction", e.Message, e.Code)
			}
		})
	}

	t.Run("token across the cut of a long message", func(t *testing.T) {
		c := newTestClient(t, srv.apiURL())
		msg := strings.Repeat("x", maxMessageLen-10) + testToken
		srv.set(answer(403, []byte(`{"message":"`+msg+`","code":"`+strings.Repeat("y", maxCodeLen-5)+testToken+`"}`)))
		_, err := c.Get(ctx, "acct-1")
		rememberErr(err)
		if strings.Contains(fmt.Sprintf("%#v", err), testToken[:6]) {
			t.Errorf("error carries a part of the token: %v", err)
		}
	})

	t.Run("token in the content type of a page that is not the API's", func(t *testing.T) {
		c := newTestClient(t, srv.apiURL())
		srv.set(answerTyped(404, "text/html; x="+testToken, "<html>not found</html>"))
		_, err := c.Get(ctx, "acct-1")
		rememberErr(err)
		if !errors.Is(err, ErrMisconfigured) || strings.Contains(fmt.Sprintf("%#v", err), testToken) {
			t.Errorf("err = %v, want ErrMisconfigured without the token", err)
		}
	})

	t.Run("underlying error", func(t *testing.T) {
		e := &Error{Kind: ErrTransient, Op: OpGet, UID: "a", Err: fmt.Errorf("wrapped: %w", errors.New("saw "+testToken))}
		redact(e, testToken)
		rememberErr(e)
		if strings.Contains(e.Error(), testToken) || !strings.Contains(e.Error(), redacted) {
			t.Errorf("text = %q", e.Error())
		}
	})
}
