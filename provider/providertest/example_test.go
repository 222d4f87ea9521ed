package providertest_test

import (
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/ovqueue/ovqueue/provider/providertest"
)

// A test starts the fake, scripts a transient failure for one order, and
// checks what its client sent.
func ExampleStart() {
	srv, err := providertest.Start()
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	srv.Script("12345", providertest.Err(providertest.CodeUnknownError, ""))

	form := url.Values{
		"loginName":     {providertest.DefaultLoginName},
		"loginPassword": {providertest.DefaultLoginPassword},
		"orderNumber":   {"12345"},
		"product":       {"1060"},
		"action":        {"CANCELLICENCE"},
	}
	for range 3 {
		resp, err := srv.Client().Post(srv.URL+"!modifyThirdPartyDetails",
			"application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
		if err != nil {
			panic(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(string(body))
	}
	fmt.Println(len(srv.CallsFor("12345")), "calls")
	// Output:
	// errorCode=-14&errorMessage=An+unknown+error+occurred%21
	// errorCode=0
	// errorCode=-20&errorMessage=Order+already+cancelled
	// 3 calls
}
