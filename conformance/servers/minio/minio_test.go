package minio

import (
	"errors"
	"testing"

	"github.com/lectern/lectern/conformance/servers"
)

// TestFromEnv: a complete LECTERN_S3_ENDPOINT is taken (never as restartable), unless
// LECTERN_S3_VIA forces a path of the tests' own; where S3 is required it is refused
// with servers.ErrNotOurs, since the outage tests could not stop it and would skip.
func TestFromEnv(t *testing.T) {
	const ep = "http://127.0.0.1:9"
	tests := []struct {
		name              string
		endpoint, ak, sk  string
		via, ci, require  string
		wantUsed, wantErr bool
		wantNotOurs       bool
	}{
		{name: "unset"},
		{name: "complete", endpoint: ep, ak: "ak", sk: "sk", wantUsed: true},
		{name: "no_keys", endpoint: ep, wantUsed: true, wantErr: true},
		{name: "no_secret", endpoint: ep, ak: "ak", wantUsed: true, wantErr: true},
		{name: "not_a_url", endpoint: "127.0.0.1:9", ak: "ak", sk: "sk", wantUsed: true, wantErr: true},
		{name: "via_binary", endpoint: ep, ak: "ak", sk: "sk", via: "binary"},
		{name: "via_docker", endpoint: ep, ak: "ak", sk: "sk", via: "docker"},
		{name: "ci", endpoint: ep, ak: "ak", sk: "sk", ci: "true", wantUsed: true, wantErr: true, wantNotOurs: true},
		{name: "require_s3", endpoint: ep, ak: "ak", sk: "sk", require: "smb,s3", wantUsed: true, wantErr: true, wantNotOurs: true},
		{name: "require_other", endpoint: ep, ak: "ak", sk: "sk", require: "smb", wantUsed: true},
		{name: "ci_via_binary", endpoint: ep, ak: "ak", sk: "sk", via: "binary", ci: "true"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("LECTERN_S3_ENDPOINT", tt.endpoint)
			t.Setenv("LECTERN_S3_ACCESS_KEY", tt.ak)
			t.Setenv("LECTERN_S3_SECRET_KEY", tt.sk)
			t.Setenv(viaEnv, tt.via)
			t.Setenv("CI", tt.ci)
			t.Setenv("LECTERN_REQUIRE", tt.require)
			s, used, err := fromEnv()
			if used != tt.wantUsed || (err != nil) != tt.wantErr || errors.Is(err, servers.ErrNotOurs) != tt.wantNotOurs {
				t.Fatalf("fromEnv() = %v, %v, %v; want used %v, error %v, ErrNotOurs %v",
					s, used, err, tt.wantUsed, tt.wantErr, tt.wantNotOurs)
			}
			if s != nil && s.Restartable() {
				t.Fatal("a server from the environment claims to be restartable")
			}
		})
	}
}

func TestFindBinaryFromEnv(t *testing.T) {
	t.Setenv("LECTERN_MINIO_BIN", "/opt/minio/bin/minio")
	if bin, err := findBinary(); err != nil || bin != "/opt/minio/bin/minio" {
		t.Fatalf("findBinary() = %q, %v", bin, err)
	}
}
