// Package storepb holds the generated protobuf and gRPC code of the plugin
// wire protocol. It is internal: the public API of package sdk never exposes
// these types.
//
// The generated files are checked in. Regenerate them with
//
//	go generate ./sdk/internal/storepb
//
// which needs protoc (Debian: protobuf-compiler) and the pinned generators
// that scripts/install-protoc-gen.sh installs into .tools/bin;
// TestGeneratedCodeIsFresh fails when the checked-in code is stale.
package storepb

//go:generate sh -c "PATH=$(cd ../../.. && pwd)/.tools/bin:$PATH protoc --proto_path=. --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative store.proto"
