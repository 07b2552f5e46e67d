package workers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/config"
	"github.com/orderflow/orderflow/internal/testenv"
)

// TestRedisAuth connects with a username and password (an ACL user made for
// the test on the local server) and shows a wrong password is a clear error
// that does not print the password.
func TestRedisAuth(t *testing.T) {
	ctx := context.Background()
	admin := testenv.Redis(t)
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	user, password := "orderflow_test_"+hex.EncodeToString(b[:4]), "pw-"+hex.EncodeToString(b[4:])
	if err := admin.Do(ctx, "ACL", "SETUSER", user, "on", ">"+password, "~*", "&*", "+@all").Err(); err != nil {
		t.Fatalf("create ACL user: %v", err)
	}
	t.Cleanup(func() { admin.Do(context.Background(), "ACL", "DELUSER", user) })

	cfg := config.Redis{Addr: admin.Options().Addr, Username: user, Password: password}
	rdb, err := OpenRedis(ctx, cfg)
	if err != nil {
		t.Fatalf("AUTH with the right password: %v", err)
	}
	who, err := rdb.Do(ctx, "ACL", "WHOAMI").Text()
	_ = rdb.Close()
	if err != nil || who != user {
		t.Fatalf("connected as %q (err %v), want %q", who, err, user)
	}

	cfg.Password = "wrong-" + password
	_, err = OpenRedis(ctx, cfg)
	if err == nil {
		t.Fatal("AUTH with a wrong password succeeded")
	}
	if !strings.Contains(err.Error(), cfg.Addr) || strings.Contains(err.Error(), cfg.Password) {
		t.Fatalf("error %q: want the address and not the password", err)
	}
}
