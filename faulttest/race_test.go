//go:build race

package faulttest

// raceBuild reports that the tests run under the race detector; the binaries under test are
// then built with it too, so a race in a crash, reconnect or shutdown path fails the test.
const raceBuild = true
