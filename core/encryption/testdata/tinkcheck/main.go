// Command tinkcheck decrypts the Lectern test vectors with Tink's own streaming AEAD
// (tink-go streamingaead/subtle.AESGCMHKDF): a file minus its 8-byte prefix is a Tink
// AES256_GCM_HKDF ciphertext with the prefix as associated data (docs/format.md).
// It is a separate module so that Lectern itself does not depend on Tink; it needs
// the Go module proxy. Run: cd core/encryption/testdata/tinkcheck && go run . ../vectors.json
package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/tink-crypto/tink-go/v2/streamingaead/subtle"
)

type vf struct {
	Valid []struct {
		Name        string `json:"name"`
		Key         string `json:"key"`
		SegmentSize int    `json:"segment_size"`
		Plaintext   string `json:"plaintext"`
		Ciphertext  string `json:"ciphertext"`
	} `json:"valid"`
	Invalid []struct {
		Name       string `json:"name"`
		Key        string `json:"key"`
		Ciphertext string `json:"ciphertext"`
	} `json:"invalid"`
}

func main() {
	raw, _ := os.ReadFile(os.Args[1])
	var v vf
	if err := json.Unmarshal(raw, &v); err != nil {
		panic(err)
	}
	fails := 0
	for _, x := range v.Valid {
		key, _ := hex.DecodeString(x.Key)
		ct, _ := hex.DecodeString(x.Ciphertext)
		a, err := subtle.NewAESGCMHKDF(key, "SHA256", 32, x.SegmentSize, 8)
		if err != nil {
			panic(err)
		}
		r, err := a.NewDecryptingReader(bytes.NewReader(ct[8:]), ct[:8])
		if err != nil {
			fmt.Println("FAIL", x.Name, err)
			fails++
			continue
		}
		pt, err := io.ReadAll(r)
		if err != nil || hex.EncodeToString(pt) != x.Plaintext {
			fmt.Println("FAIL", x.Name, err)
			fails++
			continue
		}
		fmt.Println("ok  ", x.Name)
	}
	for _, x := range v.Invalid {
		key, _ := hex.DecodeString(x.Key)
		ct, _ := hex.DecodeString(x.Ciphertext)
		a, err := subtle.NewAESGCMHKDF(key, "SHA256", 32, 256, 8)
		if err != nil {
			panic(err)
		}
		if len(ct) >= 8 {
			if r, err := a.NewDecryptingReader(bytes.NewReader(ct[8:]), ct[:8]); err == nil {
				if _, err := io.ReadAll(r); err == nil {
					fmt.Println("FAIL (accepted)", x.Name)
					fails++
					continue
				}
			}
		}
		fmt.Println("ok   rejected:", x.Name)
	}
	fmt.Printf("tink-go v2.2.0 subtle.AESGCMHKDF: %d valid, %d invalid vectors, %d failures\n", len(v.Valid), len(v.Invalid), fails)
	if fails > 0 {
		os.Exit(1)
	}
}
