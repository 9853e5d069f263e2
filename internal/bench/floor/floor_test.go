package floor

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestParseFloorSetup(t *testing.T) {
	cert, key, err := selfSignedCert()
	if err != nil {
		t.Fatal(err)
	}
	good, _ := json.Marshal(floorSetup{Dir: "/tmp/x", ServerCert: cert, ServerKey: key, ClientCert: cert})
	if _, _, _, err := parseFloorSetup(good); err != nil {
		t.Fatalf("good setup: %v", err)
	}
	for name, c := range map[string]struct {
		s    floorSetup
		want string
	}{
		"relative dir":    {floorSetup{Dir: "x", ServerCert: cert, ServerKey: key, ClientCert: cert}, `"dir"`},
		"bad key":         {floorSetup{Dir: "/tmp/x", ServerCert: cert, ServerKey: []byte("nope"), ClientCert: cert}, `"server_key"`},
		"no client":       {floorSetup{Dir: "/tmp/x", ServerCert: cert, ServerKey: key}, `"client_cert"`},
		"raw, no backend": {floorSetup{Dir: "/tmp/x", ServerCert: cert, ServerKey: key, ClientCert: cert, Raw: &RawConfig{}}, `"raw"`},
	} {
		b, _ := json.Marshal(c.s)
		if _, _, _, err := parseFloorSetup(b); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err %v, want one naming %s", name, err, c.want)
		}
	}
}

// FuzzParseFloorSetup: any setup line is an error or a usable setup, never a
// panic.
func FuzzParseFloorSetup(f *testing.F) {
	cert, key, err := selfSignedCert()
	if err != nil {
		f.Fatal(err)
	}
	good, _ := json.Marshal(floorSetup{Dir: "/tmp/x", ServerCert: cert, ServerKey: key, ClientCert: cert})
	f.Add(good)
	f.Add([]byte(`{"dir":"/tmp"}`))
	f.Add([]byte(`{`))
	f.Fuzz(func(t *testing.T, line []byte) {
		s, _, pool, err := parseFloorSetup(line)
		if err == nil && (pool == nil || s.Dir == "") {
			t.Fatalf("accepted an incomplete setup: %+v", s)
		}
	})
}
