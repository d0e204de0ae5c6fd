package encryption

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestKeyText(t *testing.T) {
	k, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	if k == (Key{}) {
		t.Fatal("NewKey returned the zero key")
	}
	if k2, _ := NewKey(); k2 == k {
		t.Fatal("two NewKey calls returned the same key")
	}
	s := k.Hex()
	if len(s) != 64 || strings.ToLower(s) != s {
		t.Fatalf("Hex = %d chars, want 64 lowercase", len(s))
	}
	back, err := ParseKey(s)
	if err != nil || back != k {
		t.Fatalf("ParseKey(Hex()) = %v", err)
	}
	for name, bad := range map[string]string{
		"empty":     "",
		"short":     s[:62],
		"long":      s + "00",
		"uppercase": s[:10] + "A" + s[11:],
		"non-hex":   "zz" + s[2:],
		"space":     " " + s[1:],
	} {
		_, err := ParseKey(bad)
		if !errors.Is(err, ErrInvalidKey) {
			t.Errorf("%s: %v, want ErrInvalidKey", name, err)
		}
		if err != nil && len(bad) > 8 && strings.Contains(err.Error(), bad[2:10]) {
			t.Errorf("%s: error echoes the input: %q", name, err)
		}
	}
}

func TestKeyNeverPrinted(t *testing.T) {
	k := testKey(t, 0x5a)
	secret := k.Hex()
	type holder struct {
		Name string
		Key  Key
	}
	var outputs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T %v"} {
		outputs = append(outputs, fmt.Sprintf(verb, k), fmt.Sprintf(verb, holder{"a", k}), fmt.Sprintf(verb, &k))
	}
	outputs = append(outputs, fmt.Sprint(k), fmt.Sprintln(k), k.String())

	var logbuf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logbuf, nil))
	logger.Info("x", "key", k, "holder", holder{"a", k}, "ptr", &k)
	slog.New(slog.NewTextHandler(&logbuf, nil)).Info("x", "key", k, slog.Any("k2", k))
	outputs = append(outputs, logbuf.String())

	if b, err := json.Marshal(holder{"a", k}); err == nil {
		t.Errorf("json.Marshal of a struct holding a Key succeeded: %s", b)
	}
	if b, err := xml.Marshal(holder{"a", k}); err == nil {
		t.Errorf("xml.Marshal of a struct holding a Key succeeded: %s", b)
	}
	for _, out := range outputs {
		low := strings.ToLower(out)
		if strings.Contains(low, secret[:12]) || strings.Contains(out, "90 91 92") || strings.Contains(out, "[90 91") {
			t.Fatalf("key material in output: %q", out)
		}
	}
	if !strings.Contains(fmt.Sprintf("%x", k), "[redacted]") {
		t.Fatalf("%%x of a Key = %q, want [redacted]", fmt.Sprintf("%x", k))
	}
}
