package encryption

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/vectors.json")

const vectorsFile = "testdata/vectors.json"

// vectorFile is the format of testdata/vectors.json, described in docs/format.md.
type vectorFile struct {
	Description string          `json:"description"`
	Valid       []validVector   `json:"valid"`
	Invalid     []invalidVector `json:"invalid"`
}

type validVector struct {
	Name        string `json:"name"`
	Key         string `json:"key"`
	Salt        string `json:"salt"`
	NoncePrefix string `json:"nonce_prefix"`
	SegmentSize int    `json:"segment_size"`
	Subkey      string `json:"subkey"`
	Plaintext   string `json:"plaintext"`
	Ciphertext  string `json:"ciphertext"`
}

type invalidVector struct {
	Name       string `json:"name"`
	Key        string `json:"key"`
	Ciphertext string `json:"ciphertext"`
	Error      string `json:"error"` // "authentication", "truncated" or "format"
}

var vectorErrors = map[string]error{"authentication": ErrAuthentication, "truncated": ErrTruncated, "format": ErrFormat}

func vectorKey() Key {
	var k Key
	for i := range k {
		k[i] = byte(i)
	}
	return k
}

// buildVectors computes the vectors from fixed keys, salts and plaintexts.
func buildVectors(t *testing.T) vectorFile {
	t.Helper()
	key := vectorKey()
	random := make([]byte, saltSize+noncePrefixSize)
	for i := range random {
		random[i] = byte(0xa0 + i)
	}
	vf := vectorFile{Description: "Lectern encryption format v1 test vectors; see docs/format.md. All values are hex. " +
		"salt and nonce_prefix are in the ciphertext header; subkey = HKDF-SHA256(key, salt, info = ciphertext[0:8], 32) is given to help debugging."}
	type spec struct {
		name   string
		segLog int
		size   int
	}
	var small [][]byte
	for _, s := range []spec{
		{"empty, default segment size", defaultSegmentLog, 0},
		{"1 byte, default segment size", defaultSegmentLog, 1},
		{"100 bytes, default segment size", defaultSegmentLog, 100},
		{"empty, 256-byte segments", smallLog, 0},
		{"191 bytes: segment 0 one byte short of full", smallLog, 191},
		{"192 bytes: full segment 0 and an empty final segment", smallLog, 192},
		{"193 bytes: two segments", smallLog, 193},
		{"1000 bytes: five segments", smallLog, 1000},
	} {
		pt := make([]byte, s.size)
		for i := range pt {
			pt[i] = byte(i % 251)
		}
		var out bytes.Buffer
		w, err := newWriter(&out, key, s.segLog, bytes.NewReader(random))
		if err != nil {
			t.Fatal(err)
		}
		writeChunks(t, w, pt, 0)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		h, _ := ParseHeader(out.Bytes())
		sub := subkeyForTest(t, key, h)
		vf.Valid = append(vf.Valid, validVector{
			Name: s.name, Key: key.Hex(), Salt: hex.EncodeToString(h.salt()), NoncePrefix: hex.EncodeToString(h.noncePrefix()),
			SegmentSize: h.SegmentSize(), Subkey: hex.EncodeToString(sub),
			Plaintext: hex.EncodeToString(pt), Ciphertext: hex.EncodeToString(out.Bytes()),
		})
		if s.segLog == smallLog && s.size == 1000 {
			small = append(small, out.Bytes())
		}
	}
	ct := small[0] // five segments of 256 bytes
	h, _ := ParseHeader(ct)
	flip := func(pos int) []byte { b := bytes.Clone(ct); b[pos] ^= 1; return b }
	swapped := bytes.Clone(ct)
	copy(swapped[256:512], ct[512:768])
	copy(swapped[512:768], ct[256:512])
	other := vectorKey()
	other[0] ^= 1
	for _, v := range []struct {
		name string
		key  Key
		ct   []byte
		err  string
	}{
		{"flipped bit in segment 2", key, flip(600), "authentication"},
		{"flipped bit in the salt", key, flip(20), "authentication"},
		{"flipped bit in the magic", key, flip(0), "format"},
		{"segments 1 and 2 swapped", key, swapped, "authentication"},
		{"cut after segment 2 (segment boundary)", key, ct[:h.cipherStart(3)], "truncated"},
		{"cut inside the final segment", key, ct[:len(ct)-5], "authentication"},
		{"final segment dropped, segment 3 kept", key, ct[:h.cipherStart(4)], "truncated"},
		{"wrong key", other, ct, "authentication"},
	} {
		vf.Invalid = append(vf.Invalid, invalidVector{Name: v.name, Key: v.key.Hex(), Ciphertext: hex.EncodeToString(v.ct), Error: v.err})
	}
	return vf
}

func subkeyForTest(t *testing.T, key Key, h Header) []byte {
	t.Helper()
	// Recompute with the same primitives the format uses, so the vector file
	// documents the intermediate value.
	sub, err := hkdfSubkey(key, h)
	if err != nil {
		t.Fatal(err)
	}
	return sub
}

// TestVectors checks that this implementation reproduces testdata/vectors.json
// exactly and decrypts or rejects every vector in it. Run with -update to rewrite
// the file (then review the diff: a change means the format changed).
func TestVectors(t *testing.T) {
	built := buildVectors(t)
	if *update {
		b, err := json.MarshalIndent(built, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(vectorsFile, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(vectorsFile)
	if err != nil {
		t.Fatal(err)
	}
	var vf vectorFile
	if err := json.Unmarshal(raw, &vf); err != nil {
		t.Fatal(err)
	}
	if len(vf.Valid) != len(built.Valid) || len(vf.Invalid) != len(built.Invalid) {
		t.Fatalf("vector file has %d/%d vectors, implementation builds %d/%d", len(vf.Valid), len(vf.Invalid), len(built.Valid), len(built.Invalid))
	}
	for i, v := range vf.Valid {
		if v != built.Valid[i] {
			t.Errorf("%s: this implementation no longer produces the recorded vector", v.Name)
		}
		key, err := ParseKey(v.Key)
		if err != nil {
			t.Fatal(err)
		}
		ct, _ := hex.DecodeString(v.Ciphertext)
		want, _ := hex.DecodeString(v.Plaintext)
		got, err := Open(key, ct)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: Open = %d bytes, %v", v.Name, len(got), err)
		}
	}
	for _, v := range vf.Invalid {
		key, _ := ParseKey(v.Key)
		ct, _ := hex.DecodeString(v.Ciphertext)
		if _, err := Open(key, ct); !errors.Is(err, vectorErrors[v.Error]) {
			t.Errorf("%s: Open: %v, want %s", v.Name, err, v.Error)
		}
	}
	if abs, err := filepath.Abs(vectorsFile); err == nil {
		t.Logf("checked %d valid and %d invalid vectors in %s", len(vf.Valid), len(vf.Invalid), abs)
	}
}
