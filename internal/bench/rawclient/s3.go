package rawclient

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/ALRubinger/aileron-store/internal/bench"
)

// rawS3 is aws-sdk-go-v2 used directly: plain GetObject, PutObject,
// ListObjectsV2.
type rawS3 struct {
	c      *s3.Client
	bucket string
	prefix string
}

func openRawS3(ctx context.Context, cfg map[string]string) (bench.Raw, error) {
	if cfg["bucket"] == "" {
		return nil, fmt.Errorf("s3 baseline: config field \"bucket\" is required")
	}
	region := cfg["region"]
	if region == "" {
		region = "us-east-1"
	}
	opts := []func(*config.LoadOptions) error{config.WithRegion(region)}
	if cfg["access_key_id"] != "" {
		opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(cfg["access_key_id"], cfg["secret_access_key"], "")))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("s3 baseline: %w", err)
	}
	c := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if ep := cfg["endpoint"]; ep != "" {
			o.BaseEndpoint = aws.String(ep)
		}
		o.UsePathStyle = cfg["path_style"] == "true"
	})
	p := strings.TrimSuffix(cfg["prefix"], "/")
	if p != "" {
		p += "/"
	}
	return &rawS3{c: c, bucket: cfg["bucket"], prefix: p}, nil
}

func (r *rawS3) Name() string { return "aws-sdk-go-v2 S3" }

func (r *rawS3) Get(ctx context.Context, key string) ([]byte, error) {
	out, err := r.c.GetObject(ctx, &s3.GetObjectInput{Bucket: &r.bucket, Key: aws.String(r.prefix + key)})
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	return io.ReadAll(out.Body)
}

func (r *rawS3) Put(ctx context.Context, key string, value []byte) error {
	_, err := r.c.PutObject(ctx, &s3.PutObjectInput{Bucket: &r.bucket, Key: aws.String(r.prefix + key), Body: bytes.NewReader(value)})
	return err
}

func (r *rawS3) Delete(ctx context.Context, key string) error {
	_, err := r.c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &r.bucket, Key: aws.String(r.prefix + key)})
	return err
}

func (r *rawS3) keys(ctx context.Context, prefix string) ([]string, error) {
	var keys []string
	p := s3.NewListObjectsV2Paginator(r.c, &s3.ListObjectsV2Input{Bucket: &r.bucket, Prefix: aws.String(r.prefix + prefix + "/")})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, o := range page.Contents {
			keys = append(keys, strings.TrimPrefix(aws.ToString(o.Key), r.prefix))
		}
	}
	return keys, nil
}

func (r *rawS3) List(ctx context.Context, prefix string) (int, error) {
	keys, err := r.keys(ctx, prefix)
	if err != nil {
		return 0, err
	}
	return len(keys), forEach(ctx, keys, func(ctx context.Context, key string) error {
		_, err := r.Get(ctx, key)
		return err
	})
}

func (r *rawS3) Cleanup(ctx context.Context, prefix string) error {
	keys, err := r.keys(ctx, prefix)
	if err != nil {
		return err
	}
	for len(keys) > 0 {
		n := min(len(keys), 1000)
		objs := make([]types.ObjectIdentifier, n)
		for i, k := range keys[:n] {
			objs[i] = types.ObjectIdentifier{Key: aws.String(r.prefix + k)}
		}
		if _, err := r.c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: &r.bucket, Delete: &types.Delete{Objects: objs}}); err != nil {
			// Some S3-compatible servers lack DeleteObjects: fall back.
			for _, k := range keys[:n] {
				if _, err := r.c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &r.bucket, Key: aws.String(r.prefix + k)}); err != nil {
					return err
				}
			}
		}
		keys = keys[n:]
	}
	return nil
}

func (r *rawS3) Close() error { return nil }
