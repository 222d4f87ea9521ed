package tasks

import "testing"

// The fast way for canonical payloads (decodeCanonical) must decide as the strict way does:
// the same payload and the same errors for every input, canonical or not. The seeds run in
// every `go test`; `go test -fuzz FuzzDecodeCanonical ./tasks` searches further.
func FuzzDecodeCanonical(f *testing.F) {
	for _, seed := range []string{
		// Canonical, as the constructors write them: the fast way.
		`{"account":"default","orderNumber":1234567,"product":341,"action":"CANCELLICENCE"}`,
		`{"account":"eu","orderNumber":7,"product":700,"codeGuardUserName":"jane","codeGuardUserEmail":"jane@example.com"}`,
		`{"account":"default","orderNumber":"1234567","action":"ScheduledCallback","phoneNumber":"+44 20 7946 0958","preferredTimeUTC":"2024-02-02 13:03","comments":"\u003cb\u003e"}`,
		// Canonical in form, failing validation.
		`{"account":"default","orderNumber":0,"product":1,"action":"CANCEL"}`,
		`{"account":"default","orderNumber":"","action":""}`,
		// Not canonical: each must go the strict way.
		`{"account":"default","orderNumber":1234567,"product":341,"action":"CANCELLICENCE","action":"CANCELLICENCE"}`,
		`{"Account":"default","orderNumber":1234567,"product":341,"action":"CANCELLICENCE"}`,
		`{"orderNumber":1234567,"product":341,"action":"CANCELLICENCE"}`,
		`{"account":"default","orderNumber":"1234567","product":"341","action":"CANCELLICENCE"}`,
		`{"account":"default","orderNumber":1234567,"product":341,"action":"CANCELLICENCE","loginPassword":"x"}`,
		`{"account":"default","orderNumber":1234567,"product":341,"action":"CANCELLICENCE"} `,
		`{"account":"default","orderNumber":1234567,"product":341,"action":"CANCELLICENCE"}{}`,
		`{"account":"default","orderNumber":1234567,"product":341,"action":null}`,
		`{"account":"default","orderNumber":"1","action":"sendCallbackEmail","orderNumber":"2"}`,
		`{"account":"default","orderNumber":1,"action":"sendCallbackEmail"}`,
		`{"account":"default","orderNumber":"\ud800","action":"sendCallbackEmail"}`,
		`[]`, `null`, `"x"`, ``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var strictL LicencePayload
		errL := decodeAndValidate(data, strictL.fields(), func() error { return strictL.Validate() })
		gotL, gotErrL := DecodeLicence(data)
		if gotL != strictL || !sameError(gotErrL, errL) {
			t.Errorf("DecodeLicence(%q) = %+v, %v; the strict way gives %+v, %v", data, gotL, gotErrL, strictL, errL)
		}
		var strictC OVCallbackPayload
		errC := decodeAndValidate(data, strictC.fields(), func() error { return strictC.Validate() })
		gotC, gotErrC := DecodeOVCallback(data)
		if gotC != strictC || !sameError(gotErrC, errC) {
			t.Errorf("DecodeOVCallback(%q) = %+v, %v; the strict way gives %+v, %v", data, gotC, gotErrC, strictC, errC)
		}
	})
}

// sameError: both nil, or the same text and the same list of joined errors.
func sameError(a, b error) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	ja, oka := a.(interface{ Unwrap() []error })
	jb, okb := b.(interface{ Unwrap() []error })
	if oka != okb || oka && len(ja.Unwrap()) != len(jb.Unwrap()) {
		return false
	}
	return a.Error() == b.Error()
}

// The payloads the constructors write take the fast way: that is what the worker reads. The
// strict way, member by member, costs several times the allocations.
func TestConstructorPayloadsDecodeTheFastWay(t *testing.T) {
	lt, _, err := NewLicenceTask(LicencePayload{OrderNumber: 7, Product: 700, CodeGuardUserEmail: "jane@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	var l LicencePayload
	if !decodeCanonical(lt.Payload(), &l, func() ([]byte, error) { return l.canonical() }) {
		t.Errorf("licence payload %s does not take the fast way", lt.Payload())
	}
	ct, _, err := NewOVCallbackTask(OVCallbackPayload{Account: "eu", OrderNumber: "1234567", Action: "ScheduledCallback",
		PreferredTimeUTC: "2024-02-02 13:03", Comments: "call <after> 5 & ask for \"Jane\"\nthanks"})
	if err != nil {
		t.Fatal(err)
	}
	var c OVCallbackPayload
	if !decodeCanonical(ct.Payload(), &c, func() ([]byte, error) { return c.canonical() }) {
		t.Errorf("callback payload %s does not take the fast way", ct.Payload())
	}
	// Through the decoders themselves: the fast way allocates under 20 times a payload here,
	// the strict way about 80.
	for name, decode := range map[string]func() error{
		"DecodeLicence":    func() error { _, err := DecodeLicence(lt.Payload()); return err },
		"DecodeOVCallback": func() error { _, err := DecodeOVCallback(ct.Payload()); return err },
	} {
		if err := decode(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if n := testing.AllocsPerRun(20, func() { _ = decode() }); n > 40 {
			t.Errorf("%s allocates %.0f times a payload; the fast way takes under 40", name, n)
		}
	}
}
