package stream

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"hash"
	"strings"
)

// ChecksumAlgorithms are the Upload-Checksum algorithms accepted (Tus-Checksum-Algorithm).
// tusd v2.8.0 does not implement the checksum extension, so this package does: the
// HTTP glue parses the header, the store hashes the body as it streams (see
// upload.writeVerified) and answers 460 on a mismatch, having stored nothing.
const ChecksumAlgorithms = "sha1,sha256,md5"

type checksum struct {
	alg    string
	digest []byte
}

// parseChecksum parses "Upload-Checksum: <algorithm> <base64 digest>".
func parseChecksum(v string) (*checksum, error) {
	alg, enc, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok {
		return nil, errChecksumAlgorithm
	}
	alg = strings.ToLower(alg)
	digest, err := base64.StdEncoding.DecodeString(strings.TrimSpace(enc))
	if err != nil {
		return nil, errChecksumAlgorithm
	}
	c := &checksum{alg: alg, digest: digest}
	h := c.newHash()
	if h == nil || len(digest) != h.Size() {
		return nil, errChecksumAlgorithm
	}
	return c, nil
}

func (c *checksum) newHash() hash.Hash {
	switch c.alg {
	case "sha1":
		return sha1.New()
	case "sha256":
		return sha256.New()
	case "md5":
		return md5.New()
	}
	return nil
}

func (c *checksum) matches(sum []byte) bool { return subtle.ConstantTimeCompare(sum, c.digest) == 1 }
