package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	miniogo "github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// s3Phase: SPEC section 8's upload bar on S3, at the server level: a tus upload to a
// lecternd whose backend is a MinIO server, against minio-go's PutObject of the same
// file to the same MinIO (the bar's "direct PutObject"). MinIO, both lecternd's
// TLS and the client share this machine's cores, as in the disk phase.
func (e *env) s3Phase(ctx context.Context) error {
	e.rep.printf("\n### 5. Upload of %s to lecternd on S3 (MinIO) against PutObject (load before: %s)\n\n", human(e.o.size), loadavg())
	if e.o.minioBin == "" {
		e.rep.printf("Not run: no minio binary (-minio; `deploy/test.sh` builds one).\n")
		return nil
	}
	dir := filepath.Join(e.work, "s3")
	srv, err := startMinio(ctx, e.o.minioBin, dir)
	if err != nil {
		return err
	}
	defer srv.proc.stop()
	mc, err := miniogo.New(srv.host, &miniogo.Options{Creds: credentials.NewStaticV4(srv.user, srv.password, "")})
	if err != nil {
		return err
	}
	const bucket = "lectern"
	if err := mc.MakeBucket(ctx, bucket, miniogo.MakeBucketOptions{}); err != nil {
		return err
	}
	// lecternd reads the credentials from the standard AWS variables.
	os.Setenv("AWS_ACCESS_KEY_ID", srv.user)
	os.Setenv("AWS_SECRET_ACCESS_KEY", srv.password)
	lim := fmt.Sprint(e.o.size + 64<<20)
	backend := "s3://" + bucket + "/lectern?path_style=true&region=us-east-1&endpoint=" + url.QueryEscape("http://"+srv.host)
	lec, err := startLecternd(ctx, e.o.lecterndBin, filepath.Join(dir, "lecternd"), "-backend", backend,
		"-max-file-size", lim, "-max-conference-content", fmt.Sprint(64*(e.o.size+64<<20)))
	if err != nil {
		return err
	}
	defer lec.stop()
	cl, err := newClient(lec.cert)
	if err != nil {
		return err
	}
	defer cl.close()

	chunk := e.o.chunk
	const putName = "minio-go PutObject"
	vname := map[int64]string{0: "1 PATCH", chunk: human(chunk) + " PATCHes"}
	lecName := func(c int64) string { return "lecternd on S3, " + vname[c] }
	sides := []side{
		{putName, func(ctx context.Context, r int) (time.Duration, error) {
			f, err := os.Open(e.o.srcFile)
			if err != nil {
				return 0, err
			}
			defer f.Close()
			t0 := time.Now()
			_, err = mc.PutObject(ctx, bucket, "raw/object", f, e.o.size, miniogo.PutObjectOptions{})
			d := time.Since(t0)
			if err == nil {
				err = mc.RemoveObject(ctx, bucket, "raw/object", miniogo.RemoveObjectOptions{})
			}
			return d, err
		}},
		{lecName(0), e.lecternUploadTo(lec, cl, 0, nil)},
		{lecName(chunk), e.lecternUploadTo(lec, cl, chunk, nil)},
	}
	tp, err := e.measureThroughput(ctx, sides, e.o.size)
	if err != nil {
		return err
	}
	e.rep.printf("\n| measurement | Lectern MB/s | reference MB/s | ratio, median (min–max) | target | met? |\n|---|---|---|---|---|---|\n")
	for _, c := range []int64{0, chunk} {
		e.rep.ratioRow(lecName(c)+" vs "+putName, tp[lecName(c)].cell("%.0f"), tp[putName].cell("%.0f"), ratios(tp[lecName(c)], tp[putName]), 0.9)
	}
	return nil
}

// minioServer is a MinIO server this program started.
type minioServer struct {
	proc           *proc
	host           string
	user, password string
}

// startMinio starts the minio binary on a free port of 127.0.0.1 with a fresh data
// folder and random credentials, and waits until it is ready.
func startMinio(ctx context.Context, bin, dir string) (*minioServer, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	console, err := freePort()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
		return nil, err
	}
	secret := make([]byte, 16)
	_, _ = rand.Read(secret)
	s := &minioServer{host: fmt.Sprintf("127.0.0.1:%d", port), user: "lectern-bench", password: hex.EncodeToString(secret)}
	for k, v := range map[string]string{"MINIO_ROOT_USER": s.user, "MINIO_ROOT_PASSWORD": s.password,
		"MINIO_UPDATE": "off", "MINIO_BROWSER": "off"} {
		os.Setenv(k, v)
	}
	s.proc, err = start("minio", filepath.Join(dir, "minio.log"), bin, "server", filepath.Join(dir, "data"),
		"--address", s.host, "--console-address", fmt.Sprintf("127.0.0.1:%d", console), "--quiet")
	if err != nil {
		return nil, err
	}
	for deadline := time.Now().Add(60 * time.Second); ; {
		resp, err := http.Get("http://" + s.host + "/minio/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		select {
		case err := <-s.proc.done:
			return nil, fmt.Errorf("minio exited: %v\n%s", err, s.proc.tail())
		case <-ctx.Done():
			s.proc.stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.proc.stop()
			return nil, fmt.Errorf("minio not ready after 60 s\n%s", s.proc.tail())
		}
	}
}
