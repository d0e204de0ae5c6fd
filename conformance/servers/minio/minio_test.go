package minio

import "testing"

func TestFromEnv(t *testing.T) {
	tests := []struct {
		name              string
		endpoint, ak, sk  string
		wantUsed, wantErr bool
	}{
		{"unset", "", "", "", false, false},
		{"complete", "http://127.0.0.1:9", "ak", "sk", true, false},
		{"no_keys", "http://127.0.0.1:9", "", "", true, true},
		{"no_secret", "http://127.0.0.1:9", "ak", "", true, true},
		{"not_a_url", "127.0.0.1:9", "ak", "sk", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("LECTERN_S3_ENDPOINT", tt.endpoint)
			t.Setenv("LECTERN_S3_ACCESS_KEY", tt.ak)
			t.Setenv("LECTERN_S3_SECRET_KEY", tt.sk)
			s, used, err := fromEnv()
			if used != tt.wantUsed || (err != nil) != tt.wantErr {
				t.Fatalf("fromEnv() = %v, %v, %v; want used %v, error %v", s, used, err, tt.wantUsed, tt.wantErr)
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
