package partnerapi

import (
	"crypto/sha256"
	"encoding/hex"
)

// Origin is where an answer of the Partnership API came from: the base URL that
// was called, and an identity of the server and partner behind it, a digest of the
// URL, the partner token and the extra certificate authorities the request was sent
// with. Evidence about an account (it exists, it is gone, it was made by this
// operator) holds only at the origin that gave it: another URL, another partner's
// token or another CA bundle may reach another server or contract, whose answers
// say nothing about the accounts of this one until it has shown that it holds
// them. The digest cannot be turned back into the token.
type Origin struct {
	// URL is the base URL called.
	URL string
	// ID is the digest, 16 hex digits; empty when the token could not be read.
	ID string
}

// originID is the ID of the origin of a request to baseURL with token, trusting
// the extra certificate authorities whose digest is caSum.
func originID(baseURL, token string, caSum [sha256.Size]byte) string {
	h := sha256.New()
	h.Write([]byte("partner-account-operator/origin\x00"))
	h.Write([]byte(baseURL))
	h.Write([]byte{0})
	h.Write([]byte(token))
	h.Write([]byte{0})
	h.Write(caSum[:])
	return hex.EncodeToString(h.Sum(nil)[:8])
}
