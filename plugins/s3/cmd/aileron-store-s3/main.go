// Command aileron-store-s3 is the S3 storage plugin of aileron-store (AWS S3
// and S3-compatible servers such as MinIO and versitygw). The host starts it;
// it is not meant to be run by hand. See package
// github.com/ALRubinger/aileron-store/plugins/s3 for its configuration.
package main

import (
	"github.com/ALRubinger/aileron-store/plugins/s3"
	"github.com/ALRubinger/aileron-store/sdk"
)

func main() { sdk.Serve(s3.New, nil) }
