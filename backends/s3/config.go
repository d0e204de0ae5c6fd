package s3

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	s3api "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/lectern/lectern/core/storage"
)

// Defaults. The part size and concurrency bound the memory of one streaming put:
// the transfer manager holds (Concurrency+1) part buffers, plus the first part, which
// it reads with io.ReadAll (growing, so about twice its size is allocated): with
// 8 MiB × (2+1) + ~2 × 8 MiB, about 40 MiB live per large upload in flight, and a
// peak of about 36 MiB of heap and 61 MiB of resident memory for a whole process
// doing a 1 GiB upload (BenchmarkPeakMemoryPut1GiB, docs/benchmarks-s3.md: under the
// 64 MiB bar). On a quiet test machine 8 MiB × 2 put 256 MiB at a median 0.915 of
// minio-go's PutObject (ten rounds), where 5 MiB × 3 reached 0.86: fewer, larger
// requests cost less CPU per byte; 8 MiB × 3 went over the memory bar. Against
// distant servers, raise Concurrency. An upload of unknown length is capped at
// 10,000 parts, 78 GiB; a put whose size is known picks larger parts when it needs
// them.
const (
	DefaultPartSize    = 8 << 20
	DefaultConcurrency = 2
	// The retry budget rides over a server restart of a second or two and a short
	// burst of throttling, but no longer: a server that is down fails the request in
	// about 3 s (at most 4 s), and lecternd answers 503 with Retry-After, which tus
	// clients retry. (The earlier 5 attempts with backoff up to 5 s held every request
	// 12 s during an outage, measured with TestEndToEndStorageOutage.)
	DefaultMaxAttempts = 3
	DefaultMaxBackoff  = 2 * time.Second
	// maxMaxAttempts and maxMaxBackoff bound what a URL may ask for.
	maxMaxAttempts = 20
	maxMaxBackoff  = time.Minute
	// minPartSize is S3's lower limit for every part but the last.
	minPartSize = 5 << 20
	// maxParts is S3's limit on the number of parts of one upload.
	maxParts = 10000
	// failTimeout bounds the clean-up (AbortMultipartUpload) of a failed upload. It runs
	// on a fresh context, so that an upload whose own context was cancelled still
	// leaves no parts behind.
	failTimeout = 30 * time.Second
	// responseHeaderTimeout bounds the wait for a response once a request has been sent,
	// so that a server that hangs (rather than refusing connections) surfaces as a
	// retryable error instead of blocking forever.
	responseHeaderTimeout = 2 * time.Minute
)

// Config configures a Driver. Only Bucket is required.
type Config struct {
	// Bucket is the bucket that holds the objects. It must exist.
	Bucket string
	// Prefix, when not empty, is a folder inside the bucket under which every key is
	// stored ("lectern" stores key "a/b" as object "lectern/a/b").
	Prefix string
	// Region is the bucket's region. Empty: from the AWS configuration chain, or
	// "us-east-1" when the chain has none (what MinIO and most third-party servers
	// expect).
	Region string
	// Endpoint is the server's base URL (http://127.0.0.1:9000) for S3-compatible
	// servers; empty for AWS.
	Endpoint string
	// UsePathStyle addresses the bucket in the path rather than in the host name, as
	// MinIO and most third-party servers need.
	UsePathStyle bool
	// Profile selects a profile of the shared AWS configuration files.
	Profile string
	// AccessKeyID and SecretAccessKey (and SessionToken) are static credentials. When
	// empty, credentials come from the standard AWS chain: environment variables,
	// shared configuration and credential files, web identity, container and instance
	// roles.
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	// PartSize is the multipart part size (default DefaultPartSize, at least 5 MiB).
	PartSize int64
	// Concurrency is the number of parts of one upload sent at once (default
	// DefaultConcurrency).
	Concurrency int
	// MaxAttempts is the number of attempts per request, first included, for
	// throttling, 5xx and connection errors (default DefaultMaxAttempts).
	MaxAttempts int
	// MaxBackoff caps the exponential backoff between attempts (default
	// DefaultMaxBackoff).
	MaxBackoff time.Duration

	// wrapHTTPClient, when set (by this package's tests only), wraps the HTTP client
	// every request goes through, to see what the SDK sends.
	wrapHTTPClient func(aws.HTTPClient) aws.HTTPClient
}

func (c *Config) setDefaults() error {
	if c.Bucket == "" {
		return fmt.Errorf("no bucket")
	}
	c.Prefix = strings.Trim(c.Prefix, "/")
	if c.Prefix != "" {
		if err := storage.ValidateKey(c.Prefix); err != nil {
			return fmt.Errorf("prefix: %w", err)
		}
		c.Prefix += "/"
	}
	if (c.AccessKeyID == "") != (c.SecretAccessKey == "") {
		return fmt.Errorf("static credentials need both an access key id and a secret access key")
	}
	if c.PartSize == 0 {
		c.PartSize = DefaultPartSize
	}
	if c.PartSize < minPartSize {
		return fmt.Errorf("part size %d is below S3's minimum of %d bytes", c.PartSize, minPartSize)
	}
	if c.Concurrency <= 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = DefaultMaxBackoff
	}
	return nil
}

// New returns a driver for the bucket described by cfg. It loads the AWS
// configuration but does not contact the server.
func New(ctx context.Context, cfg Config) (*Driver, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, storage.NewError(storage.ErrInvalidArgument, "open", "", fmt.Errorf("s3: %w", err))
	}

	// The SDK's buildable client (so that the chain can still add a custom CA bundle),
	// with a response header timeout and a larger idle pool for many concurrent
	// readers. It is frozen after loading so that Close can release its connections.
	httpClient := awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		tr.ResponseHeaderTimeout = responseHeaderTimeout
		tr.MaxIdleConns = 256
		tr.MaxIdleConnsPerHost = 128
	})

	opts := []func(*config.LoadOptions) error{
		config.WithHTTPClient(httpClient),
		// Third-party S3 servers (MinIO among them) do not all accept the flexible
		// checksums that newer SDKs send by default; only send or check them where an
		// operation requires it.
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = cfg.MaxAttempts
				o.MaxBackoff = cfg.MaxBackoff
				// The standard retryer's client-side token bucket would, after a long
				// outage, refuse retries for a while even once the server is back:
				// the same driver must recover as soon as the server does.
				o.RateLimiter = ratelimit.None
			})
		}),
	}
	if cfg.Region != "" {
		opts = append(opts, config.WithRegion(cfg.Region))
	}
	if cfg.Profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(cfg.Profile))
	}
	if cfg.AccessKeyID != "" {
		opts = append(opts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, cfg.SessionToken)))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, storage.NewError(storage.ErrInvalidArgument, "open", "", fmt.Errorf("s3: loading the AWS configuration: %w", err))
	}
	if awsCfg.Region == "" {
		awsCfg.Region = "us-east-1"
	}
	var idle idleCloser
	if bc, ok := awsCfg.HTTPClient.(*awshttp.BuildableClient); ok {
		frozen := bc.Freeze()
		awsCfg.HTTPClient = frozen
		idle, _ = frozen.(idleCloser)
	}
	if cfg.wrapHTTPClient != nil {
		awsCfg.HTTPClient = cfg.wrapHTTPClient(awsCfg.HTTPClient)
	}

	client := s3api.NewFromConfig(awsCfg, func(o *s3api.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = cfg.UsePathStyle
	})

	// The transfer helper: feature/s3/transfermanager v0.5.4, the successor of the
	// deprecated feature/s3/manager. v0.5.4 is the release built against exactly the
	// SDK versions pinned in go.mod (core v1.47.7, service/s3 v1.114.8), and it has what
	// this driver needs that manager lacks: FailTimeout, which aborts a failed or
	// cancelled multipart upload on a fresh context (manager aborts on the caller's
	// context, so a cancelled upload left its parts behind), and If-Match /
	// If-None-Match passed through to CompleteMultipartUpload.
	uploader := transfermanager.New(client, func(o *transfermanager.Options) {
		o.PartSizeBytes = cfg.PartSize
		// Objects smaller than one part go up as a single PutObject.
		o.MultipartUploadThreshold = cfg.PartSize
		o.Concurrency = cfg.Concurrency
		o.FailTimeout = failTimeout
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
	})

	return &Driver{
		client:   client,
		uploader: uploader,
		idle:     idle,
		bucket:   cfg.Bucket,
		prefix:   cfg.Prefix,
		partSize: cfg.PartSize,
	}, nil
}

// idleCloser is the part of *http.Client that Close uses.
type idleCloser interface{ CloseIdleConnections() }

// OpenURL opens s3://bucket/prefix?endpoint=URL&region=NAME&path_style=true&profile=NAME
// &max_attempts=N&max_backoff=DURATION. Every query parameter is optional.
// Credentials never go in the URL (URLs end up in logs and process listings): they
// come from the standard AWS chain, for instance the AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY environment variables.
func OpenURL(ctx context.Context, u *url.URL) (*Driver, error) {
	bad := func(format string, args ...any) error {
		return storage.NewError(storage.ErrInvalidArgument, "open", "", fmt.Errorf("s3 URL: "+format, args...))
	}
	if u.Scheme != "s3" {
		return nil, bad("scheme is %q, want s3", u.Scheme)
	}
	if u.User != nil {
		return nil, bad("credentials in the URL are refused; use the AWS environment variables or shared configuration")
	}
	if u.Host == "" {
		return nil, bad("no bucket (want s3://bucket/prefix)")
	}
	cfg := Config{Bucket: u.Host, Prefix: u.Path}
	query, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		// u.Query() would drop the pair silently (an endpoint lost to a typo sends
		// the requests to AWS), and the parser's error would quote the value.
		return nil, bad("the query does not parse (percent-encode '%%', '&' and '=' in values)")
	}
	for name, values := range query {
		if len(values) != 1 {
			return nil, bad("parameter %q given %d times", name, len(values))
		}
		v := values[0]
		switch name {
		case "endpoint":
			// The endpoint is quoted back only redacted: it may carry credentials.
			e, err := url.Parse(v)
			switch {
			case err != nil:
				return nil, bad("endpoint does not parse as a URL")
			case e.User != nil:
				return nil, bad("endpoint %q: credentials in the URL are refused; use the AWS environment variables or shared configuration", e.Redacted())
			case (e.Scheme != "http" && e.Scheme != "https") || e.Host == "":
				return nil, bad("endpoint %q is not an http(s) URL", e.Redacted())
			}
			cfg.Endpoint = v
		case "region":
			cfg.Region = v
		case "path_style":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, bad("path_style %q is not a boolean", v)
			}
			cfg.UsePathStyle = b
		case "profile":
			cfg.Profile = v
		case "max_attempts":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > maxMaxAttempts {
				return nil, bad("max_attempts %q is not a number from 1 to %d", v, maxMaxAttempts)
			}
			cfg.MaxAttempts = n
		case "max_backoff":
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 || d > maxMaxBackoff {
				return nil, bad("max_backoff %q is not a duration over 0 and up to %s", v, maxMaxBackoff)
			}
			cfg.MaxBackoff = d
		default:
			return nil, bad("unknown parameter %q (known: endpoint, region, path_style, profile, max_attempts, max_backoff)", name)
		}
	}
	return New(ctx, cfg)
}
