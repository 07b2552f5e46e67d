package faults

import (
	"testing"
	"time"
)

func TestParseSlow(t *testing.T) {
	if s, err := ParseSlow(""); s != nil || err != nil {
		t.Errorf(`ParseSlow("") = %v, %v; want no fault`, s, err)
	}
	s, err := ParseSlow("LoadDdsVault:8s")
	if err != nil || s == nil || s.Activity != "LoadDdsVault" || s.Delay != 8*time.Second {
		t.Errorf(`ParseSlow("LoadDdsVault:8s") = %+v, %v`, s, err)
	}
	for _, bad := range []string{"LoadDdsVault", "LoadDdsVault:", ":8s", "LoadDdsVault:soon", "LoadDdsVault:0s", "LoadDdsVault:-1s"} {
		if s, err := ParseSlow(bad); err == nil {
			t.Errorf("ParseSlow(%q) = %+v, want an error", bad, s)
		}
	}
}
