package faults

import "testing"

func TestParsePoison(t *testing.T) {
	p, err := ParsePoison("LoadStg:2:41")
	if err != nil || p == nil || *p != (Poison{Activity: "LoadStg", Partition: 2, Offset: 41}) {
		t.Fatalf("got %+v, %v", p, err)
	}
	if p, err := ParsePoison(""); p != nil || err != nil {
		t.Fatalf("empty: got %+v, %v; want no fault", p, err)
	}
	for _, bad := range []string{"LoadStg", "LoadStg:x:1", ":1:2", "LoadStg:1:2:3", "LoadStage:1:2"} {
		if _, err := ParsePoison(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
