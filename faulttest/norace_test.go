//go:build !race

package faulttest

// raceBuild reports that the tests run under the race detector; see race_test.go.
const raceBuild = false
