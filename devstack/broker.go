// Package devstack runs the pieces of orderflow's local stack that are not
// PostgreSQL or Redis: an in-process Kafka broker (kfake) that can persist to
// a data folder, and the Temporal development server (the Temporal CLI's
// `server start-dev`) as a child process. `orderflow dev` (make run) and the
// integration tests (internal/testenv) both use it.
package devstack

import (
	"errors"
	"fmt"
	"net"
	"os"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
)

// BrokerOptions configures StartBroker.
type BrokerOptions struct {
	// Addr is the host:port the broker listens on and advertises to
	// clients, e.g. 127.0.0.1:9092. Port 0 picks a free port; "" means
	// 127.0.0.1:0. The host must be a concrete address (not 0.0.0.0 or ::)
	// because kfake advertises the address it listens on.
	Addr string
	// DataDir is the folder the broker persists its state to and reloads
	// it from on the next start; "" keeps everything in memory.
	DataDir string
	// Partitions is the partition count of topics this start creates;
	// values below 1 mean 1. Topics that already exist keep their count.
	Partitions int
	// Topics are created if they do not exist yet (also after a restart
	// on an existing DataDir).
	Topics []string
	// SyncWrites fsyncs every produced batch. Without it, like Kafka's
	// default, batches still in the page cache can be lost on a crash.
	SyncWrites bool
}

// StartBroker starts a single-broker kfake cluster listening on o.Addr with
// o.Topics. The caller owns the cluster and must Close it; Close also writes
// the final state to o.DataDir. ListenAddrs on the result gives the seed
// broker address ("127.0.0.1:<port>", with the real port when o.Addr asked
// for port 0).
func StartBroker(o BrokerOptions) (*kfake.Cluster, error) {
	addr, err := brokerAddr(o.Addr)
	if err != nil {
		return nil, err
	}
	partitions := o.Partitions
	if partitions < 1 {
		partitions = 1
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		// kfake always asks for 127.0.0.1:<port>; listen where we were told.
		kfake.ListenFn(func(network, _ string) (net.Listener, error) {
			ln, err := net.Listen(network, addr)
			if err != nil {
				return nil, fmt.Errorf("kafka broker: listen on %s (is another broker running?): %w", addr, err)
			}
			return ln, nil
		}),
	}
	if len(o.Topics) > 0 {
		opts = append(opts, kfake.SeedTopics(int32(partitions), o.Topics...))
	}
	if o.DataDir != "" {
		if err := os.MkdirAll(o.DataDir, 0o755); err != nil {
			return nil, fmt.Errorf("kafka broker: data folder: %w", err)
		}
		opts = append(opts, kfake.DataDir(o.DataDir))
	}
	if o.SyncWrites {
		opts = append(opts, kfake.SyncWrites())
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		if o.DataDir != "" {
			return nil, fmt.Errorf("kafka broker (data folder %s): %w", o.DataDir, err)
		}
		return nil, fmt.Errorf("kafka broker: %w", err)
	}
	// kfake only seeds topics into an empty data folder; state reloaded
	// from disk keeps its topics, so create the ones that are missing.
	for _, topic := range o.Topics {
		if c.TopicInfo(topic) != nil {
			continue
		}
		if err := c.CreateTopic(topic, int32(partitions), nil); err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			c.Close()
			return nil, fmt.Errorf("kafka broker: create topic %s: %w", topic, err)
		}
	}
	return c, nil
}

func brokerAddr(addr string) (string, error) {
	if addr == "" {
		return "127.0.0.1:0", nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("kafka broker: address %q is not host:port: %w", addr, err)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		return "", fmt.Errorf("kafka broker: address %q: listen on a concrete address such as 127.0.0.1 (the broker advertises the address it listens on)", addr)
	}
	return net.JoinHostPort(host, port), nil
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
