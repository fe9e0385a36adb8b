package partnerapi

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"sync"
	"time"
)

// maxTokenFile bounds how much of the token file is read.
const maxTokenFile = 64 << 10

// tokens serves the bearer token: from a file (tokenSource), or from a function
// (tokenFunc), such as one reading a Secret.
type tokens interface {
	Token() (string, error)
}

// tokenFunc serves the bearer token that a function returns.
type tokenFunc func() (string, error)

// Token returns the function's token, refusing an empty one or one that cannot go
// in an Authorization header.
func (f tokenFunc) Token() (string, error) {
	token, err := f()
	switch {
	case err != nil:
		return "", err
	case token == "":
		return "", errors.New("the token is empty")
	case !validToken(token):
		return "", errors.New("the token holds whitespace or control characters")
	}
	return token, nil
}

// tokenSource serves the bearer token from a file and reads the file again when
// it changes. Safe for concurrent use.
type tokenSource struct {
	path string

	mu    sync.Mutex
	key   fileKey
	token string
}

// fileKey identifies a version of the token file. os.Stat follows symlinks, so a
// Kubernetes Secret volume's ..data swap shows up as a new inode.
type fileKey struct {
	modTime time.Time
	size    int64
	dev     uint64
	ino     uint64
}

func newTokenSource(path string) *tokenSource {
	return &tokenSource{path: path}
}

func keyOf(fi fs.FileInfo) fileKey {
	dev, ino := fileID(fi)
	return fileKey{modTime: fi.ModTime(), size: fi.Size(), dev: dev, ino: ino}
}

// Token returns the current token, reading the file again if it changed since the
// last read. Errors name the file but never carry its content.
func (s *tokenSource) Token() (string, error) {
	fi, err := os.Stat(s.path)
	if err != nil {
		return "", err
	}
	key := keyOf(fi)

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token != "" && key == s.key {
		return s.token, nil
	}
	token, key, err := readToken(s.path)
	if err != nil {
		return "", err
	}
	s.token, s.key = token, key
	return token, nil
}

// readToken reads the token and the key of the version read. If the file changes
// while it is read, the read is tried again a few times so that a half-written
// file is not remembered.
func readToken(path string) (string, fileKey, error) {
	var lastErr error
	for range 3 {
		token, key, stable, err := readTokenOnce(path)
		if err != nil {
			return "", fileKey{}, err
		}
		if stable {
			return token, key, nil
		}
		lastErr = fmt.Errorf("%s changed while being read", path)
	}
	return "", fileKey{}, lastErr
}

func readTokenOnce(path string) (token string, key fileKey, stable bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fileKey{}, false, err
	}
	defer func() { _ = f.Close() }()
	before, err := f.Stat()
	if err != nil {
		return "", fileKey{}, false, err
	}
	if !before.Mode().IsRegular() {
		return "", fileKey{}, false, fmt.Errorf("%s is not a regular file", path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxTokenFile+1))
	if err != nil {
		return "", fileKey{}, false, err
	}
	after, err := f.Stat()
	if err != nil {
		return "", fileKey{}, false, err
	}
	if keyOf(before) != keyOf(after) {
		return "", fileKey{}, false, nil
	}
	if len(b) > maxTokenFile {
		return "", fileKey{}, false, fmt.Errorf("%s is larger than %d bytes", path, maxTokenFile)
	}
	token = strings.TrimSpace(string(b))
	switch {
	case token == "":
		return "", fileKey{}, false, fmt.Errorf("%s is empty", path)
	case !validToken(token):
		return "", fileKey{}, false, errors.New(path + " holds whitespace or control characters inside the token")
	}
	return token, keyOf(after), true, nil
}

// validToken reports whether token can go in an Authorization header as one
// bearer credential.
func validToken(token string) bool {
	for _, r := range token {
		if r <= ' ' || r == 0x7f {
			return false
		}
	}
	return true
}
