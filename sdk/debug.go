package sdk

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"
)

// serveDebug serves without a host and prints the reattach line on stdout.
func serveDebug(cfg *plugin.ServeConfig, logger hclog.Logger) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ch := make(chan *plugin.ReattachConfig, 1)
	closed := make(chan struct{})
	if os.Getenv("PLUGIN_PROTOCOL_VERSIONS") == "" {
		// No host offered versions: serve the newest, not go-plugin's
		// fallback to the oldest.
		os.Setenv("PLUGIN_PROTOCOL_VERSIONS", strconv.Itoa(ProtocolVersion))
	}
	cfg.Test = &plugin.ServeTestConfig{Context: ctx, ReattachConfigCh: ch, CloseCh: closed}
	go plugin.Serve(cfg)
	select {
	case rc := <-ch:
		line, _ := json.Marshal(reattachJSON{Protocol: "grpc", ProtocolVersion: rc.ProtocolVersion,
			Network: rc.Addr.Network(), Addr: rc.Addr.String(), Pid: rc.Pid})
		fmt.Println(string(line))
		logger.Info("plugin serving in debug mode; give the line above to the host as AILERON_STORE_REATTACH")
	case <-closed:
		return
	}
	<-closed
}
